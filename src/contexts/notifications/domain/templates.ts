import { currencyExponent, toMajorUnits } from '../../../kernel/money.ts';

/**
 * Customer e-mails, rendered purely from the event that triggers them: a short plain-text part and
 * the same in HTML. Every e-mail has a deterministic notification id, `<orderId>:<template>` (a
 * shipment's adds `:<vendorId>:<warehouseId>`, since an order may ship in several parcels), which
 * names its file in the mail drop and makes its Message-ID, so that sending it again replaces it
 * (mail drop) or can be recognised as the same e-mail (a real mail system).
 *
 * The demo has no customer directory: the address is made from the customer id,
 * `<customerId>@customers.orderflow.example`.
 */

/** The parts of the orders context's lifecycle events that e-mails show (its published contract). */
export interface OrderLineView {
  sku: string;
  name: string;
  quantity: number;
  unitPrice: number;
  lineTotal: number;
  vendorId: string;
}
export interface OrderConfirmedView {
  orderId: string;
  customerId: string;
  region: string;
  total: number;
  currency: string;
  items: readonly OrderLineView[];
}
export interface OrderEndedView {
  orderId: string;
  customerId: string;
  reason: string;
  detail: string;
}
export interface OrderDeliveredView {
  orderId: string;
  customerId: string;
}
export interface ShipmentDispatchedView {
  orderId: string;
  shipmentId: string;
  vendorId: string;
  warehouseId: string;
  carrier: string;
  trackingNumber: string;
}

export const TEMPLATES = [
  'order_confirmed',
  'order_rejected',
  'order_cancelled',
  'shipment_dispatched',
  'order_delivered',
] as const;
export type Template = (typeof TEMPLATES)[number];

export const CUSTOMER_MAIL_DOMAIN = 'customers.orderflow.example';
export const MESSAGE_ID_DOMAIN = 'notifications.orderflow.example';

export interface CustomerEmail {
  readonly notificationId: string;
  readonly template: Template;
  readonly orderId: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** `<…@notifications.orderflow.example>`, derived from the notification id. */
  readonly messageId: string;
  /** When the fact happened: the e-mail's Date header. */
  readonly date: string;
}

/** `<customerId>@customers.orderflow.example`, the customer id reduced to what an address's local part allows. */
export function customerAddress(customerId: string): string {
  const local = customerId
    .replace(/[^A-Za-z0-9._+-]/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^\.+|\.+$/g, '')
    .slice(0, 64);
  return `${local === '' ? 'customer' : local}@${CUSTOMER_MAIL_DOMAIN}`;
}

