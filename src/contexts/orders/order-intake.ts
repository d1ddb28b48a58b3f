import { v5 as uuidv5 } from 'uuid';
import type { EventStore, StoredEvent } from '../../event-store/index.ts';
import { context, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { createEnvelope, type MessageCatalog } from '../../messaging/index.ts';
import { tracer, withOrderId } from '../../kernel/trace-context.ts';
import {
  AppError,
  ERROR_CODES,
  ValidationError,
  isAppError,
  isConcurrencyError,
} from '../../kernel/errors.ts';
import type { CatalogLookup } from '../catalog/index.ts';
import { canonicalHash } from './canonical-json.ts';
import { CancelOrder, OrderPlaced, type OrderPlacedMetadata } from './messages.ts';
import { evolve, foldOrder, isCancellable, isTerminal, orderStreamId, type Order } from './domain/order.ts';
import { placeOrder, type PlaceOrder } from './domain/place-order.ts';

/** Fixed namespace of order ids: `orderId = uuidv5(idempotencyKey, ORDER_ID_NAMESPACE)`. Never change it. */
export const ORDER_ID_NAMESPACE = 'b9ba2f9c-7bac-4461-b590-2e485e0ec954';

export const ORDERS_SOURCE = 'orderflow/orders';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface OrderIntakeOptions {
  store: EventStore;
  catalog: CatalogLookup;
  /** Validates outgoing messages against their schemas before they enter the outbox. */
  messages: MessageCatalog;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface PlaceOrderRequest {
  idempotencyKey: string;
  command: PlaceOrder;
  /** The HTTP request's trace context: the order's trace continues its span. @default the active context */
  trace?: Context;
}

export interface PlaceOrderOutcome {
  /** True for a new order (201); false when the key had already placed this very order (200). */
  created: boolean;
  order: Order;
}

export interface OrderIntake {
  place(request: PlaceOrderRequest): Promise<PlaceOrderOutcome>;
  /** The order's current view, from every event correlated with it; undefined for an unknown (or malformed) id. */
  get(orderId: string): Promise<Order | undefined>;
  /**
   * A customer's cancellation: recorded and handed to the saga, which compensates before dispatch
   * (or refuses, if a shipment left in the meantime). Refused at once when the order already ended
   * or something was dispatched. Idempotent: asking twice sends one request.
   */
  cancel(orderId: string): Promise<Order>;
  /** Every event correlated with the order, from every context, in global order. */
  trail(orderId: string): Promise<StoredEvent[]>;
}

export function orderIdFor(idempotencyKey: string): string {
  return uuidv5(idempotencyKey, ORDER_ID_NAMESPACE);
}

/** Normalizes an order id from a URL; undefined when it cannot be one. */
export function parseOrderId(text: string): string | undefined {
  const id = text.toLowerCase();
  return UUID_PATTERN.test(id) ? id : undefined;
}

function isServerFault(error: Error): boolean {
  return !isAppError(error) || error.category === 'internal' || error.category === 'unavailable';
}

/**
 * Order intake: idempotent, one unit of work per new order. The order id is derived from the
 * Idempotency-Key, so a retried POST lands on the same stream; `no_stream` makes the first writer
 * win, and anyone who loses reads the order back and compares request hashes (200 or 409).
 */
export function createOrderIntake(options: OrderIntakeOptions): OrderIntake {
  const { store, catalog, messages } = options;
  const now = options.now ?? (() => new Date());

  async function replay(orderId: string, requestHash: string): Promise<PlaceOrderOutcome> {
    const order = foldOrder(await store.readStream(orderStreamId(orderId)));
    if (order === undefined) {
      throw new AppError(ERROR_CODES.INTERNAL, `order ${orderId} conflicted on append but has no events`);
    }
    if (order.requestHash !== requestHash) {
      throw new AppError(
        ERROR_CODES.IDEMPOTENCY_KEY_REUSED,
        'this Idempotency-Key already placed an order with a different request; use a new key for a new order',
        { details: { orderId } },
      );
    }
    return { created: false, order };
  }

  async function place(orderId: string, traced: Context, { idempotencyKey, command }: PlaceOrderRequest) {
    const requestHash = canonicalHash(command);
    const at = now();
    const decision = placeOrder(command, { catalog, orderId, now: at });
    if (decision instanceof ValidationError) throw decision;

    // Its traceparent is the orders.place span: the saga's span of it is a child.
    const envelope = createEnvelope(
      { type: OrderPlaced.type, data: decision.data, correlationId: orderId, subject: orderId },
      { source: ORDERS_SOURCE, now: () => at },
      undefined,
      traced,
    );
    messages.validate(envelope.type, envelope.data);
    const metadata: OrderPlacedMetadata = { correlationId: orderId, idempotencyKey, requestHash };
    if (envelope.traceparent !== undefined) metadata.traceparent = envelope.traceparent;
    const event = { type: decision.type, data: decision.data, metadata };

    try {
      // The event and its message in one transaction: the order is durable and published, or neither.
      await store.commit({
        appends: [{ streamId: orderStreamId(orderId), events: [event], expectedVersion: 'no_stream' }],
        messages: [envelope],
      });
    } catch (error) {
      // Someone placed an order with this key first (a retry, or a concurrent twin of this request).
      if (isConcurrencyError(error)) return replay(orderId, requestHash);
      throw error;
    }
    return { created: true, order: evolve(undefined, event)! };
  }

  return {
    /** In an `orders.place` span, a child of the request's, with the new order's id for log lines. */
    async place(request) {
      const orderId = orderIdFor(request.idempotencyKey);
      const parent = request.trace ?? context.active();
      const span = tracer().startSpan('orders.place', { kind: SpanKind.INTERNAL }, parent);
      if (span.isRecording()) span.setAttribute('orderflow.order_id', orderId);
      try {
        const traced = withOrderId(trace.setSpan(parent, span), orderId);
        return await context.with(traced, place, undefined, orderId, traced, request);
      } catch (error) {
        // A refused order (422, 409) is the client's error; only a failure of ours marks the span.
        if (span.isRecording() && error instanceof Error && isServerFault(error)) {
          span.recordException(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        }
        throw error;
      } finally {
        span.end();
      }
    },

    async get(orderId) {
      const id = parseOrderId(orderId);
      if (id === undefined) return undefined;
      return foldOrder(await store.readCorrelated(id));
    },

    async cancel(orderId) {
      const id = parseOrderId(orderId);
      const order = id === undefined ? undefined : foldOrder(await store.readCorrelated(id));
      if (id === undefined || order === undefined) {
        throw new AppError(ERROR_CODES.ORDER_NOT_FOUND, `there is no order ${JSON.stringify(orderId)}`);
      }
      if (!isCancellable(order)) {
        const why = isTerminal(order.status)
          ? `it is already ${order.status}`
          : 'a shipment has already been dispatched';
        throw new AppError(ERROR_CODES.ORDER_NOT_CANCELLABLE, `order ${id} cannot be cancelled: ${why}`, {
          details: { orderId: id, status: order.status },
        });
      }
      if (order.cancellationRequested) return order;
      const at = now();
      const envelope = createEnvelope(
        {
          // One request per order, whatever the number of clicks: the saga's inbox drops a second copy.
          id: `${id}:CancelOrder`,
          type: CancelOrder.type,
          data: { orderId: id, reason: 'customer_request' as const, requestedAt: at.toISOString() },
          correlationId: id,
          subject: id,
        },
        { source: ORDERS_SOURCE, now: () => at },
      );
      messages.validate(envelope.type, envelope.data);
      const event = {
        id: `${id}:OrderCancellationRequested`,
        type: 'OrderCancellationRequested',
        data: { orderId: id, reason: 'customer_request', requestedAt: at.toISOString() },
        metadata: { correlationId: id, context: 'orders' },
      };
      await store.commit({
        appends: [{ streamId: orderStreamId(id), events: [event], expectedVersion: 'stream_exists' }],
        messages: [envelope],
      });
      return evolve(order, { ...event, time: at.toISOString() })!;
    },

    async trail(orderId) {
      const id = parseOrderId(orderId);
      if (id === undefined) return [];
      return store.readCorrelated(id);
    },
  };
}
