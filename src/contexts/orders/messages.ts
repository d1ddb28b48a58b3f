import { Type, type Static } from '@sinclair/typebox';
import type { EventMetadata } from '../../event-store/index.ts';
import { defineMessage } from '../../messaging/index.ts';
import { REGIONS, type Region } from '../../kernel/region.ts';

/** Short event names, as stored in the order stream and shown in the audit trail. */
export const ORDER_PLACED = 'OrderPlaced';

/** The statuses of an order's view (DESIGN.md §4). */
export const ORDER_STATUSES = [
  'pending',
  'confirmed',
  'partially_shipped',
  'shipped',
  'delivered',
  'rejected',
  'cancelled',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const RegionSchema = Type.Unsafe<Region>({ type: 'string', enum: [...REGIONS] });

export const OrderLineSchema = Type.Object(
  {
    sku: Type.String(),
    vendorId: Type.String(),
    name: Type.String(),
    quantity: Type.Integer({ minimum: 1 }),
    /** Integer minor units, from the catalog. */
    unitPrice: Type.Integer({ minimum: 0 }),
    /** `unitPrice × quantity`, integer minor units. */
    lineTotal: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type OrderLine = Static<typeof OrderLineSchema>;

export const ShippingAddressSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    country: Type.String({
      pattern: '^[A-Z]{2}$',
      description: 'ISO 3166-1 alpha-2 country code, e.g. DE',
      'x-error': 'must be an ISO 3166-1 alpha-2 country code (two capital letters), e.g. DE',
    }),
  },
  { additionalProperties: false },
);
export type ShippingAddress = Static<typeof ShippingAddressSchema>;

export const PaymentMethodSchema = Type.Object(
  {
    token: Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'Payment token from the payment provider; test tokens: tok_visa, tok_declined, tok_risky, tok_timeout',
    }),
  },
  { additionalProperties: false },
);

export const CurrencySchema = Type.String({
  pattern: '^[A-Z]{3}$',
  description: 'ISO 4217 currency code; must be the currency the items are priced in',
  'x-error': 'must be an ISO 4217 currency code (three capital letters), e.g. USD',
});

export const OrderPlacedData = Type.Object(
  {
    orderId: Type.String(),
    customerId: Type.String(),
    region: RegionSchema,
    currency: CurrencySchema,
    items: Type.Array(OrderLineSchema, { minItems: 1 }),
    /** Sum of the line totals, integer minor units. */
    total: Type.Integer({ minimum: 0 }),
    shippingAddress: ShippingAddressSchema,
    paymentMethod: PaymentMethodSchema,
    placedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type OrderPlacedData = Static<typeof OrderPlacedData>;

export const OrderPlaced = defineMessage({
  type: 'orders.OrderPlaced',
  kind: 'event',
  schema: OrderPlacedData,
  description:
    'A customer placed an order: priced from the catalog, durable, not yet reserved or paid. Starts the order saga. Amounts are integer minor units.',
});

/** Why an order was rejected or cancelled (DESIGN.md §4). */
export const ORDER_REASONS = [
  'out_of_stock',
  'payment_declined',
  'fraud_suspected',
  'fulfillment_failed',
  'customer_request',
  'timeout',
] as const;
export type OrderReason = (typeof ORDER_REASONS)[number];

export const OrderReasonSchema = Type.Union(ORDER_REASONS.map((reason) => Type.Literal(reason)));

/** The order's own stream: placement, and the lifecycle events the order saga records. */
export function orderStreamId(orderId: string): string {
  return `order-${orderId}`;
}

/*
 * The order's lifecycle after placement. The order saga (the orchestrator, part of the orders
 * context) records these in the order's stream and publishes them; all are partitioned by order id.
 */

// Lifecycle events carry the customer (and, once confirmed, the lines) so that subscribers such as
// notifications need not read the order's stream, which belongs to this context.
export const OrderConfirmedData = Type.Object(
  {
    orderId: Type.String(),
    customerId: Type.String(),
    region: RegionSchema,
    total: Type.Integer({ minimum: 0 }),
    currency: CurrencySchema,
    items: Type.Array(OrderLineSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export const OrderConfirmed = defineMessage({
  type: 'orders.OrderConfirmed',
  kind: 'event',
  schema: OrderConfirmedData,
  description: 'Stock is reserved and the payment authorized: the order will be fulfilled.',
});

export const OrderRejectedData = Type.Object(
  { orderId: Type.String(), customerId: Type.String(), reason: OrderReasonSchema, detail: Type.String() },
  { additionalProperties: false },
);
export const OrderRejected = defineMessage({
  type: 'orders.OrderRejected',
  kind: 'event',
  schema: OrderRejectedData,
  description: 'The order cannot be fulfilled; everything done for it was compensated. Terminal.',
});

export const OrderCancelledData = Type.Object(
  { orderId: Type.String(), customerId: Type.String(), reason: OrderReasonSchema, detail: Type.String() },
  { additionalProperties: false },
);
export const OrderCancelled = defineMessage({
  type: 'orders.OrderCancelled',
  kind: 'event',
  schema: OrderCancelledData,
  description:
    'The order was cancelled before dispatch; stock released, payment voided, shipments cancelled. Terminal.',
});

export const OrderDeliveredData = Type.Object(
  { orderId: Type.String(), customerId: Type.String() },
  { additionalProperties: false },
);
export const OrderDelivered = defineMessage({
  type: 'orders.OrderDelivered',
  kind: 'event',
  schema: OrderDeliveredData,
  description: 'Every shipment of the order was delivered. Terminal.',
});

export const CancelOrderData = Type.Object(
  {
    orderId: Type.String(),
    reason: Type.Literal('customer_request'),
    requestedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export const CancelOrder = defineMessage({
  type: 'orders.CancelOrder',
  kind: 'command',
  schema: CancelOrderData,
  description:
    'The customer asked to cancel. Handled by the order saga: compensates before dispatch, refuses after.',
});

export const OrderCancellationRefusedData = Type.Object(
  { orderId: Type.String(), reason: Type.String(), detail: Type.String() },
  { additionalProperties: false },
);
export const OrderCancellationRefused = defineMessage({
  type: 'orders.OrderCancellationRefused',
  kind: 'event',
  schema: OrderCancellationRefusedData,
  description: 'A cancellation arrived too late (a shipment was already dispatched, or the order had ended).',
});

export type OrderConfirmedData = Static<typeof OrderConfirmedData>;
export type OrderRejectedData = Static<typeof OrderRejectedData>;
export type OrderCancelledData = Static<typeof OrderCancelledData>;
export type OrderDeliveredData = Static<typeof OrderDeliveredData>;
export type CancelOrderData = Static<typeof CancelOrderData>;
export type OrderCancellationRefusedData = Static<typeof OrderCancellationRefusedData>;

/** Every message the orders context (with its saga) sends. */
export const ORDER_MESSAGES = [
  OrderPlaced,
  OrderConfirmed,
  OrderRejected,
  OrderCancelled,
  OrderDelivered,
  CancelOrder,
  OrderCancellationRefused,
] as const;

/** An order event as the domain sees it (stored events carry more: position, time, metadata). */
export type OrderEvent = { type: typeof ORDER_PLACED; data: OrderPlacedData };

/** Metadata of an OrderPlaced event: what the idempotent intake compares on a retried POST. */
export interface OrderPlacedMetadata extends EventMetadata {
  correlationId: string;
  idempotencyKey: string;
  /** sha256 of the request body's canonical JSON (sorted keys). */
  requestHash: string;
}
