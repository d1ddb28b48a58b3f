import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../../messaging/index.ts';

/** Facts the notifications context records; partitioned by order id. */

export const CustomerNotifiedData = Type.Object(
  {
    orderId: Type.String(),
    /** Deterministic per (order, template): the e-mail's Message-ID and file name. */
    notificationId: Type.String(),
    template: Type.String({ description: 'order_confirmed, order_rejected, order_cancelled, shipment_dispatched, order_delivered' }),
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
  description: 'A signed webhook reached the vendor\'s endpoint (2xx).',
});

export type CustomerNotifiedData = Static<typeof CustomerNotifiedData>;
export type VendorNotifiedData = Static<typeof VendorNotifiedData>;

export const NOTIFICATION_MESSAGES = [CustomerNotified, VendorNotified] as const;
