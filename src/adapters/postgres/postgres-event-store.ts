import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../../kernel/errors.ts';
import type { EventStore } from '../../event-store/event-store.ts';
import { createCatchUpSubscriptions } from '../../event-store/catch-up-subscription.ts';
import { createPostgresCatchUpSource, createPostgresCheckpoints } from './postgres-catch-up-source.ts';
import { createPostgresGroupCommit } from './postgres-group-commit.ts';
import { createPostgresInbox } from './postgres-inbox.ts';
import { createPostgresNotifications } from './postgres-notifications.ts';
import { createPostgresReads } from './postgres-reads.ts';
import { createPostgresScheduledMessages } from './postgres-scheduled-messages.ts';
import { checkSchemaName, schemaSql } from './postgres-schema.ts';

export interface PostgresEventStoreOptions {
  /** Connection string, e.g. `postgres://postgres@127.0.0.1:5432/orderflow`. */
  url: string;
  /**
   * Schema holding every table (derived from ORDERFLOW_NAMESPACE); created on start. Lower-case
   * letters, digits and `_`, at most 40 characters.
   */
  schema: string;
  /**
   * Pooled connections for commits and reads (one more, dedicated, listens for notifications).
   * @default 10
   */
  poolSize?: number;
  /**
   * Clock for the `time` of stored events, inbox marks and checkpoints, and for "due now" timers.
   * @default () => new Date()
   */
  now?: () => Date;
  /**
   * Safety poll of subscriptions, in ms, in case a notification was lost (listener reconnecting).
   * @default 1000
   */
  pollIntervalMs?: number;
  /**
   * Test hook: runs inside every commit transaction (one group of units) just before COMMIT;
   * throwing rolls the group back and fails its units with that error. Setting it makes commits run
   * in an explicit BEGIN … COMMIT instead of a single autocommit statement. Used by the gap-safety
   * test to hold transactions open and abort some. Never set in production.
   * @default undefined
   */
  beforeCommit?: () => Promise<void>;
  /**
   * Group commits in flight at once, each on its own pooled connection. Units committed while that
   * many are in flight wait and then go together in the next group (one round trip, one transaction).
   * @default min(2, poolSize)
   */
  maxConcurrentCommits?: number;
}

export interface PostgresEventStore extends EventStore {
  /** Applies the schema (idempotent; concurrent starters serialize on an advisory lock). */
  migrate(): Promise<void>;
  /** Migrates and starts listening for notifications. Other methods call it on first use. */
  start(): Promise<void>;
  /** The notification channels this store uses (for docs, tests and operators). */
  readonly channels: { events: string; scheduled: string };
  /**
   * Whether the notification connection is up: it reconnects every second while the server is
   * away, so this says whether PostgreSQL answers (for /readyz).
   */
  connected(): boolean;
}

const DEFAULT_READ_ALL_MAX = 1_000;

