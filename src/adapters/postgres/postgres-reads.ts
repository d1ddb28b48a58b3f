import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { NO_STREAM_VERSION, type EventMetadata, type StoredEvent } from '../../event-store/event-store.ts';
import { quoteIdentifier } from './postgres-schema.ts';

/** Runs one statement on a pooled connection and returns its rows. */
export type PostgresQuery = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

/** The safe (readable) and visible heads; see `heads()`. */
export interface PostgresHeads {
  safe: number;
  visible: number;
}

/** Reads of the events table: streams, correlations, the log in position order and its heads. */
export interface PostgresReads {
  /**
   * The safe head: the highest position below which nothing can appear any more (every event at or
   * below it is committed, and every transaction that could still commit one holds a larger
   * position; see the sequencer). Also the visible head, to know whether something is held back.
   */
  heads(): Promise<PostgresHeads>;
  /** Events with `after < position <= upTo` (of `types`, when given), in position order. */
  readRange(
    after: number,
    upTo: number,
    types: readonly string[] | undefined,
    limit: number,
  ): Promise<StoredEvent[]>;
  /**
   * The log after `after`, up to the safe head: waits (briefly) for in-flight transactions that hold
   * back events already committed, so a caller reads its own writes; never returns a gap.
   */
  readAll(after: number, maxCount: number, types?: readonly string[]): Promise<StoredEvent[]>;
  readStream(streamId: string, fromVersion: number, maxCount: number | null): Promise<StoredEvent[]>;
  streamVersion(streamId: string): Promise<number>;
  readCorrelated(correlationId: string): Promise<StoredEvent[]>;
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
// How long readAll waits for in-flight transactions that hold back already committed events.
const READ_ALL_SETTLE_MS = 2_000;

export function createPostgresReads(query: PostgresQuery, schema: string): PostgresReads {
  const s = quoteIdentifier(schema);

  async function heads(): Promise<PostgresHeads> {
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

  return {
    heads,
    readRange,

    async readAll(after, maxCount, types) {
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
    },

    async readStream(streamId, fromVersion, maxCount) {
      const rows = await query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
        [streamId, fromVersion, maxCount],
      );
      return rows.map(toStoredEvent);
    },

    async streamVersion(streamId) {
      const rows = await query<{ version: string }>(`SELECT version FROM ${s}.streams WHERE stream_id = $1`, [
        streamId,
      ]);
      return rows[0] === undefined ? NO_STREAM_VERSION : Number(rows[0].version);
    },

    async readCorrelated(correlationId) {
      const rows = await query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE correlation_id = $1 ORDER BY position`,
        [correlationId],
      );
      return rows.map(toStoredEvent);
    },
  };
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
