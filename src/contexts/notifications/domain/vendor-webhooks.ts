import { toMajorUnits } from '../../../kernel/money.ts';
import type { DeliverWebhookData } from '../messages.ts';
import type { OrderConfirmedView, ShipmentDispatchedView } from './templates.ts';

/**
 * Vendor webhooks. A vendor's endpoint is an event-sourced aggregate in `vendor-webhook-<vendorId>`
 * (registered, replaced, removed through the admin API); the webhooks to send for a lifecycle event
 * are planned here, purely, and delivered one message each (`notifications.DeliverWebhook`).
 */

export const VENDOR_WEBHOOK_REGISTERED = 'VendorWebhookRegistered';
export const VENDOR_WEBHOOK_REMOVED = 'VendorWebhookRemoved';

export interface VendorWebhookRegisteredData {
  vendorId: string;
  url: string;
  /** `whsec_…`: the signing secret (kept in the store; shown to the admin once, when generated). */
  secret: string;
  registeredAt: string;
}
export interface VendorWebhookRemovedData {
  vendorId: string;
  removedAt: string;
}

export type VendorWebhookEvent =
  | { type: typeof VENDOR_WEBHOOK_REGISTERED; data: VendorWebhookRegisteredData }
  | { type: typeof VENDOR_WEBHOOK_REMOVED; data: VendorWebhookRemovedData };

export interface VendorWebhookState {
  readonly endpoint?: { readonly url: string; readonly secret: string };
}

export const INITIAL_VENDOR_WEBHOOK_STATE: VendorWebhookState = Object.freeze({});

export function vendorWebhookStreamId(vendorId: string): string {
  return `vendor-webhook-${vendorId}`;
}

export function evolveVendorWebhook(
  state: VendorWebhookState,
  event: { type: string; data: unknown },
): VendorWebhookState {
  const recorded = event as VendorWebhookEvent;
  switch (recorded.type) {
    case VENDOR_WEBHOOK_REGISTERED:
      return { endpoint: { url: recorded.data.url, secret: recorded.data.secret } };
    case VENDOR_WEBHOOK_REMOVED:
      return {};
    default:
      return state;
  }
}

export const WEBHOOK_EVENTS = {
  orderConfirmed: 'order.confirmed',
  shipmentDispatched: 'shipment.dispatched',
} as const;

/** `<orderId>:<event>:<vendorId>`, plus `:<warehouseId>` for a shipment (a vendor may ship from two warehouses). */
export function webhookIdOf(
  orderId: string,
  event: string,
  vendorId: string,
  ...qualifiers: string[]
): string {
  return [orderId, event, vendorId, ...qualifiers].join(':');
}

/** The vendors of an order, in order of their first line. */
export function vendorsOf(order: Pick<OrderConfirmedView, 'items'>): string[] {
  return [...new Set(order.items.map((line) => line.vendorId))];
}

/** `order.confirmed` for one vendor: the order id, the region, that vendor's lines (amounts in major units, as in the HTTP API). */
export function orderConfirmedWebhook(
  order: OrderConfirmedView,
  vendorId: string,
  occurredAt: string,
): DeliverWebhookData {
  const event = WEBHOOK_EVENTS.orderConfirmed;
  return {
    orderId: order.orderId,
    vendorId,
    notificationId: webhookIdOf(order.orderId, event, vendorId),
    event,
    occurredAt,
    data: {
      orderId: order.orderId,
      vendorId,
      region: order.region,
      currency: order.currency,
      lines: order.items
        .filter((line) => line.vendorId === vendorId)
        .map((line) => ({
          sku: line.sku,
          name: line.name,
          quantity: line.quantity,
          unitPrice: toMajorUnits(line.unitPrice, order.currency),
          lineTotal: toMajorUnits(line.lineTotal, order.currency),
        })),
    },
  };
}

/** `shipment.dispatched` for the shipment's vendor: which shipment left, with which carrier and tracking number. */
export function shipmentDispatchedWebhook(
  shipment: ShipmentDispatchedView & { reservationIds: readonly string[] },
  occurredAt: string,
): DeliverWebhookData {
  const event = WEBHOOK_EVENTS.shipmentDispatched;
  return {
    orderId: shipment.orderId,
    vendorId: shipment.vendorId,
    notificationId: webhookIdOf(shipment.orderId, event, shipment.vendorId, shipment.warehouseId),
    event,
    occurredAt,
    data: {
      orderId: shipment.orderId,
      vendorId: shipment.vendorId,
      shipmentId: shipment.shipmentId,
      warehouseId: shipment.warehouseId,
      carrier: shipment.carrier,
      trackingNumber: shipment.trackingNumber,
      reservationIds: [...shipment.reservationIds],
    },
  };
}

/** The body POSTed: `{ type, timestamp, data }` (the Standard Webhooks payload shape), the same on every attempt. */
export function webhookBody(webhook: Pick<DeliverWebhookData, 'event' | 'occurredAt' | 'data'>): string {
  return JSON.stringify({ type: webhook.event, timestamp: webhook.occurredAt, data: webhook.data });
}