/**
 * The distributed-mode event store on PostgreSQL.
 *
 * Gap safety (DESIGN.md §8). Positions come from an identity sequence: they are drawn at insert time
 * but become visible at commit, out of order. A reader that trusted positions alone could see
 * position 8 committed while 7 is still in flight, move its checkpoint to 8 and never see 7. So
 * catch-up reads (`readAll`, subscriptions) only trust events written by transactions older than
 * the oldest transaction still running: `tx < pg_snapshot_xmin(pg_current_snapshot())`.
 *
 * That filter is only sound if xid order and position order agree between transactions: a
 * transaction with a smaller xid must not draw a position after one with a larger xid (otherwise
 * the older one can commit position 8 while the younger one, still running, holds 7). Writers
 * therefore draw their transaction id and all their positions inside one short critical section:
 * the event INSERT is the first write of its transaction (so it assigns the xid: the stream locks
 * before it are advisory, the inbox mark is written after it) and runs under a session advisory lock
 * (the "sequencer") released right after the statement, long before COMMIT. Proof sketch in
 * docs/postgres.md. Readers never block writers; a long transaction anywhere on the server delays
 * catch-up readers (never makes them skip).
 *
 * Commits. All of it runs server-side, in the commit function `commit_units_v1` that the migration
 * (re)creates (sql/commit-units-v1.sql): one statement per transaction, in autocommit, so one round
 * trip. Units committed while `maxConcurrentCommits` such calls are in flight are grouped into the
 * next call (group commit: one transaction and one WAL flush for all), each unit still succeeding or
 * failing on its own. A group's events are written by ONE insert under the sequencer, which assigns
 * the group transaction's xid, so the argument above holds for groups as for single units.
 *
 * The parts, one file each: postgres-group-commit.ts (commits), postgres-reads.ts (reads and the
 * heads), postgres-catch-up-source.ts (subscriptions, on the one catch-up loop of
 * event-store/catch-up-subscription.ts, and checkpoints), postgres-scheduled-messages.ts (timers),
 * postgres-inbox.ts, postgres-notifications.ts (LISTEN/NOTIFY); this file wires them and owns the
 * pool and the lifecycle.
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const { url, schema } = options;
  checkSchemaName(schema, 'postgres event store');
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw InvalidOptionsError.format('poolSize', `must be an integer ≥ 1 (got ${String(poolSize)})`);
  }
  const maxConcurrentCommits = options.maxConcurrentCommits ?? Math.min(2, poolSize);
  if (!Number.isInteger(maxConcurrentCommits) || maxConcurrentCommits < 1) {
    throw InvalidOptionsError.format(
      'maxConcurrentCommits',
      `must be an integer ≥ 1 (got ${String(maxConcurrentCommits)})`,
    );
  }
  const now = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const channels = { events: `${schema}_events`, scheduled: `${schema}_scheduled` };
  // Notifications carry this id, so that a process ignores the echo of its own commits.
  const origin = randomUUID();

  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  async function query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    return (await pool.query<R>(text, values)).rows;
  }

  const subscriptions = createCatchUpSubscriptions();
  const inFlight = new Set<Promise<unknown>>();
  let started: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;

  const notifications = createPostgresNotifications({
    url,
    channels,
    origin,
    onChange: () => subscriptions.wake(),
    closing: () => closing !== undefined,
  });
  const groupCommit = createPostgresGroupCommit({
    pool,
    schema,
    origin,
    now,
    maxConcurrentCommits,
    beforeCommit: options.beforeCommit,
    notifications,
    onWritten: () => subscriptions.wake(),
  });
  const reads = createPostgresReads(query, schema);
  const checkpoints = createPostgresCheckpoints(query, schema);
  const inbox = createPostgresInbox(query, schema);
  const scheduledMessages = createPostgresScheduledMessages(query, schema);

  function ensureOpen(): void {
    if (closing !== undefined) {
      throw new AppError(ERROR_CODES.STORE_CLOSED, 'the event store is closed');
    }
  }

  async function migrate(): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Concurrent starters: the first migrates, the others wait and find everything in place.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), 0)', [`${schema}:migrate`]);
      await client.query(schemaSql(schema));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  function start(): Promise<void> {
    started ??= (async () => {
      await migrate();
      await notifications.listen();
    })();
    return started;
  }

  /** Runs `work` once the store is started, counting it as in flight for close(). */
  async function run<T>(work: () => Promise<T>, internal = false): Promise<T> {
    // Subscriptions stopping inside close() still commit the batch in hand.
    if (!internal || closed) ensureOpen();
    const promise = (async () => {
      await start();
      return work();
    })();
    inFlight.add(promise);
    try {
      return await promise;
    } finally {
      inFlight.delete(promise);
    }
  }

  const store: PostgresEventStore = {
    channels,
    migrate,
    start,

    append(streamId, events, appendOptions) {
      return run(async () => {
        const result = await groupCommit.commit({
          appends: [{ streamId, events, expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        });
        return result.appends[0]!;
      });
    },

    commit(unit) {
      return run(() => groupCommit.commit(unit));
    },

    readStream(streamId, readOptions) {
      return run(() =>
        reads.readStream(streamId, readOptions?.fromVersion ?? 0, readOptions?.maxCount ?? null),
      );
    },

    streamVersion(streamId) {
      return run(() => reads.streamVersion(streamId));
    },

    readAll(readOptions) {
      return run(() =>
        reads.readAll(
          readOptions?.after ?? -1,
          readOptions?.maxCount ?? DEFAULT_READ_ALL_MAX,
          readOptions?.types,
        ),
      );
    },

    readCorrelated(correlationId) {
      return run(() => reads.readCorrelated(correlationId));
    },

    isHandled(consumer, messageId) {
      return run(() => inbox.isHandled(consumer, messageId));
    },

    subscribe(subscriptionOptions) {
      ensureOpen();
      return subscriptions.start(
        subscriptionOptions,
        createPostgresCatchUpSource({
          subscriptionId: subscriptionOptions.subscriptionId,
          types: subscriptionOptions.types,
          reads,
          checkpoints,
          commit: (unit) => groupCommit.commit(unit),
          run: (work) => run(work, true),
          pollIntervalMs,
        }),
      );
    },

    readCheckpoint(subscriptionId) {
      return run(() => checkpoints.read(subscriptionId));
    },

    headPosition() {
      return run(async () => (await reads.heads()).visible);
    },

    releaseDueMessages(nowMs, limit = 1_000) {
      return run(() => scheduledMessages.release(nowMs, limit));
    },

    connected: () => notifications.connected(),
    onScheduled: (listen) => notifications.onScheduled(listen),
    onEventsCommitted: (listen) => notifications.onEventsCommitted(listen),

    close() {
      closing ??= (async () => {
        await subscriptions.stopAll();
        await Promise.allSettled([...inFlight]);
        await notifications.close();
        if (!closed) {
          closed = true;
          await pool.end();
        }
      })();
      return closing;
    },
  };
  return store;
}
