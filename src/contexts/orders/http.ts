import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { StoredEvent } from '../../event-store/index.ts';
import { parsePreferWait, problemResponse, type HttpServer } from '../../http/index.ts';
import { contextOf, nameOf } from '../../messaging/index.ts';
import { AppError, ERROR_CODES } from '../../shared/errors.ts';
import { toMajorUnits } from '../catalog/index.ts';
import { RegionSchema } from './domain/events.ts';
import {
  ORDER_REASONS,
  ORDER_STATUSES,
  type Order,
  type OrderReason,
  type OrderStatus,
} from './domain/order.ts';
import { PlaceOrderSchema } from './domain/place-order.ts';
import type { OrderIntake } from './order-intake.ts';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

const Money = (description: string) =>
  Type.Number({
    description: `${description}: a decimal number in the major unit of the order's currency (19.99)`,
  });

export const OrderViewSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: Type.Unsafe<OrderStatus>({ type: 'string', enum: [...ORDER_STATUSES] }),
  reason: Type.Optional(
    Type.Unsafe<OrderReason>({
      type: 'string',
      enum: [...ORDER_REASONS],
      description: 'Why the order was rejected or cancelled',
    }),
  ),
  region: RegionSchema,
  customerId: Type.String(),
  currency: Type.String(),
  total: Money('Sum of the line totals'),
  items: Type.Array(
    Type.Object({
      sku: Type.String(),
      vendorId: Type.String(),
      name: Type.String(),
      quantity: Type.Integer(),
      unitPrice: Money('Catalog price of one unit'),
      lineTotal: Money('unitPrice × quantity'),
    }),
  ),
  shipments: Type.Array(
    Type.Object({
      shipmentId: Type.String(),
      warehouseId: Type.String(),
      status: Type.String(),
      items: Type.Array(Type.Object({ sku: Type.String(), quantity: Type.Integer() })),
    }),
  ),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type OrderView = Static<typeof OrderViewSchema>;

export const OrderTrailSchema = Type.Object({
  orderId: Type.String({ format: 'uuid' }),
  events: Type.Array(
    Type.Object({
      position: Type.Integer({ description: 'Global position: the order of events across every context' }),
      type: Type.String({ description: 'Short event name, e.g. OrderPlaced' }),
      context: Type.String({
        description: 'The context that recorded the event: orders, saga, inventory, payments…',
      }),
      streamId: Type.String(),
      time: Type.String({ format: 'date-time' }),
      data: Type.Unknown({ description: 'The event as recorded; amounts in integer minor units' }),
    }),
  ),
});

const OrderParams = Type.Object({ id: Type.String({ description: 'Order id (UUID)' }) });

