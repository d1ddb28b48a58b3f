import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The Prometheus metrics of one app (GET /metrics). A registry per app, never the global one, so
 * that several apps in one process (tests) do not share or clash on counters.
 */
export interface AppMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpRequestDuration: Histogram<'route' | 'method'>;
  readonly messagesHandled: Counter<'group' | 'type'>;
  readonly messageRetries: Counter<'group' | 'type'>;
  readonly deadLetters: Counter<'group' | 'type'>;
  readonly ordersPlaced: Counter<'region'>;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export function createMetrics(options: { collectDefaults?: boolean } = {}): AppMetrics {
  const registry = new Registry();
  if (options.collectDefaults ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'orderflow_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: 'orderflow_http_request_duration_seconds',
      help: 'Time from receiving a request to answering it',
      labelNames: ['route', 'method'],
      // The accept path targets p99 <= 20 ms (DESIGN.md §7): resolution where it matters.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    messagesHandled: new Counter({
      name: 'orderflow_messages_handled_total',
      help: 'Messages handled successfully, by consumer group and message type',
      labelNames: ['group', 'type'],
      registers,
    }),
    messageRetries: new Counter({
      name: 'orderflow_message_retries_total',
      help: 'Message deliveries that failed and were scheduled again',
      labelNames: ['group', 'type'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'orderflow_dead_letters_total',
      help: 'Messages sent to the dead-letter store',
      labelNames: ['group', 'type'],
      registers,
    }),
    ordersPlaced: new Counter({
      name: 'orderflow_orders_placed_total',
      help: 'Orders accepted (201), by region',
      labelNames: ['region'],
      registers,
    }),
  };
}

/**
 * Group-commit efficiency of the store: transactions and the writes they held. Writes per commit is
 * the first figure to look at when throughput drops (small commits mean fsync-bound).
 */
export function registerStoreMetrics(
  metrics: AppMetrics,
  stats: () => { commits: number; writes: number },
): void {
  countSinceStart(
    metrics,
    'orderflow_store_commits_total',
    'Transactions (group commits) the store has made since start',
    () => stats().commits,
  );
  countSinceStart(
    metrics,
    'orderflow_store_writes_total',
    'Units of work and other writes those transactions held',
    () => stats().writes,
  );
}

/**
 * A counter of something the process counts since start (its own tally): at each scrape it is
 * incremented by what was added since the last one, so it is a real counter (`_total`, rate()).
 */
function countSinceStart(metrics: AppMetrics, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [metrics.registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}

/** Partitions each consumer group of this process holds (distributed mode: partition leases). */
export function registerPartitionMetrics(metrics: AppMetrics, owned: () => Record<string, number>): void {
  new Gauge({
    name: 'orderflow_partitions_owned',
    help: 'Partitions of each consumer group this process holds a lease on and pulls',
    labelNames: ['group'],
    registers: [metrics.registry],
    collect() {
      this.reset();
      for (const [group, count] of Object.entries(owned())) this.set({ group }, count);
    },
  });
}

/** The outbox relay of the distributed mode: publishing rounds and the messages they carried to the broker. */
export function registerRelayMetrics(
  metrics: AppMetrics,
  stats: () => { rounds: number; messages: number },
): void {
  countSinceStart(
    metrics,
    'orderflow_outbox_relay_rounds_total',
    'Batches the outbox relay has published since start',
    () => stats().rounds,
  );
  countSinceStart(
    metrics,
    'orderflow_outbox_relayed_messages_total',
    'Outbox messages the relay has published to the broker since start',
    () => stats().messages,
  );
}
