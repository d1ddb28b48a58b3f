import type { ShipmentDispatchedData } from '../../fulfillment/messages.ts';
import type { CustomerNotifiedData, VendorNotifiedData } from '../messages.ts';

/**
 * What the notifications context remembers of an order, in the stream `notification-<orderId>`:
 * which notifications were sent (one CustomerNotified or VendorNotified per notification id, so that
 * a message handled again sends nothing twice), and the customer's address, which the later
 * shipment e-mails need (ShipmentDispatched does not name the customer).
 *
 * A dispatch that arrives before the order's confirmation (they travel through different streams,
 * so in the distributed mode it can overtake it) has no address yet: it is kept as
 * ShipmentEmailDeferred and sent right after the confirmation e-mail.
 */

export const CUSTOMER_NOTIFIED = 'CustomerNotified';
export const VENDOR_NOTIFIED = 'VendorNotified';
export const SHIPMENT_EMAIL_DEFERRED = 'ShipmentEmailDeferred';

/** A shipment e-mail waiting for the customer's address, with the time of its dispatch. */
export interface ShipmentEmailDeferredData {
  shipment: ShipmentDispatchedData;
  occurredAt: string;
}

export type NotificationEvent =
  | { type: typeof CUSTOMER_NOTIFIED; data: CustomerNotifiedData }
  | { type: typeof VENDOR_NOTIFIED; data: VendorNotifiedData }
  | { type: typeof SHIPMENT_EMAIL_DEFERRED; data: ShipmentEmailDeferredData };

export interface NotificationState {
  readonly sent: ReadonlySet<string>;
  /** The address the order's e-mails went to. */
  readonly recipient?: string;
  /** Shipment e-mails that arrived before the address, in arrival order. */
  readonly deferred: readonly ShipmentEmailDeferredData[];
}

export const INITIAL_NOTIFICATION_STATE: NotificationState = Object.freeze({
  sent: new Set<string>(),
  deferred: [],
});

export function notificationStreamId(orderId: string): string {
  return `notification-${orderId}`;
}

/** Event (and published message) ids: one per notification. */
export const customerNotifiedId = (notificationId: string): string => `${notificationId}:CustomerNotified`;
export const vendorNotifiedId = (notificationId: string): string => `${notificationId}:VendorNotified`;
export const shipmentEmailDeferredId = (shipmentId: string): string => `${shipmentId}:ShipmentEmailDeferred`;

/** Folds one event in; never mutates the state given (the loader caches it). */
export function evolveNotification(
  state: NotificationState,
  event: { type: string; data: unknown },
): NotificationState {
  const recorded = event as NotificationEvent;
  switch (recorded.type) {
    case CUSTOMER_NOTIFIED:
      return {
        ...state,
        sent: new Set(state.sent).add(recorded.data.notificationId),
        recipient: recorded.data.to,
      };
    case VENDOR_NOTIFIED:
      return { ...state, sent: new Set(state.sent).add(recorded.data.notificationId) };
    case SHIPMENT_EMAIL_DEFERRED:
      return { ...state, deferred: [...state.deferred, recorded.data] };
    default:
      return state;
  }
}
