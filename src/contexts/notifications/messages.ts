import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../messaging/index.ts';

/** Facts the notifications context records; partitioned by order id. */

export const CustomerNotifiedData = Type.Object(
  {
    orderId: Type.String(),
    /** Deterministic per (order, template): the e-mail's Message-ID and file name. */
    notificationId: Type.String(),
    template: Type.String({
      description: 'order_confirmed, order_rejected, order_cancelled, shipment_dispatched, order_delivered',
    }),
    channel: Type.Literal('email'),
    to: Type.String(),
  },
  { additionalProperties: false },
);
export const CustomerNotified = defineMessage({
  type: 'notifications.CustomerNotified',
  kind: 'event',
  schema: CustomerNotifiedData,
  description: 'An e-mail about the order was handed to the mail transport.',
});

export const VendorNotifiedData = Type.Object(
  {
    orderId: Type.String(),
    vendorId: Type.String(),
    notificationId: Type.String(),
    event: Type.String({ description: 'The webhook event, e.g. order.confirmed' }),
    url: Type.String(),
    /** HTTP status the vendor's endpoint answered. */
    status: Type.Integer(),
    attempts: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export const VendorNotified = defineMessage({
  type: 'notifications.VendorNotified',
  kind: 'event',
  schema: VendorNotifiedData,
  description: "A signed webhook reached the vendor's endpoint (2xx).",
});

export const DeliverWebhookData = Type.Object(
  {
    orderId: Type.String(),
    vendorId: Type.String(),
    /** The webhook's `webhook-id`: `<orderId>:<event>:<vendorId>` (`:<warehouseId>` added for a shipment). */
    notificationId: Type.String(),
    event: Type.String({ description: 'The webhook event, e.g. order.confirmed' }),
    /** When the fact the webhook reports happened (RFC 3339): the payload's `timestamp`. */
    occurredAt: Type.String({ format: 'date-time' }),
    /** The payload's `data`. */
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export const DeliverWebhook = defineMessage({
  type: 'notifications.DeliverWebhook',
  kind: 'command',
  schema: DeliverWebhookData,
  description:
    "Internal to notifications: POST one signed webhook to one vendor, retried with backoff on failure, then dead-lettered. Partition key: `<orderId>:<vendorId>`, so that a failing vendor holds up neither the customer's e-mails nor other vendors.",
});

export type CustomerNotifiedData = Static<typeof CustomerNotifiedData>;
export type VendorNotifiedData = Static<typeof VendorNotifiedData>;
export type DeliverWebhookData = Static<typeof DeliverWebhookData>;

export const NOTIFICATION_MESSAGES = [CustomerNotified, VendorNotified, DeliverWebhook] as const;
