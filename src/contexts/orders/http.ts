import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { StoredEvent } from '../../event-store/index.ts';
import {
  parsePreferWait,
  problemResponse,
  requestTraceContext,
  type HttpServer,
} from '../../kernel/http/index.ts';
import { contextOf, nameOf } from '../../messaging/index.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import { toMajorUnits } from '../../kernel/money.ts';
import { RegionSchema } from './messages.ts';
import {
  isTerminal,
  ORDER_REASONS,
  ORDER_STATUSES,
  SHIPMENT_STATUSES,
  type ShipmentStatus,
  type Order,
  type OrderReason,
  type OrderStatus,
} from './domain/order.ts';
import { PlaceOrderSchema } from './domain/place-order.ts';
import type { OrderIntake } from './order-intake.ts';
import type { OrderUpdates } from './order-updates.ts';

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
      vendorId: Type.String(),
      warehouseId: Type.String(),
      status: Type.Unsafe<ShipmentStatus>({ type: 'string', enum: [...SHIPMENT_STATUSES] }),
      carrier: Type.Optional(Type.String()),
      trackingNumber: Type.Optional(Type.String()),
      items: Type.Array(Type.Object({ sku: Type.String(), quantity: Type.Integer() })),
    }),
    { description: 'One per vendor warehouse the order ships from (split shipments)' },
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
  return new AppError(ERROR_CODES.ORDER_NOT_FOUND, `there is no order ${JSON.stringify(id)}`);
}

async function requireIdempotencyKey(request: FastifyRequest): Promise<void> {
  const key = request.headers['idempotency-key'];
  if (key === undefined || (typeof key === 'string' && key.trim() === '')) {
    throw new AppError(
      ERROR_CODES.IDEMPOTENCY_KEY_MISSING,
      'send an Idempotency-Key header (a unique value per order, e.g. a UUID) so that a retried request cannot place the order twice',
    );
  }
  if (typeof key !== 'string' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new AppError(
      ERROR_CODES.IDEMPOTENCY_KEY_INVALID,
      `the Idempotency-Key header must be one value of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    );
  }
}

export interface OrdersHttpOptions {
  intake: OrderIntake;
  /** Live views for `Prefer: wait` and server-sent events. */
  updates: OrderUpdates;
  /** Called once per new order (metrics). */
  onOrderPlaced?: (order: Order) => void;
  /**
   * Longest `Prefer: wait` honoured, in seconds.
   * @default 30
   */
  maxWaitSeconds?: number;
  /**
   * Interval of SSE keep-alive comments.
   * @default 15000
   */
  heartbeatMs?: number;
}

/** The saga has decided: the order is confirmed (or further), or it ended. */
function hasOutcome(order: Order): boolean {
  return order.status !== 'pending';
}

/** POST /v1/orders, GET /v1/orders/{id}, GET /v1/orders/{id}/events. */
export function registerOrdersHttp(app: HttpServer, options: OrdersHttpOptions): void {
  const { intake, updates, onOrderPlaced } = options;
  const maxWaitSeconds = options.maxWaitSeconds ?? 30;
  const heartbeatMs = options.heartbeatMs ?? 15_000;

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
          'with another body 409. Prices and totals come from the catalog. With `Prefer: wait=N` (RFC 7240,',
          `at most ${maxWaitSeconds} s) the answer waits up to N seconds for the saga's outcome (confirmed,`,
          'rejected…) and says so with `Preference-Applied: wait=N`; the status code stays 201 or 200.',
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
      // A malformed preference is ignored, as RFC 7240 asks.
      const wait = parsePreferWait(request.headers.prefer);
      // The request's span continues the caller's traceparent; the order's trace continues it.
      const traced = requestTraceContext(request);
      const outcome = await intake.place({
        idempotencyKey: request.headers['idempotency-key'],
        command: request.body,
        ...(traced !== undefined ? { trace: traced } : {}),
      });
      if (outcome.created) onOrderPlaced?.(outcome.order);
      let order = outcome.order;
      if (wait !== undefined && wait > 0) {
        const seconds = Math.min(wait, maxWaitSeconds);
        order = (await updates.waitFor(order.id, hasOutcome, seconds * 1000)) ?? order;
        reply.header('preference-applied', `wait=${seconds}`);
      }
      return reply
        .code(outcome.created ? 201 : 200)
        .header('location', `/v1/orders/${order.id}`)
        .send(toOrderView(order));
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

  app.post(
    '/v1/orders/:id/cancel',
    {
      schema: {
        tags: ['orders'],
        summary: 'Cancel an order (customer request)',
        description: [
          'Before dispatch the saga compensates: stock released, payment voided, shipments cancelled, then',
          'the order is `cancelled` with reason `customer_request`. Answers 202 with the current view; with',
          '`Prefer: wait=N` it waits for the outcome. After dispatch, or once the order ended: 409.',
        ].join(' '),
        params: OrderParams,
        headers: Type.Object({
          prefer: Type.Optional(Type.String({ description: 'RFC 7240, e.g. wait=5' })),
        }),
        response: {
          202: { ...OrderViewSchema, description: 'Cancellation requested; the saga carries it out' },
          404: problemResponse('No such order'),
          409: problemResponse('Too late: a shipment left, or the order ended (ORDER_NOT_CANCELLABLE)'),
        },
      },
    },
    async (request, reply) => {
      let order = await intake.cancel(request.params.id);
      const wait = parsePreferWait(request.headers.prefer);
      if (wait !== undefined && wait > 0) {
        const seconds = Math.min(wait, maxWaitSeconds);
        order = (await updates.waitFor(order.id, (o) => !o.cancellationRequested, seconds * 1000)) ?? order;
        reply.header('preference-applied', `wait=${seconds}`);
      }
      return reply.code(202).send(toOrderView(order));
    },
  );

  app.get(
    '/v1/orders/:id/stream',
    {
      schema: {
        tags: ['orders'],
        summary: "The order's status changes, live (server-sent events)",
        description: [
          'A `text/event-stream`: an `order` event with the current view at once, then one on every change;',
          'the stream ends after the order reaches a terminal status (delivered, rejected, cancelled).',
          'Comment lines keep idle connections open.',
        ].join(' '),
        params: OrderParams,
        response: {
          200: {
            description: 'Server-sent events, each `event: order` with the order view as `data`',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          404: problemResponse('No such order'),
        },
      },
    },
    async (request, reply) => {
      const order = await intake.get(request.params.id);
      if (order === undefined) throw orderNotFound(request.params.id);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let lastSent = '';
      let closed = false;
      const send = (current: Order): void => {
        if (closed) return;
        const data = JSON.stringify(toOrderView(current));
        if (data !== lastSent) {
          lastSent = data;
          raw.write(`event: order\nid: ${current.updatedAt}\ndata: ${data}\n\n`);
        }
        if (isTerminal(current.status)) end();
      };
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), heartbeatMs);
      const stop = updates.watch(order.id, send);
      const end = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        stop();
        raw.end();
      };
      raw.on('close', end);
      send(order);
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
