import type { CustomerNotifiedData, VendorNotifiedData } from './messages.ts';

/**
 * What the notifications context remembers of an order, in the stream `notification-<orderId>`:
 * which notifications were sent (one CustomerNotified or VendorNotified per notification id, so that
 * a message handled again sends nothing twice), and the customer's address, which the later
 * shipment e-mails need (ShipmentDispatched does not name the customer).
 */

export const CUSTOMER_NOTIFIED = 'CustomerNotified';
export const VENDOR_NOTIFIED = 'VendorNotified';

export type NotificationEvent =
  | { type: typeof CUSTOMER_NOTIFIED; data: CustomerNotifiedData }
  | { type: typeof VENDOR_NOTIFIED; data: VendorNotifiedData };

export interface NotificationState {
  readonly sent: ReadonlySet<string>;
  /** The address the order's e-mails went to. */
  readonly recipient?: string;
}

export const INITIAL_NOTIFICATION_STATE: NotificationState = Object.freeze({ sent: new Set<string>() });

export function notificationStreamId(orderId: string): string {
  return `notification-${orderId}`;
}

/** Event (and published message) ids: one per notification. */
export const customerNotifiedId = (notificationId: string): string => `${notificationId}:CustomerNotified`;
export const vendorNotifiedId = (notificationId: string): string => `${notificationId}:VendorNotified`;

/** Folds one event in; never mutates the state given (the loader caches it). */
export function evolveNotification(
  state: NotificationState,
  event: { type: string; data: unknown },
): NotificationState {
  const recorded = event as NotificationEvent;
  switch (recorded.type) {
    case CUSTOMER_NOTIFIED:
      return {
        sent: new Set(state.sent).add(recorded.data.notificationId),
        recipient: recorded.data.to,
      };
    case VENDOR_NOTIFIED:
      return { ...state, sent: new Set(state.sent).add(recorded.data.notificationId) };
    default:
      return state;
  }
}
