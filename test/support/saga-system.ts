import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../src/app/embedded-adapters.ts';
import { OrderPlaced, type OrderPlacedData } from '../../src/contexts/orders/messages.ts';
import { orderStreamId } from '../../src/contexts/orders/domain/order.ts';
import type { StoredEvent } from '../../src/event-store/index.ts';
import {
  createConsumer,
  createEnvelope,
  createMessageScheduler,
  MessageCatalog,
  type Consumer,
  type Envelope,
  type HandlerContext,
  type MessageHandler,
  type MessageScheduler,
} from '../../src/messaging/index.ts';
import type { SagaRuntime } from '../../src/sagas/engine/index.ts';
import type { OrderSagaData } from '../../src/sagas/order/order-saga-data.ts';
import type { OrderSagaOptions } from '../../src/sagas/order/order-saga.ts';
import { createOrderSagaRuntime, SAGA_MESSAGES } from '../../src/sagas/saga-module.ts';
import { orderBody } from './orders.ts';

/**
 * The order saga on the real embedded adapters, for integration tests: the SQLite event store on a
 * file, the embedded bus on its outbox, the durable-timer scheduler and the `saga` consumer group.
 * `probes` are other consumer groups on the same bus standing in for contexts (they record what
 * they receive and may answer), so a test can play inventory being down, then back.
 */
export interface SagaSystem extends EmbeddedAdapters {
  readonly runtime: SagaRuntime<OrderSagaData>;
  readonly catalog: MessageCatalog;
  /** Stops the consumers and the scheduler, closes the bus, then the store (a graceful shutdown). */
  close(): Promise<void>;
}

export interface Probe {
  group: string;
  types: readonly string[];
  onMessage?: (message: Envelope, context: HandlerContext) => void;
}

export interface SagaSystemOptions {
  file: string;
  saga?: Partial<OrderSagaOptions>;
  probes?: readonly Probe[];
}

export async function openSagaSystem(options: SagaSystemOptions): Promise<SagaSystem> {
  const adapters = createEmbeddedAdapters({ file: options.file, synchronous: 'NORMAL', partitions: 4 });
  const catalog = new MessageCatalog().register(...SAGA_MESSAGES);
  const runtime = createOrderSagaRuntime({
    store: adapters.store,
    saga: { reservationTtlMs: 900_000, stepTimeoutMs: 30_000, paymentMaxAttempts: 3, ...options.saga },
    catalog,
  });
  const retry = { initialDelayMs: 5, maxDelayMs: 50, jitter: 0 };
  const consumers: Consumer[] = [
    createConsumer({
      group: runtime.handlers,
      transport: adapters.transport,
      store: adapters.store,
      deadLetters: adapters.deadLetters,
      catalog,
      source: 'orderflow/saga',
      retry,
    }),
    ...(options.probes ?? []).map((probe) => {
      const handler: MessageHandler = (message, context) => probe.onMessage?.(message, context);
      return createConsumer({
        group: {
          group: probe.group,
          handlers: Object.fromEntries(probe.types.map((type) => [type, handler])),
        },
        transport: adapters.transport,
        store: adapters.store,
        deadLetters: adapters.deadLetters,
        catalog,
        source: `orderflow/${probe.group}`,
        retry,
      });
    }),
  ];
  const scheduler: MessageScheduler = createMessageScheduler({ store: adapters.store, retryDelayMs: 50 });
  await adapters.transport.start();
  await scheduler.start();
  for (const consumer of consumers) await consumer.start();

  return {
    ...adapters,
    runtime,
    catalog,
    async close() {
      for (const consumer of consumers) await consumer.stop();
      await scheduler.stop();
      await adapters.transport.close();
      await adapters.store.close();
    },
  };
}

/** Places an order the way the orders intake does: OrderPlaced in the order's stream and on the bus, one unit. */
export async function placeOrder(system: SagaSystem, order: OrderPlacedData): Promise<void> {
  const envelope = createEnvelope(
    { type: OrderPlaced.type, data: order, correlationId: order.orderId, subject: order.orderId },
    { source: 'orderflow/orders' },
  );
  system.catalog.validate(envelope.type, envelope.data);
  await system.store.commit({
    appends: [
      {
        streamId: orderStreamId(order.orderId),
        events: [
          { type: 'OrderPlaced', data: order, metadata: { correlationId: order.orderId, context: 'orders' } },
        ],
        expectedVersion: 'no_stream',
      },
    ],
    messages: [envelope],
  });
}

/** The OrderPlaced of the order fixture (`orderBody`) in EUR, with one priced line. */
export function orderPlaced(orderId: string): OrderPlacedData {
  return {
    ...orderBody({ customerId: 'customer-int', currency: 'EUR' }),
    orderId,
    items: [
      {
        sku: 'NW-TENT-2P',
        vendorId: 'northwind',
        name: 'Trail tent',
        quantity: 2,
        unitPrice: 18900,
        lineTotal: 37800,
      },
    ],
    total: 37800,
    placedAt: new Date().toISOString(),
  };
}

export function typesOf(events: readonly StoredEvent[]): string[] {
  return events.map((event) => event.type);
}
