import { createPostgresEventStore } from '../adapters/postgres/postgres-event-store.ts';
import { createPostgresStorageSize } from '../adapters/postgres/postgres-storage-size.ts';
import { createPostgresOutbox } from '../adapters/postgres/postgres-outbox.ts';
import type { EventStore } from '../event-store/index.ts';
import { createPostgresDeadLetterStore } from '../adapters/postgres/postgres-dead-letter-store.ts';
import type { DeadLetterStore, LeaderLease } from '../messaging/index.ts';
import { createPostgresLeaderLease } from '../adapters/postgres/postgres-leader-lease.ts';
import { createOutboxRelay, type OutboxRelay } from '../messaging/outbox/outbox-relay.ts';
import { createNatsTransport, type NatsTransport } from '../adapters/nats/nats-transport.ts';
import { AppError, ERROR_CODES, ensureError } from '../kernel/errors.ts';

export interface DistributedAdapters {
  store: EventStore;
  transport: NatsTransport;
  deadLetters: DeadLetterStore;
  /** Copies the outbox to JetStream; one leader across every process of the namespace. */
  relay: OutboxRelay;
  /**
   * Connects to PostgreSQL (migrating the schema) and to NATS. An unreachable server is refused with
   * one clear message, e.g. `cannot reach PostgreSQL at postgres://…: connection refused`.
   */
  connect(): Promise<void>;
  /** True once `close()` was called. */
  closed(): boolean;
  /** Whether PostgreSQL and NATS answer now (both reconnect by themselves), for /readyz. */
  connections(): { postgres: boolean; nats: boolean };
  /** The relay's publishing rounds and the messages they carried, for the relay metrics. */
  relayStats(): { rounds: number; messages: number };
  /** Bytes of the namespace's PostgreSQL tables, for the cost-per-order estimate. */
  storageBytes(): Promise<number>;
  /** A lease among the copies of a role, on a PostgreSQL advisory lock named `<namespace>:<name>`. */
  leaderLease(name: string): LeaderLease;
  /** Closes the outbox connection, the dead-letter store and the event store (close the transport first). */
  close(): Promise<void>;
}

export interface DistributedAdaptersOptions {
  /** `postgres://…` (ORDERFLOW_STORE). */
  storeUrl: string;
  /** `nats://…` (ORDERFLOW_BUS), comma separated for a cluster. */
  busUrl: string;
  /** ORDERFLOW_NAMESPACE: the PostgreSQL schema and the prefix of every stream, subject and consumer. */
  namespace: string;
  partitions: number;
  /** Connections of the event store's pool (ORDERFLOW_POSTGRES_POOL_SIZE). */
  poolSize?: number;
  onTransportError?: (error: Error) => void;
  onRelayError?: (error: Error) => void;
}

/**
 * The distributed mode's adapters: the event store, its outbox and the dead letters on PostgreSQL
 * (schema = namespace), the bus on NATS JetStream, and the outbox relay between them. PostgreSQL is
 * the source of truth; JetStream is transport (DESIGN.md §8).
 */
export function createDistributedAdapters(options: DistributedAdaptersOptions): DistributedAdapters {
  const schema = options.namespace;
  const store = createPostgresEventStore({
    url: options.storeUrl,
    schema,
    ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
  });
  const outbox = createPostgresOutbox({ url: options.storeUrl, schema });
  const deadLetters = createPostgresDeadLetterStore({ url: options.storeUrl, schema });
  const storageSize = createPostgresStorageSize({ url: options.storeUrl, schema });
  const transport = createNatsTransport({
    servers: options.busUrl,
    namespace: options.namespace,
    partitions: options.partitions,
    ...(options.onTransportError !== undefined ? { onError: options.onTransportError } : {}),
  });
  let rounds = 0;
  let relayed = 0;
  const relay = createOutboxRelay({
    outbox,
    transport,
    ...(options.onRelayError !== undefined ? { onError: options.onRelayError } : {}),
    onPublished: (records) => {
      rounds += 1;
      relayed += records.length;
    },
  });
  let closed = false;

  return {
    store,
    transport,
    deadLetters,
    relay,
    async connect() {
      try {
        await store.start();
        await outbox.start();
        await deadLetters.start();
      } catch (error) {
        throw unreachable('PostgreSQL', options.storeUrl, error);
      }
      try {
        await transport.start();
      } catch (error) {
        throw unreachable('NATS', options.busUrl, error);
      }
    },
    closed: () => closed,
    connections: () => ({ postgres: store.connected(), nats: transport.connected() }),
    relayStats: () => ({ rounds, messages: relayed }),
    storageBytes: () => storageSize.bytes(),
    leaderLease: (name) =>
      createPostgresLeaderLease({
        url: options.storeUrl,
        name: `${schema}:${name}`,
        onError: options.onRelayError,
      }),
    async close() {
      closed = true;
      await outbox.close();
      await deadLetters.close();
      await storageSize.close();
      await store.close();
    },
  };
}

/** `cannot reach PostgreSQL at postgres://user:***@host/db: connection refused` */
export function unreachable(server: string, url: string, cause: unknown): AppError {
  const error = ensureError(cause);
  return new AppError(
    ERROR_CODES.NOT_READY,
    `cannot reach ${server} at ${redactUrl(url)}: ${describeConnectionError(error)}`,
    { cause: error, retryable: true },
  );
}

function describeConnectionError(error: Error): string {
  const codes = new Set<string>();
  const collect = (e: unknown): void => {
    const code = (e as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') codes.add(code);
    const nested = (e as { errors?: unknown } | undefined)?.errors;
    if (Array.isArray(nested)) for (const inner of nested) collect(inner);
    const cause = (e as { cause?: unknown } | undefined)?.cause;
    if (cause !== undefined && cause !== e) collect(cause);
  };
  collect(error);
  const text = `${error.message} ${[...codes].join(' ')}`;
  if (codes.has('ECONNREFUSED') || /CONNECTION_REFUSED|ECONNREFUSED|connection refused/i.test(text)) {
    return 'connection refused';
  }
  if (codes.has('ENOTFOUND') || codes.has('EAI_AGAIN')) return 'host not found';
  if (codes.has('ETIMEDOUT') || /timeout/i.test(text)) return 'connection timed out';
  if (codes.has('28P01') || codes.has('28000')) return `authentication failed (${error.message})`;
  if (codes.has('3D000')) return error.message;
  return error.message === '' ? error.name : error.message;
}

/** The URL without its password (it may end up in logs and terminals). */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((part) => {
      try {
        const parsed = new URL(part.trim());
        if (parsed.password !== '') parsed.password = '***';
        return parsed.toString().replace(/\/$/, '');
      } catch {
        return part.replace(/\/\/[^@/]*@/, '//***@');
      }
    })
    .join(',');
}
