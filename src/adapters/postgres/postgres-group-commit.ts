import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { Envelope } from '../../kernel/envelope.ts';
import { AppError, ConcurrencyError, ERROR_CODES, ensureError } from '../../kernel/errors.ts';
import {
  NO_STREAM_VERSION,
  type AppendResult,
  type CommitResult,
  type CommittedEvent,
  type ScheduledMessage,
  type UnitOfWork,
} from '../../event-store/event-store.ts';
import { describeExpectedVersion } from '../../event-store/expected-version.ts';
import type { PostgresNotifications } from './postgres-notifications.ts';
import {
  COMMIT_FUNCTION,
  DUPLICATE_INBOX_SQLSTATE,
  quoteIdentifier,
  type CommitUnitsRow,
} from './postgres-schema.ts';

export interface PostgresGroupCommitOptions {
  pool: pg.Pool;
  schema: string;
  /** This process's id in NOTIFY payloads. */
  origin: string;
  now: () => Date;
  /** Group commits in flight at once, each on its own pooled connection. */
  maxConcurrentCommits: number;
  /** Test hook (PostgresEventStoreOptions.beforeCommit). */
  beforeCommit: (() => Promise<void>) | undefined;
  /** Tells the local listeners of the events and timers of committed units. */
  notifications: PostgresNotifications;
  /** A group wrote events: the local subscriptions look for them. */
  onWritten: () => void;
}

export interface PostgresGroupCommit {
  /**
   * Queues a unit for the next group commit and settles with its own outcome. Throws (before
   * anything is queued) if the unit cannot be serialized.
   */
  commit(unit: UnitOfWork): Promise<CommitResult>;
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

const EMPTY: readonly never[] = [];
const SEQUENCER_UNLOCK = 'SELECT pg_advisory_unlock(hashtext($1), 0)';
// A group commit takes at most this many units and this much JSON (characters).
const MAX_GROUP_UNITS = 100;
const MAX_GROUP_BYTES = 1_000_000;

/**
 * Group commit on the commit function `commit_units_v1` (sql/commit-units-v1.sql): one statement
 * per transaction, in autocommit, so one round trip. Units committed while `maxConcurrentCommits`
 * such calls are in flight are grouped into the next call (one transaction and one WAL flush for
 * all), each unit still succeeding or failing on its own. A group's events are written by ONE insert
 * under the sequencer, which assigns the group transaction's xid, so gap safety (see
 * postgres-event-store.ts and docs/postgres.md) holds for groups as for single units.
 */
export function createPostgresGroupCommit(options: PostgresGroupCommitOptions): PostgresGroupCommit {
  const { pool, schema, origin, now, maxConcurrentCommits, beforeCommit, notifications, onWritten } = options;
  const commitStatement = `SELECT * FROM ${quoteIdentifier(schema)}.${COMMIT_FUNCTION}($1::jsonb)`;
  // Prepared once per pooled connection (the function's own statements are planned once too).
  const commitStatementName = `orderflow_commit_${schema}`;
  const sequencerKey = `${schema}:sequencer`;
  const queue: QueuedUnit[] = [];
  let committing = 0;

  /**
   * Queues a unit for the next group commit. Units wait only while `maxConcurrentCommits` groups
   * are already in flight; then everything queued meanwhile (up to MAX_GROUP_UNITS units and
   * MAX_GROUP_BYTES of JSON) goes in one call: one round trip, one transaction, one WAL flush.
   */
  function commit(unit: UnitOfWork): Promise<CommitResult> {
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
      const call = async (): Promise<CommitUnitsRow> => {
        try {
          const result = await client.query<CommitUnitsRow>({
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
      let row: CommitUnitsRow;
      let hookError: unknown;
      if (beforeCommit === undefined) {
        row = await call();
      } else {
        await client.query('BEGIN');
        open = true;
        row = await call();
        const writes = row.outcomes.includes('ok');
        if (writes) {
          try {
            await beforeCommit();
          } catch (error) {
            hookError = error ?? new AppError(ERROR_CODES.INTERNAL, 'beforeCommit failed');
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
        await client.query(SEQUENCER_UNLOCK, [sequencerKey]).catch((unlockError: unknown) => {
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
  function settle(group: readonly QueuedUnit[], row: CommitUnitsRow, hookError: unknown): void {
    const writtenIds = new Set(row.written_ids ?? EMPTY);
    if (hookError === undefined && writtenIds.size > 0) onWritten();
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
        if (committed.length > 0 && notifications.hasCommittedListeners()) {
          notifications.emitCommitted(committed);
        }
        if (queued.earliest !== Infinity) notifications.emitScheduled(queued.earliest);
        queued.resolve({ duplicate: false, appends: results });
      }
    });
  }

  return { commit };
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