/** A notification id as a file name (and Message-ID local part): anything but `[A-Za-z0-9._-]` becomes `_`. */
export function fileSafe(notificationId: string): string {
  return notificationId.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function messageIdOf(notificationId: string): string {
  return `<${fileSafe(notificationId)}@${MESSAGE_ID_DOMAIN}>`;
}

export function customerNotificationId(orderId: string, template: Template, ...qualifiers: string[]): string {
  return [orderId, template, ...qualifiers].join(':');
}

function formatMoney(minor: number, currency: string): string {
  return `${toMajorUnits(minor, currency).toFixed(currencyExponent(currency))} ${currency}`;
}

const REASONS: Readonly<Record<string, string>> = {
  out_of_stock: 'some items are out of stock',
  payment_declined: 'the payment was declined',
  fraud_suspected: 'the payment could not be verified',
  fulfillment_failed: 'the order could not be prepared for shipping',
  customer_request: 'you asked us to cancel it',
  timeout: 'it could not be completed in time',
};

function reasonText(reason: string): string {
  return REASONS[reason] ?? reason;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A paragraph per entry; a nested array is a list. */
type Body = readonly (string | readonly string[])[];

function toText(greeting: string, body: Body): string {
  const parts = body.map((part) =>
    typeof part === 'string' ? part : part.map((item) => `  - ${item}`).join('\n'),
  );
  return [greeting, ...parts, 'Orderflow Marketplace'].join('\n\n') + '\n';
}

function toHtml(subject: string, greeting: string, body: Body): string {
  const parts = body.map((part) =>
    typeof part === 'string'
      ? `<p>${escapeHtml(part)}</p>`
      : `<ul>${part.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`,
  );
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>`,
    `<p>${escapeHtml(greeting)}</p>`,
    ...parts,
    '<p>Orderflow Marketplace</p>',
    '</body></html>',
    '',
  ].join('\n');
}

function email(
  template: Template,
  orderId: string,
  customerTo: string,
  occurredAt: string,
  subject: string,
  body: Body,
  qualifiers: string[] = [],
): CustomerEmail {
  const notificationId = customerNotificationId(orderId, template, ...qualifiers);
  const greeting = 'Hello,';
  return {
    notificationId,
    template,
    orderId,
    to: customerTo,
    subject,
    text: toText(greeting, body),
    html: toHtml(subject, greeting, body),
    messageId: messageIdOf(notificationId),
    date: occurredAt,
  };
}

export function orderConfirmedEmail(order: OrderConfirmedView, occurredAt: string): CustomerEmail {
  return email(
    'order_confirmed',
    order.orderId,
    customerAddress(order.customerId),
    occurredAt,
    `Your order ${order.orderId} is confirmed`,
    [
      `Thank you for your order ${order.orderId}. Status: confirmed. Your payment is authorized and the items are reserved for you:`,
      order.items.map(
        (line) =>
          `${line.quantity} × ${line.name} (${line.sku}): ${formatMoney(line.lineTotal, order.currency)}`,
      ),
      `Total: ${formatMoney(order.total, order.currency)}`,
      'We will write again when your items are on their way.',
    ],
  );
}

export function orderRejectedEmail(order: OrderEndedView, occurredAt: string): CustomerEmail {
  return email(
    'order_rejected',
    order.orderId,
    customerAddress(order.customerId),
    occurredAt,
    `Your order ${order.orderId} could not be completed`,
    [
      `We are sorry: your order ${order.orderId} could not be completed because ${reasonText(order.reason)}. Status: rejected (reason: ${order.reason}).`,
      'Nothing was charged; any amount reserved on your card is released.',
    ],
  );
}

export function orderCancelledEmail(order: OrderEndedView, occurredAt: string): CustomerEmail {
  return email(
    'order_cancelled',
    order.orderId,
    customerAddress(order.customerId),
    occurredAt,
    `Your order ${order.orderId} is cancelled`,
    [
      `Your order ${order.orderId} is cancelled because ${reasonText(order.reason)}. Status: cancelled (reason: ${order.reason}).`,
      'Nothing was charged; any amount reserved on your card is released.',
    ],
  );
}

export function orderDeliveredEmail(order: OrderDeliveredView, occurredAt: string): CustomerEmail {
  return email(
    'order_delivered',
    order.orderId,
    customerAddress(order.customerId),
    occurredAt,
    `Your order ${order.orderId} was delivered`,
    [`Every parcel of your order ${order.orderId} was delivered. Status: delivered.`, 'Enjoy your purchase!'],
  );
}

/** `to` comes from the order's earlier e-mails: the shipment does not name the customer. */
export function shipmentDispatchedEmail(
  shipment: ShipmentDispatchedView,
  to: string,
  occurredAt: string,
): CustomerEmail {
  return email(
    'shipment_dispatched',
    shipment.orderId,
    to,
    occurredAt,
    `Your order ${shipment.orderId} is on its way`,
    [
      `A parcel of your order ${shipment.orderId} left the warehouse. Status: shipped.`,
      [`Carrier: ${shipment.carrier}`, `Tracking number: ${shipment.trackingNumber}`],
    ],
    [shipment.vendorId, shipment.warehouseId],
  );
}
