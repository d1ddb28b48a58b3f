import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { Envelope } from '../../kernel/envelope.ts';
import { AppError, ConcurrencyError, ERROR_CODES, ensureError } from '../../kernel/errors.ts';
import {
  NO_STREAM_VERSION,
  type AppendResult,
  type CommitResult,
  type CommittedEvent,
  type EventMetadata,
  type EventStore,
  type EventSubscription,
  type ScheduledMessage,
  type StoredEvent,
  type StreamAppend,
  type SubscriptionOptions,
  type UnitOfWork,
} from '../../event-store/event-store.ts';
import { describeExpectedVersion } from '../../event-store/expected-version.ts';
import {
  COMMIT_FUNCTION,
  DUPLICATE_INBOX_SQLSTATE,
  SCHEMA_NAME,
  quoteIdentifier,
  schemaSql,
} from './postgres-schema.ts';

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

interface EventRow {
  position: string;
  stream_id: string;
  version: string;
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata | null;
  time: Date;
}

const EVENT_COLUMNS = 'position, stream_id, version, id, type, data, metadata, time';
const DEFAULT_READ_ALL_MAX = 1_000;
const DEFAULT_BATCH_SIZE = 500;
const FIRST_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 10_000;
// How long readAll waits for in-flight transactions that hold back already committed events.
const READ_ALL_SETTLE_MS = 2_000;
const EMPTY: readonly never[] = [];
const SEQUENCER_UNLOCK = 'SELECT pg_advisory_unlock(hashtext($1), 0)';
// A group commit takes at most this many units and this much JSON (characters).
const MAX_GROUP_UNITS = 100;
const MAX_GROUP_BYTES = 1_000_000;

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
 * (re)creates (postgres-schema.ts): one statement per transaction, in autocommit, so one round trip.
 * Units committed while `maxConcurrentCommits` such calls are in flight are grouped into the next
 * call (group commit: one transaction and one WAL flush for all), each unit still succeeding or
 * failing on its own. A group's events are written by ONE insert under the sequencer, which assigns
 * the group transaction's xid, so the argument above holds for groups as for single units.
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const { url, schema } = options;
  if (!SCHEMA_NAME.test(schema)) {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      `postgres event store: schema must match ${String(SCHEMA_NAME)}, got ${JSON.stringify(schema)}`,
    );
  }
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new AppError(ERROR_CODES.CONFIG_INVALID, 'postgres event store: poolSize must be ≥ 1');
  }
  const maxConcurrentCommits = options.maxConcurrentCommits ?? Math.min(2, poolSize);
  if (!Number.isInteger(maxConcurrentCommits) || maxConcurrentCommits < 1) {
    throw new AppError(ERROR_CODES.CONFIG_INVALID, 'postgres event store: maxConcurrentCommits must be ≥ 1');
  }
  const now = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const s = quoteIdentifier(schema);
  const channels = { events: `${schema}_events`, scheduled: `${schema}_scheduled` };
  const lockKeys = {
    migrate: `${schema}:migrate`,
    streams: `${schema}:streams`,
    sequencer: `${schema}:sequencer`,
  };
  // Notifications carry this id, so that a process ignores the echo of its own commits.
  const origin = randomUUID();

  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);

  const committedListeners = new Set<(events: readonly CommittedEvent[]) => void>();
  const scheduledListeners = new Set<(dueAt: number) => void>();
  const subscriptions = new Map<string, RunningSubscription>();
  const inFlight = new Set<Promise<unknown>>();
  let started: Promise<void> | undefined;
  let listener: pg.Client | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;

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
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), 0)', [lockKeys.migrate]);
      await client.query(schemaSql(schema));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (notification) => onNotification(notification.channel, notification.payload));
    client.on('error', () => {
      // Reconnect in the background; subscriptions keep their safety poll meanwhile.
      if (listener === client) listener = undefined;
      client.end().catch(() => undefined);
      if (closing === undefined) setTimeout(() => void listen().catch(() => undefined), 1_000).unref();
    });
    await client.connect();
    await client.query(
      `LISTEN ${quoteIdentifier(channels.events)}; LISTEN ${quoteIdentifier(channels.scheduled)}`,
    );
    if (closing !== undefined) {
      await client.end();
      return;
    }
    listener = client;
    // Something may have committed while no one listened.
    wakeSubscriptions();
  }

  function onNotification(channel: string, payload: string | undefined): void {
    if (payload === undefined) return;
    let parsed: { o?: string; e?: [string, string, string | null][]; d?: number };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === origin) return;
    if (channel === channels.events) {
      wakeSubscriptions();
      if (committedListeners.size > 0 && parsed.e !== undefined) {
        emitCommitted(
          parsed.e.map(([streamId, type, correlationId]) => ({
            streamId,
            type,
            ...(correlationId !== null ? { correlationId } : {}),
          })),
        );
      }
    } else if (channel === channels.scheduled && typeof parsed.d === 'number') {
      emitScheduled(parsed.d);
    }
  }

  function emitCommitted(events: readonly CommittedEvent[]): void {
    for (const listen of committedListeners) {
      try {
        listen(events);
      } catch {
        // A live view's failure must not break a commit.
      }
    }
  }

  function emitScheduled(dueAt: number): void {
    for (const listen of scheduledListeners) {
      try {
        listen(dueAt);
      } catch {
        // idem
      }
    }
  }

  function wakeSubscriptions(): void {
    for (const subscription of subscriptions.values()) subscription.wake();
  }

  function start(): Promise<void> {
    started ??= (async () => {
      await migrate();
      await listen();
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

  async function query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    return (await pool.query<R>(text, values)).rows;
  }

  // ---------------------------------------------------------------- commit

  /** What the commit function returns for a group (see postgres-schema.ts). */
  interface GroupRow {
    outcomes: ('ok' | 'duplicate' | 'conflict')[];
    conflict_appends: (number | null)[];
    conflict_actuals: (string | null)[];
    next_versions: string[];
    last_positions: string[];
    written: boolean[];
    written_ids: string[] | null;
  }

  /** A unit waiting for (or in) a group commit. */
  interface QueuedUnit {
    unit: UnitOfWork;
    /** The unit's JSON for the commit function. */
    text: string;
    /** Its events, in order, for the local listeners (only those written are told). */
    events: (CommittedEvent & { id: string })[];
    /** Earliest later timer (Infinity when none), for the local listeners. */
    earliest: number;
    /** Retried alone after its group failed as a whole. */
    solo: boolean;
    resolve(result: CommitResult): void;
    reject(error: unknown): void;
  }

  const commitStatement = `SELECT * FROM ${s}.${COMMIT_FUNCTION}($1::jsonb)`;
  // Prepared once per pooled connection (the function's own statements are planned once too).
  const commitStatementName = `orderflow_commit_${schema}`;
  const queue: QueuedUnit[] = [];
  let committing = 0;

  /**
   * Queues a unit for the next group commit. Units wait only while `maxConcurrentCommits` groups
   * are already in flight; then everything queued meanwhile (up to MAX_GROUP_UNITS units and
   * MAX_GROUP_BYTES of JSON) goes in one call: one round trip, one transaction, one WAL flush.
   */
  function commitUnit(unit: UnitOfWork): Promise<CommitResult> {
    const prepared = prepareUnit(unit);
    return new Promise<CommitResult>((resolve, reject) => {
      queue.push({ ...prepared, unit, solo: false, resolve, reject });
      pump();
    });
  }

  function pump(): void {
    while (committing < maxConcurrentCommits && queue.length > 0) {
      const first = queue.shift()!;
      const group = [first];
      let bytes = first.text.length;
      while (
        !first.solo &&
        group.length < MAX_GROUP_UNITS &&
        queue.length > 0 &&
        !queue[0]!.solo &&
        bytes + queue[0]!.text.length <= MAX_GROUP_BYTES
      ) {
        const next = queue.shift()!;
        bytes += next.text.length;
        group.push(next);
      }
      committing++;
      void commitGroup(group).finally(() => {
        committing--;
        pump();
      });
    }
  }

  /**
   * The unit as JSON for the commit function: `at` (ISO time), `inbox` {c, m}, `appends`
   * [{s: streamId, x: expected version}], `events` [{a: 1-based append index, id, type, data, meta,
   * corr}], `messages` [{id, type, env}] (with the timers already due), `cancel` [ids], `later`
   * [{due, id, env}] with `sp` (the scheduled NOTIFY payload), `checkpoint` {id, pos}. Empty parts are
   * left out. Throws (before anything is queued) if the unit cannot be serialized.
   */
  function prepareUnit(unit: UnitOfWork): Pick<QueuedUnit, 'text' | 'events' | 'earliest'> {
    const at = now();
    const nowMs = at.getTime();
    const appends = unit.appends ?? EMPTY;
    const payload: Record<string, unknown> = { at: at.toISOString() };
    const inbox = unit.inbox;
    if (inbox !== undefined) payload.inbox = { c: inbox.consumer, m: inbox.messageId };
    const events: QueuedUnit['events'] = [];
    if (appends.length > 0) {
      payload.appends = appends.map((append) => ({ s: append.streamId, x: append.expectedVersion ?? 'any' }));
      const wire: unknown[] = [];
      appends.forEach((append, index) => {
        for (const event of append.events) {
          const id = event.id ?? uuidv7();
          const correlationId = event.metadata?.correlationId;
          const corr = typeof correlationId === 'string' ? correlationId : undefined;
          // `data` left out by JSON.stringify (undefined, a function) is stored as JSON null.
          wire.push({ a: index + 1, id, type: event.type, data: event.data, meta: event.metadata, corr });
          events.push({
            id,
            streamId: append.streamId,
            type: event.type,
            ...(corr !== undefined ? { correlationId: corr } : {}),
          });
        }
      });
      if (wire.length > 0) payload.events = wire;
    }
    const messages: Envelope[] = [...(unit.messages ?? EMPTY)];
    let earliest = Infinity;
    const later: ScheduledMessage[] = [];
    for (const scheduled of unit.schedule ?? EMPTY) {
      if (scheduled.dueAt <= nowMs) messages.push(scheduled.message);
      else {
        later.push(scheduled);
        earliest = Math.min(earliest, scheduled.dueAt);
      }
    }
    if (messages.length > 0) payload.messages = messages.map((m) => ({ id: m.id, type: m.type, env: m }));
    const cancelled = unit.cancelScheduled;
    if (cancelled !== undefined && cancelled.length > 0) payload.cancel = cancelled;
    if (later.length > 0) {
      payload.later = later.map((m) => ({ due: m.dueAt, id: m.message.id, env: m.message }));
      payload.sp = JSON.stringify({ o: origin, d: earliest });
    }
    const checkpoint = unit.checkpoint;
    if (checkpoint !== undefined)
      payload.checkpoint = { id: checkpoint.subscriptionId, pos: checkpoint.position };
    return { text: JSON.stringify(payload), events, earliest };
  }

  /**
   * Commits a group in one call; settles every unit of it, never throws. Without the test hook the
   * statement runs in autocommit (it is the transaction); with it, in BEGIN … hook … COMMIT, the hook
   * running once for the group. An error from the server means the whole call was rolled back: a
   * group is then retried unit by unit (each alone), so that one unit's failure is its own.
   */
  async function commitGroup(group: QueuedUnit[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      for (const queued of group) queued.reject(translateError(error, queued.unit));
      return;
    }
    let broken: Error | undefined;
    // The pool listens for errors of idle clients only: a connection that dies while this one is
    // checked out (server restart, pg_terminate_backend) must not crash the process.
    const onError = (error: Error): void => {
      broken ??= error;
    };
    client.on('error', onError);
    let open = false;
    let statementFailed = false;
    try {
      const text = `{"o":${JSON.stringify(origin)},"units":[${group.map((queued) => queued.text).join(',')}]}`;
      const call = async (): Promise<GroupRow> => {
        try {
          const result = await client.query<GroupRow>({
            name: commitStatementName,
            text: commitStatement,
            values: [text],
          });
          return result.rows[0]!;
        } catch (error) {
          statementFailed = true;
          throw error;
        }
      };
      let row: GroupRow;
      let hookError: unknown;
      if (options.beforeCommit === undefined) {
        row = await call();
      } else {
        await client.query('BEGIN');
        open = true;
        row = await call();
        const writes = row.outcomes.includes('ok');
        if (writes) {
          try {
            await options.beforeCommit();
          } catch (error) {
            hookError = error ?? new Error('beforeCommit failed');
          }
        }
        await client.query(writes && hookError === undefined ? 'COMMIT' : 'ROLLBACK');
        open = false;
      }
      settle(group, row, hookError);
    } catch (error) {
      if (open) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = ensureError(rollbackError);
        });
      }
      const code = (error as { code?: unknown }).code;
      // A call that failed without an answer from the server (connection lost): its outcome is
      // unknown, so it is neither retried nor is the connection reused.
      if (statementFailed && !(error instanceof pg.DatabaseError)) broken ??= ensureError(error);
      const rolledBack = statementFailed && error instanceof pg.DatabaseError && broken === undefined;
      if (rolledBack && code !== DUPLICATE_INBOX_SQLSTATE) {
        // The call may have failed inside the sequencer section (its INSERT), which leaves the
        // session lock held (only the transaction was rolled back): release it. (A warning when it
        // was not held; a connection that cannot is discarded, which releases it too.)
        await client.query(SEQUENCER_UNLOCK, [lockKeys.sequencer]).catch((unlockError: unknown) => {
          broken = ensureError(unlockError);
        });
      }
      if (rolledBack && broken === undefined && group.length > 1) {
        // Nothing of the group was written: each unit again, alone, ahead of newer ones.
        queue.unshift(...group.map((queued) => ({ ...queued, solo: true })));
        return;
      }
      for (const queued of group) {
        if (rolledBack && code === DUPLICATE_INBOX_SQLSTATE) {
          // A concurrent unit with the same inbox mark committed first; this one was rolled back.
          queued.resolve({ duplicate: true, appends: [] });
        } else {
          queued.reject(translateError(error, queued.unit));
        }
      }
    } finally {
      client.removeListener('error', onError);
      // A connection in an unknown state is discarded, never reused.
      client.release(broken);
    }
  }

  /** Hands every unit of a committed (or, with hookError, rolled-back) group its result. */
  function settle(group: readonly QueuedUnit[], row: GroupRow, hookError: unknown): void {
    const writtenIds = new Set(row.written_ids ?? EMPTY);
    if (hookError === undefined && writtenIds.size > 0) wakeSubscriptions();
    let offset = 0;
    group.forEach((queued, index) => {
      const appends = queued.unit.appends ?? EMPTY;
      const first = offset;
      offset += appends.length;
      const outcome = row.outcomes[index];
      if (outcome === 'duplicate') {
        queued.resolve({ duplicate: true, appends: [] });
      } else if (outcome === 'conflict') {
        const append = appends[row.conflict_appends[index] ?? 0]!;
        queued.reject(
          new ConcurrencyError(
            append.streamId,
            describeExpectedVersion(append.expectedVersion ?? 'any'),
            Number(row.conflict_actuals[index] ?? NO_STREAM_VERSION),
          ),
        );
      } else if (hookError !== undefined) {
        queued.reject(hookError);
      } else {
        const results: AppendResult[] = appends.map((_, i) => ({
          nextVersion: Number(row.next_versions[first + i]),
          lastPosition: Number(row.last_positions[first + i]),
          written: row.written[first + i] === true,
        }));
        // An id repeated within an append was written once: tell it once.
        const committed = queued.events
          .filter((event) => writtenIds.delete(event.id))
          .map(({ id: _id, ...event }): CommittedEvent => event);
        if (committed.length > 0 && committedListeners.size > 0) emitCommitted(committed);
        if (queued.earliest !== Infinity) emitScheduled(queued.earliest);
        queued.resolve({ duplicate: false, appends: results });
      }
    });
  }

  function translateError(error: unknown, unit: UnitOfWork): Error {
    const e = ensureError(error);
    const code = (e as { code?: unknown }).code;
    // A unique violation on events: the same event id was stored concurrently by another stream's
    // append. Retrying finds it stored (idempotent no-op), so report a retryable conflict.
    if (code === '23505' || code === '40P01') {
      const first = unit.appends?.[0];
      if (first !== undefined) {
        return new ConcurrencyError(
          first.streamId,
          describeExpectedVersion(first.expectedVersion ?? 'any'),
          -1,
        );
      }
    }
    return e;
  }

  // ---------------------------------------------------------------- reads

  /**
   * The safe head: the highest position below which nothing can appear any more (every event at or
   * below it is committed, and every transaction that could still commit one holds a larger
   * position; see the sequencer). Also the visible head, to know whether something is held back.
   */
  async function heads(): Promise<{ safe: number; visible: number }> {
    const rows = await query<{ safe: string | null; visible: string | null }>(
      `SELECT (SELECT position FROM ${s}.events WHERE tx < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY position DESC LIMIT 1) AS safe,
              (SELECT max(position) FROM ${s}.events) AS visible`,
    );
    const row = rows[0];
    return { safe: Number(row?.safe ?? -1), visible: Number(row?.visible ?? -1) };
  }

  async function readRange(after: number, upTo: number, types: readonly string[] | undefined, limit: number) {
    const rows = await query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${s}.events
        WHERE position > $1 AND position <= $2 AND ($3::text[] IS NULL OR type = ANY($3::text[]))
        ORDER BY position LIMIT $4`,
      [after, upTo, types ?? null, limit],
    );
    return rows.map(toStoredEvent);
  }

  async function readAll(after: number, maxCount: number, types?: readonly string[]): Promise<StoredEvent[]> {
    // Read-your-writes for callers: wait (briefly) for in-flight transactions that hold back
    // events already committed; then return what is safe, never a gap.
    const deadline = Date.now() + READ_ALL_SETTLE_MS;
    let delay = 2;
    let head = await heads();
    while (head.visible > head.safe && head.visible > after && Date.now() < deadline) {
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
      head = await heads();
    }
    if (head.safe <= after) return [];
    return readRange(after, head.safe, types, maxCount);
  }

  async function readCheckpoint(subscriptionId: string): Promise<number> {
    const rows = await query<{ position: string }>(
      `SELECT position FROM ${s}.checkpoints WHERE subscription_id = $1`,
      [subscriptionId],
    );
    return rows[0] === undefined ? -1 : Number(rows[0].position);
  }

  // ---------------------------------------------------------------- releaseDueMessages

  async function releaseDue(
    nowMs: number,
    limit: number,
  ): Promise<{ released: number; nextDueAt: number | null }> {
    // One statement: the due rows are claimed with SKIP LOCKED (another process releasing at the
    // same time takes other rows), deleted and copied into the outbox atomically.
    const released = await query<{ seq: string }>(
      `WITH due AS (
         SELECT seq FROM ${s}.scheduled_messages WHERE due_at <= $1
          ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED
       ), moved AS (
         DELETE FROM ${s}.scheduled_messages m USING due WHERE m.seq = due.seq
         RETURNING m.seq, m.due_at, m.envelope
       )
       INSERT INTO ${s}.outbox (id, type, envelope)
       SELECT envelope->>'id', envelope->>'type', envelope FROM moved ORDER BY due_at, seq
       RETURNING seq`,
      [nowMs, limit],
    );
    const next = await query<{ due_at: string | null }>(
      `SELECT min(due_at) AS due_at FROM ${s}.scheduled_messages`,
    );
    const nextDueAt = next[0]?.due_at;
    return {
      released: released.length,
      nextDueAt: nextDueAt === null || nextDueAt === undefined ? null : Number(nextDueAt),
    };
  }

  // ---------------------------------------------------------------- the store

  const store: PostgresEventStore = {
    channels,
    migrate,
    start,

    append(streamId, events, appendOptions) {
      return run(async () => {
        const result = await commitUnit({
          appends: [{ streamId, events, expectedVersion: appendOptions?.expectedVersion ?? 'any' }],
        });
        return result.appends[0]!;
      });
    },

    commit(unit) {
      return run(() => commitUnit(unit));
    },

    readStream(streamId, readOptions) {
      return run(async () => {
        const rows = await query<EventRow>(
          `SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
          [streamId, readOptions?.fromVersion ?? 0, readOptions?.maxCount ?? null],
        );
        return rows.map(toStoredEvent);
      });
    },

    streamVersion(streamId) {
      return run(async () => {
        const rows = await query<{ version: string }>(
          `SELECT version FROM ${s}.streams WHERE stream_id = $1`,
          [streamId],
        );
        return rows[0] === undefined ? NO_STREAM_VERSION : Number(rows[0].version);
      });
    },

    readAll(readOptions) {
      return run(() =>
        readAll(readOptions?.after ?? -1, readOptions?.maxCount ?? DEFAULT_READ_ALL_MAX, readOptions?.types),
      );
    },

    readCorrelated(correlationId) {
      return run(async () => {
        const rows = await query<EventRow>(
          `SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE correlation_id = $1 ORDER BY position`,
          [correlationId],
        );
        return rows.map(toStoredEvent);
      });
    },

    isHandled(consumer, messageId) {
      return run(async () => {
        const rows = await query(`SELECT 1 FROM ${s}.inbox WHERE consumer = $1 AND message_id = $2`, [
          consumer,
          messageId,
        ]);
        return rows.length > 0;
      });
    },

    subscribe(subscriptionOptions) {
      ensureOpen();
      const { subscriptionId } = subscriptionOptions;
      if (subscriptions.has(subscriptionId)) {
        throw new AppError(ERROR_CODES.INTERNAL, `subscription ${subscriptionId} is already running`);
      }
      const subscription = startSubscription(subscriptionOptions, {
        checkpoint: () => run(() => readCheckpoint(subscriptionId), true),
        heads: () => run(heads, true),
        readRange: (after, upTo, types, limit) => run(() => readRange(after, upTo, types, limit), true),
        commit: (unit) => run(() => commitUnit(unit), true),
        pollIntervalMs,
        onStopped: () => subscriptions.delete(subscriptionId),
      });
      subscriptions.set(subscriptionId, subscription);
      return subscription.handle;
    },

    readCheckpoint(subscriptionId) {
      return run(() => readCheckpoint(subscriptionId));
    },

    headPosition() {
      return run(async () => (await heads()).visible);
    },

    releaseDueMessages(nowMs, limit = 1_000) {
      return run(() => releaseDue(nowMs, limit));
    },

    connected: () => listener !== undefined,

    onScheduled(listen) {
      scheduledListeners.add(listen);
      return () => scheduledListeners.delete(listen);
    },

    onEventsCommitted(listen) {
      committedListeners.add(listen);
      return () => committedListeners.delete(listen);
    },

    close() {
      closing ??= (async () => {
        await Promise.all([...subscriptions.values()].map((subscription) => subscription.handle.stop()));
        await Promise.allSettled([...inFlight]);
        const current = listener;
        listener = undefined;
        await current?.end().catch(() => undefined);
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

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: Number(row.version),
    position: Number(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata ?? {},
    time: row.time.toISOString(),
  };
}

// ---------------------------------------------------------------- subscriptions

interface SubscriptionDependencies {
  checkpoint(): Promise<number>;
  heads(): Promise<{ safe: number; visible: number }>;
  readRange(
    after: number,
    upTo: number,
    types: readonly string[] | undefined,
    limit: number,
  ): Promise<StoredEvent[]>;
  commit(unit: UnitOfWork): Promise<CommitResult>;
  pollIntervalMs: number;
  onStopped(): void;
}

interface RunningSubscription {
  readonly handle: EventSubscription;
  wake(): void;
}

interface CaughtUpWaiter {
  target: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The catch-up loop: reads up to the safe head only, so a late-committing transaction is waited
 * for, never skipped. Woken by local commits and NOTIFY; polls every `pollIntervalMs` as a safety
 * net, and quickly while committed events are held back by an in-flight transaction.
 */
function startSubscription(
  options: SubscriptionOptions,
  deps: SubscriptionDependencies,
): RunningSubscription {
  const { subscriptionId, handler, onError } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new AppError(
      ERROR_CODES.INTERNAL,
      `subscription ${subscriptionId}: batchSize must be a positive integer`,
    );
  }
  const types = options.types;
  let position: number | undefined;
  let stopping = false;
  let wakeUp: (() => void) | undefined;
  let woken = false;
  let waiters: CaughtUpWaiter[] = [];

  function wake(): void {
    woken = true;
    const resolve = wakeUp;
    wakeUp = undefined;
    resolve?.();
  }

  function pause(ms: number): Promise<void> {
    if (woken || stopping) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(wake, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      woken = false;
    });
  }

  function settleWaiters(): void {
    if (waiters.length === 0 || position === undefined) return;
    const current = position;
    const pending: CaughtUpWaiter[] = [];
    for (const waiter of waiters) {
      if (waiter.target <= current) waiter.resolve();
      else pending.push(waiter);
    }
    waiters = pending;
  }

  function report(error: unknown): void {
    try {
      onError?.(ensureError(error));
    } catch {
      // A failing error callback must not end the subscription.
    }
  }

  async function loop(): Promise<void> {
    await Promise.resolve();
    let retryDelay = FIRST_RETRY_DELAY_MS;
    let heldBackDelay = 2;
    while (!stopping) {
      try {
        position ??= await deps.checkpoint();
        woken = false;
        const head = await deps.heads();
        if (head.safe <= position) {
          settleWaiters();
          if (head.visible > head.safe) {
            // Committed events wait for an older in-flight transaction: look again soon.
            await pause(heldBackDelay);
            heldBackDelay = Math.min(heldBackDelay * 2, 100);
          } else {
            heldBackDelay = 2;
            await pause(deps.pollIntervalMs);
          }
          continue;
        }
        heldBackDelay = 2;
        const events = await deps.readRange(position, head.safe, types, batchSize);
        const next = events.length === batchSize ? events[events.length - 1]!.position : head.safe;
        const unit = { appends: [] as StreamAppend[], messages: [] as Envelope[] };
        if (events.length > 0) await handler(events, { unit });
        await deps.commit({
          appends: unit.appends,
          messages: unit.messages,
          checkpoint: { subscriptionId, position: next },
        });
        position = next;
        retryDelay = FIRST_RETRY_DELAY_MS;
        settleWaiters();
      } catch (error) {
        report(error);
        if (stopping) break;
        const until = Date.now() + retryDelay;
        while (!stopping && Date.now() < until) {
          woken = false;
          await pause(until - Date.now());
        }
        retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY_MS);
      }
    }
  }

  const running = loop()
    .catch(report)
    .finally(() => {
      const stopped = new AppError(ERROR_CODES.SHUTTING_DOWN, `subscription ${subscriptionId} stopped`);
      for (const waiter of waiters) waiter.reject(stopped);
      waiters = [];
      deps.onStopped();
    });

  const handle: EventSubscription = {
    subscriptionId,
    async caughtUp() {
      const target = (await deps.heads()).visible;
      if (position !== undefined && target <= position) return;
      if (stopping) {
        throw new AppError(ERROR_CODES.SHUTTING_DOWN, `subscription ${subscriptionId} stopped`);
      }
      await new Promise<void>((resolve, reject) => {
        waiters.push({ target, resolve, reject });
        settleWaiters();
        wake();
      });
    },
    async stop() {
      stopping = true;
      wake();
      await running;
    },
  };
  return { handle, wake };
}
