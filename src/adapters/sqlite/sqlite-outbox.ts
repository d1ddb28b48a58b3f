import type { Envelope } from '../../kernel/envelope.ts';
import type { SqliteDatabase, WriteContext } from './sqlite-database.ts';

/**
 * The transactional outbox of the embedded mode. Messages are inserted in the same transaction as
 * the events and state changes that caused them, and become visible only when it commits.
 *
 * In embedded mode this table is also the bus's durable log: the embedded transport reads it
 * directly (committed rows are handed to it in process, history is read back after a restart), so
 * no relay copies messages from one table to another. Rows are deleted once every consumer group
 * has moved past them (`prune`).
 */
export interface OutboxRecord {
  /** Position in the outbox, strictly increasing in commit order. */
  seq: number;
  message: Envelope;
  /** When set, only this consumer group receives the message (dead-letter redrive). */
  targetGroup: string | null;
}

export interface SqliteOutbox {
  /** Inserts messages inside a queued write; listeners hear of them after the commit. */
  insert(context: WriteContext, messages: readonly Envelope[], targetGroup?: string): void;
  /** Committed records with `seq > after`, oldest first. */
  readAfter(after: number, limit: number): OutboxRecord[];
  /** Highest seq ever committed (0 when none). */
  head(): number;
  /** Deletes records with `seq <= upTo`. */
  prune(upTo: number): Promise<number>;
  /** Hears of records after they commit, in seq order, as the objects that were inserted. */
  onCommitted(listener: (records: readonly OutboxRecord[]) => void): () => void;
}

const SCHEMA = `
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  target_group TEXT,
  envelope TEXT NOT NULL
) STRICT;
`;

export function createSqliteOutbox(database: SqliteDatabase): SqliteOutbox {
  const { db } = database;
  database.migrate('0001_outbox', SCHEMA);
  const insertRow = db.prepare<[string, string, string | null, string]>(
    'INSERT INTO outbox (id, type, target_group, envelope) VALUES (?, ?, ?, ?)',
  );
  const selectAfter = db.prepare<
    [number, number],
    { seq: number; target_group: string | null; envelope: string }
  >('SELECT seq, target_group, envelope FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
  // AUTOINCREMENT keeps seq monotonic even after pruning empties the table.
  const selectHead = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'");
  const deleteUpTo = db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?');
  const listeners = new Set<(records: readonly OutboxRecord[]) => void>();

  return {
    insert(context, messages, targetGroup) {
      if (messages.length === 0) return;
      const records: OutboxRecord[] = [];
      for (const message of messages) {
        const result = insertRow.run(message.id, message.type, targetGroup ?? null, JSON.stringify(message));
        records.push({ seq: Number(result.lastInsertRowid), message, targetGroup: targetGroup ?? null });
      }
      if (listeners.size > 0) {
        context.afterCommit(() => {
          for (const listener of listeners) listener(records);
        });
      }
    },
    readAfter(after, limit) {
      return selectAfter.all(after, limit).map((row) => ({
        seq: row.seq,
        targetGroup: row.target_group,
        message: JSON.parse(row.envelope) as Envelope,
      }));
    },
    head() {
      return selectHead.get()?.seq ?? 0;
    },
    prune(upTo) {
      return database.write(() => deleteUpTo.run(upTo).changes);
    },
    onCommitted(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
