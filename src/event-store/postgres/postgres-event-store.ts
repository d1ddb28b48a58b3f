import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { Envelope } from '../../messaging/message.ts';
import { AppError, ConcurrencyError, ERROR_CODES, ensureError } from '../../shared/errors.ts';
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
} from '../event-store.ts';
import { describeExpectedVersion, matchesExpectedVersion } from '../expected-version.ts';
import { SCHEMA_NAME, quoteIdentifier, schemaSql } from './postgres-schema.ts';

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
   * Test hook: runs inside every unit's transaction just before COMMIT; throwing rolls the unit back.
   * Used by the gap-safety test to hold transactions open and abort some. Never set in production.
   * @default undefined
   */
  beforeCommit?: () => Promise<void>;
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

interface PendingEvent {
  streamId: string;
  version: number;
  id: string;
  type: string;
  data: string;
  metadata: string | null;
  correlationId: string | null;
}

const EVENT_COLUMNS = 'position, stream_id, version, id, type, data, metadata, time';
const DEFAULT_READ_ALL_MAX = 1_000;
const DEFAULT_BATCH_SIZE = 500;
const FIRST_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 10_000;
// How long readAll waits for in-flight transactions that hold back already committed events.
const READ_ALL_SETTLE_MS = 2_000;
// NOTIFY payloads are limited to 8000 bytes; keep a margin.
const MAX_NOTIFY_PAYLOAD = 7_000;
const EMPTY: readonly never[] = [];

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
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const { url, schema } = options;
  if (!SCHEMA_NAME.test(schema)) {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      'validation',
      `postgres event store: schema must match ${String(SCHEMA_NAME)}, got ${JSON.stringify(schema)}`,
    );
  }
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      'validation',
      'postgres event store: poolSize must be ≥ 1',
    );
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
      throw new AppError(ERROR_CODES.STORE_CLOSED, 'unavailable', 'the event store is closed');
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

  async function commitUnit(unit: UnitOfWork): Promise<CommitResult> {
    const at = now();
    const nowMs = at.getTime();
    const client = await pool.connect();
    let broken: Error | undefined;
    let sequencerHeld = false;
    let open = false;
    try {
      await client.query('BEGIN');
      open = true;
      const inbox = unit.inbox;
      // Cheap early check; the INSERT below (after the events) is the race-free one.
      if (inbox !== undefined) {
        const seen = await client.query(`SELECT 1 FROM ${s}.inbox WHERE consumer = $1 AND message_id = $2`, [
          inbox.consumer,
          inbox.messageId,
        ]);
        if (seen.rowCount !== 0) {
          await client.query('ROLLBACK');
          open = false;
          return { duplicate: true, appends: [] };
        }
      }

      const appends = unit.appends ?? EMPTY;
      const results: AppendResult[] = [];
      const committed: CommittedEvent[] = [];
      const withEvents = appends.filter((append) => append.events.length > 0);
      if (withEvents.length > 0) {
        const streamIds = [...new Set(withEvents.map((append) => append.streamId))];
        // Per-stream locks, taken in hash order (no deadlock between units touching several
        // streams). Advisory, so they do not assign a transaction id (see the sequencer below).
        await client.query(
          `SELECT pg_advisory_xact_lock(hashtext($1), h)
             FROM (SELECT DISTINCT hashtext(id) AS h FROM unnest($2::text[]) AS id ORDER BY 1) AS locks`,
          [lockKeys.streams, streamIds],
        );
        const versions = new Map<string, number>();
        for (const row of (
          await client.query<{ stream_id: string; version: string }>(
            `SELECT stream_id, version FROM ${s}.streams WHERE stream_id = ANY($1::text[])`,
            [streamIds],
          )
        ).rows) {
          versions.set(row.stream_id, Number(row.version));
        }
        const callerIds = withEvents.flatMap((append) =>
          append.events.flatMap((event) => (event.id === undefined ? [] : [event.id])),
        );
        const stored = new Map<string, { position: number; version: number }>();
        if (callerIds.length > 0) {
          for (const row of (
            await client.query<{ id: string; position: string; version: string }>(
              `SELECT id, position, version FROM ${s}.events WHERE id = ANY($1::text[])`,
              [callerIds],
            )
          ).rows) {
            stored.set(row.id, { position: Number(row.position), version: Number(row.version) });
          }
        }

        const pending: PendingEvent[] = [];
        const pendingOf: { index: number; first: number; count: number }[] = [];
        for (let index = 0; index < appends.length; index++) {
          const append = appends[index]!;
          const planned = planAppend(append, versions, stored, pending);
          results.push(planned.result);
          if (planned.count > 0) {
            pendingOf.push({ index, first: pending.length - planned.count, count: planned.count });
            versions.set(append.streamId, planned.result.nextVersion);
          }
        }

        if (pending.length > 0) {
          // The sequencer: this transaction's xid is assigned by this INSERT (its first write),
          // and its positions drawn, while no other writer does the same.
          await client.query('SELECT pg_advisory_lock(hashtext($1), 0)', [lockKeys.sequencer]);
          sequencerHeld = true;
          let inserted: { id: string; position: string }[];
          try {
            inserted = (
              await client.query<{ id: string; position: string }>(
                `INSERT INTO ${s}.events (stream_id, version, id, type, data, metadata, correlation_id, time)
                 SELECT e.stream_id, e.version, e.id, e.type, e.data::jsonb, e.metadata::jsonb, e.correlation_id, $8
                   FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                        WITH ORDINALITY AS e(stream_id, version, id, type, data, metadata, correlation_id, n)
                  ORDER BY e.n
                 RETURNING id, position`,
                [
                  pending.map((e) => e.streamId),
                  pending.map((e) => e.version),
                  pending.map((e) => e.id),
                  pending.map((e) => e.type),
                  pending.map((e) => e.data),
                  pending.map((e) => e.metadata),
                  pending.map((e) => e.correlationId),
                  at,
                ],
              )
            ).rows;
          } catch (error) {
            // The transaction is aborted: roll back first, then the session lock can be released.
            await client.query('ROLLBACK');
            open = false;
            throw error;
          } finally {
            await client.query('SELECT pg_advisory_unlock(hashtext($1), 0)', [lockKeys.sequencer]);
            sequencerHeld = false;
          }
          const positions = new Map(inserted.map((row) => [row.id, Number(row.position)]));
          for (const { index, first, count } of pendingOf) {
            const result = results[index]!;
            result.lastPosition = positions.get(pending[first + count - 1]!.id) ?? -1;
          }
          for (const event of pending) {
            committed.push({
              streamId: event.streamId,
              type: event.type,
              ...(event.correlationId !== null ? { correlationId: event.correlationId } : {}),
            });
          }
          const touched = [...new Set(pending.map((e) => e.streamId))];
          await client.query(
            `INSERT INTO ${s}.streams (stream_id, version) SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version`,
            [touched, touched.map((id) => versions.get(id)!)],
          );
        }
      } else {
        for (const append of appends) {
          // An empty append writes nothing but still checks its expected version.
          const rows = await client.query<{ version: string }>(
            `SELECT version FROM ${s}.streams WHERE stream_id = $1`,
            [append.streamId],
          );
          const current = rows.rows[0] === undefined ? NO_STREAM_VERSION : Number(rows.rows[0].version);
          const expected = append.expectedVersion ?? 'any';
          if (!matchesExpectedVersion(expected, current)) {
            throw new ConcurrencyError(append.streamId, describeExpectedVersion(expected), current);
          }
          results.push({ nextVersion: current, lastPosition: -1, written: false });
        }
      }

      if (inbox !== undefined) {
        // Waits for a concurrent unit holding the same mark; no row means it committed first.
        const marked = await client.query(
          `INSERT INTO ${s}.inbox (consumer, message_id, handled_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
          [inbox.consumer, inbox.messageId, at],
        );
        if (marked.rowCount === 0) {
          await client.query('ROLLBACK');
          open = false;
          return { duplicate: true, appends: [] };
        }
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
      if (messages.length > 0) {
        await client.query(
          `INSERT INTO ${s}.outbox (id, type, envelope)
           SELECT m.id, m.type, m.envelope::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS m(id, type, envelope, n)
            ORDER BY m.n`,
          [messages.map((m) => m.id), messages.map((m) => m.type), messages.map((m) => JSON.stringify(m))],
        );
      }
      const cancelled = unit.cancelScheduled;
      if (cancelled !== undefined && cancelled.length > 0) {
        await client.query(`DELETE FROM ${s}.scheduled_messages WHERE message_id = ANY($1::text[])`, [
          cancelled,
        ]);
      }
      if (later.length > 0) {
        await client.query(
          `INSERT INTO ${s}.scheduled_messages (due_at, envelope, message_id)
           SELECT m.due_at, m.envelope::jsonb, m.id FROM unnest($1::bigint[], $2::text[], $3::text[]) AS m(due_at, envelope, id)`,
          [
            later.map((m) => m.dueAt),
            later.map((m) => JSON.stringify(m.message)),
            later.map((m) => m.message.id),
          ],
        );
        await client.query('SELECT pg_notify($1, $2)', [
          channels.scheduled,
          JSON.stringify({ o: origin, d: earliest }),
        ]);
      }
      const checkpoint = unit.checkpoint;
      if (checkpoint !== undefined) {
        await client.query(
          `INSERT INTO ${s}.checkpoints (subscription_id, position, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (subscription_id) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
          [checkpoint.subscriptionId, checkpoint.position, at],
        );
      }
      if (committed.length > 0) {
        await client.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [
          channels.events,
          notifyPayloads(committed),
        ]);
      }
      if (options.beforeCommit !== undefined) await options.beforeCommit();
      await client.query('COMMIT');
      open = false;

      if (committed.length > 0) {
        wakeSubscriptions();
        if (committedListeners.size > 0) emitCommitted(committed);
      }
      if (earliest !== Infinity) emitScheduled(earliest);
      return { duplicate: false, appends: results };
    } catch (error) {
      if (open) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = ensureError(rollbackError);
        });
      }
      if (sequencerHeld) broken ??= new Error('sequencer lock left held');
      throw translateError(error, unit);
    } finally {
      // A connection in an unknown state is discarded, never reused.
      client.release(broken);
    }
  }

  function notifyPayloads(events: readonly CommittedEvent[]): string[] {
    const payloads: string[] = [];
    let batch: [string, string, string | null][] = [];
    let size = 0;
    const flush = (): void => {
      if (batch.length > 0) payloads.push(JSON.stringify({ o: origin, e: batch }));
      batch = [];
      size = 0;
    };
    for (const event of events) {
      const entry: [string, string, string | null] = [
        event.streamId,
        event.type,
        event.correlationId ?? null,
      ];
      const entrySize = Buffer.byteLength(JSON.stringify(entry)) + 1;
      if (size + entrySize > MAX_NOTIFY_PAYLOAD) flush();
      // An entry too large on its own is dropped from the notification (the wake-up still happens).
      if (entrySize <= MAX_NOTIFY_PAYLOAD) {
        batch.push(entry);
        size += entrySize;
      }
    }
    flush();
    if (payloads.length === 0) payloads.push(JSON.stringify({ o: origin, e: [] }));
    return payloads;
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
        throw new AppError(
          ERROR_CODES.INTERNAL,
          'internal',
          `subscription ${subscriptionId} is already running`,
        );
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

/** Checks one append against the locked stream versions and queues its new events. */
function planAppend(
  append: StreamAppend,
  versions: ReadonlyMap<string, number>,
  stored: ReadonlyMap<string, { position: number; version: number }>,
  pending: PendingEvent[],
): { result: AppendResult; count: number } {
  const { streamId, events } = append;
  const expected = append.expectedVersion ?? 'any';
  const current = versions.get(streamId) ?? NO_STREAM_VERSION;
  if (events.length === 0) {
    if (!matchesExpectedVersion(expected, current)) {
      throw new ConcurrencyError(streamId, describeExpectedVersion(expected), current);
    }
    return { result: { nextVersion: current, lastPosition: -1, written: false }, count: 0 };
  }
  // Every event already stored (a retry after a lost reply): report what the original append
  // reported, whatever the version now.
  let lastFound: { position: number; version: number } | undefined;
  let storedCount = 0;
  for (const event of events) {
    const found = event.id === undefined ? undefined : stored.get(event.id);
    if (found !== undefined) {
      storedCount++;
      lastFound = found;
    }
  }
  if (storedCount === events.length && lastFound !== undefined) {
    return {
      result: { nextVersion: lastFound.version, lastPosition: lastFound.position, written: false },
      count: 0,
    };
  }
  if (!matchesExpectedVersion(expected, current)) {
    throw new ConcurrencyError(streamId, describeExpectedVersion(expected), current);
  }
  let version = current;
  const seen = new Set<string>();
  let count = 0;
  for (const event of events) {
    if (event.id !== undefined) {
      if (stored.has(event.id) || seen.has(event.id)) continue;
      seen.add(event.id);
    }
    version++;
    count++;
    const correlationId = event.metadata?.correlationId;
    pending.push({
      streamId,
      version,
      id: event.id ?? uuidv7(),
      type: event.type,
      data: JSON.stringify(event.data) ?? 'null',
      metadata: event.metadata === undefined ? null : JSON.stringify(event.metadata),
      correlationId: typeof correlationId === 'string' ? correlationId : null,
    });
  }
  return { result: { nextVersion: version, lastPosition: -1, written: count > 0 }, count };
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
      'internal',
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
      const stopped = new AppError(
        ERROR_CODES.SHUTTING_DOWN,
        'unavailable',
        `subscription ${subscriptionId} stopped`,
      );
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
        throw new AppError(
          ERROR_CODES.SHUTTING_DOWN,
          'unavailable',
          `subscription ${subscriptionId} stopped`,
        );
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