export function toOrderView(order: Order): OrderView {
  const { currency } = order;
  const view: OrderView = {
    id: order.id,
    status: order.status,
    region: order.region,
    customerId: order.customerId,
    currency,
    total: toMajorUnits(order.total, currency),
    items: order.items.map((line) => ({
      sku: line.sku,
      vendorId: line.vendorId,
      name: line.name,
      quantity: line.quantity,
      unitPrice: toMajorUnits(line.unitPrice, currency),
      lineTotal: toMajorUnits(line.lineTotal, currency),
    })),
    shipments: order.shipments.map((s) => ({ ...s, items: s.items.map((i) => ({ ...i })) })),
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
  if (order.reason !== undefined) view.reason = order.reason;
  return view;
}

// Streams are named `<category>-<id>`; the category says which context wrote them.
const CONTEXT_OF_STREAM_CATEGORY: Readonly<Record<string, string>> = {
  order: 'orders',
  saga: 'saga',
  catalog: 'catalog',
};

/** The context that recorded an event: its metadata says so when the writer knew, else its stream's category. */
export function eventContext(event: StoredEvent): string {
  const declared = event.metadata.context;
  if (typeof declared === 'string') return declared;
  const source = event.metadata.source;
  if (typeof source === 'string') return source.slice(source.lastIndexOf('/') + 1);
  const dash = event.streamId.indexOf('-');
  const category = dash === -1 ? event.streamId : event.streamId.slice(0, dash);
  return CONTEXT_OF_STREAM_CATEGORY[category] ?? contextOf(category);
}

function orderNotFound(id: string): AppError {
  return new AppError(ERROR_CODES.ORDER_NOT_FOUND, 'not_found', `there is no order ${JSON.stringify(id)}`);
}

async function requireIdempotencyKey(request: FastifyRequest): Promise<void> {
  const key = request.headers['idempotency-key'];
  if (key === undefined || (typeof key === 'string' && key.trim() === '')) {
    throw new AppError(
      ERROR_CODES.IDEMPOTENCY_KEY_MISSING,
      'validation',
      'send an Idempotency-Key header (a unique value per order, e.g. a UUID) so that a retried request cannot place the order twice',
    );
  }
  if (typeof key !== 'string' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new AppError(
      ERROR_CODES.IDEMPOTENCY_KEY_INVALID,
      'validation',
      `the Idempotency-Key header must be one value of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    );
  }
}

export interface OrdersHttpOptions {
  intake: OrderIntake;
  /** Called once per new order (metrics). */
  onOrderPlaced?: (order: Order) => void;
}

/** POST /v1/orders, GET /v1/orders/{id}, GET /v1/orders/{id}/events. */
export function registerOrdersHttp(app: HttpServer, options: OrdersHttpOptions): void {
  const { intake, onOrderPlaced } = options;

  app.post(
    '/v1/orders',
    {
      // Before the body is even read: a request without a key is refused whatever its body.
      onRequest: requireIdempotencyKey,
      schema: {
        tags: ['orders'],
        summary: 'Place an order',
        description: [
          'Accepts the order once it is durable: it is readable with GET as soon as this answers.',
          'Idempotent per Idempotency-Key: the same key and body answer 200 with the current view, the same key',
          'with another body 409. Prices and totals come from the catalog. `Prefer: wait=N` (RFC 7240) is',
          'accepted; waiting for the saga outcome is not applied yet (no Preference-Applied header).',
        ].join(' '),
        headers: Type.Object({
          'idempotency-key': Type.String({
            minLength: 1,
            maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
            description: 'Unique per order (e.g. a UUID). Missing, empty or too long: 400.',
          }),
          prefer: Type.Optional(Type.String({ description: 'RFC 7240, e.g. wait=5' })),
        }),
        body: PlaceOrderSchema,
        response: {
          201: {
            ...OrderViewSchema,
            description: 'The order was placed: it is durable, and the saga will carry it on',
          },
          200: {
            ...OrderViewSchema,
            description: 'This key placed this very order before: its current view',
          },
          400: problemResponse('No usable Idempotency-Key header, or a body that is not JSON'),
          409: problemResponse('The Idempotency-Key placed another order (IDEMPOTENCY_KEY_REUSED)'),
          413: problemResponse('The body is larger than 256 KiB'),
          415: problemResponse('The body is not application/json'),
          422: problemResponse('The order is invalid; `errors` names each problem with a JSON pointer'),
        },
      },
    },
    async (request, reply) => {
      // Parsed so that a malformed preference is ignored as RFC 7240 asks; applied by a later slice.
      parsePreferWait(request.headers.prefer);
      const traceparent = request.headers.traceparent;
      const outcome = await intake.place({
        idempotencyKey: request.headers['idempotency-key'],
        command: request.body,
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
      });
      if (outcome.created) onOrderPlaced?.(outcome.order);
      return reply
        .code(outcome.created ? 201 : 200)
        .header('location', `/v1/orders/${outcome.order.id}`)
        .send(toOrderView(outcome.order));
    },
  );

  app.get(
    '/v1/orders/:id',
    {
      schema: {
        tags: ['orders'],
        summary: "The order's current view",
        params: OrderParams,
        response: { 200: OrderViewSchema, 404: problemResponse('No such order') },
      },
    },
    async (request) => {
      const order = await intake.get(request.params.id);
      if (order === undefined) throw orderNotFound(request.params.id);
      return toOrderView(order);
    },
  );

  app.get(
    '/v1/orders/:id/events',
    {
      schema: {
        tags: ['orders'],
        summary: "The order's audit trail: every event of every context correlated with it, in global order",
        params: OrderParams,
        response: { 200: OrderTrailSchema, 404: problemResponse('No such order') },
      },
    },
    async (request) => {
      const events = await intake.trail(request.params.id);
      if (events.length === 0) throw orderNotFound(request.params.id);
      return {
        orderId: request.params.id.toLowerCase(),
        events: events.map((event) => ({
          position: event.position,
          type: nameOf(event.type),
          context: eventContext(event),
          streamId: event.streamId,
          time: event.time,
          data: event.data,
        })),
      };
    },
  );
}
