import pg from 'pg';
import type { Envelope } from '../../kernel/envelope.ts';
import type { OutboxRecord, OutboxStore } from '../../messaging/outbox/outbox-store.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import { checkSchemaName, quoteIdentifier } from './postgres-schema.ts';

export interface PostgresOutboxOptions {
  /** Connection string of the event store's database. */
  url: string;
  /** The event store's schema (its `outbox` table must exist: start the event store first). */
  schema: string;
}

export interface PostgresOutbox extends OutboxStore {
  /** Applies the additive migration (`published_at`, the partial index, the NOTIFY trigger). */
  start(): Promise<void>;
  tryLead(): Promise<boolean>;
  resign(): Promise<void>;
  prunePublished(before: Date, limit: number): Promise<number>;
  /** Releases the lead and the connection. */
  close(): Promise<void>;
  /** The NOTIFY channel the outbox trigger signals on. */
  readonly channel: string;
}

/**
 * The relay's side of the PostgreSQL outbox (the table written by `postgres-event-store.ts` in each
 * unit of work, and by `releaseDueMessages`).
 *
 * - Unpublished = `published_at IS NULL` (partial index on seq), so a row committed late, behind a
 *   row already relayed, is still found: nothing is skipped, no visibility rule is needed.
 * - A statement-level trigger NOTIFYs `<schema>_outbox` on every insert; it is delivered at COMMIT.
 * - Leadership: a session advisory lock `hashtext('<schema>:relay')` on one dedicated connection,
 *   which also LISTENs and runs the relay's reads and marks. If the connection drops, the server
 *   releases the lock and another process's relay takes over; this one asks again on its next round.
 */
export function createPostgresOutbox(options: PostgresOutboxOptions): PostgresOutbox {
  const { url, schema } = options;
  checkSchemaName(schema, 'postgres outbox');
  const s = quoteIdentifier(schema);
  const channel = `${schema}_outbox`;
  const lockKey = `${schema}:relay`;
  const listeners = new Set<() => void>();
  let client: pg.Client | undefined;
  let leading = false;
  let closed = false;

  async function migrate(): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1), 0)', [`${schema}:migrate`]);
      // Checked first: ALTER TABLE / CREATE TRIGGER lock the table even when there is nothing to do.
      const column = await c.query(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'outbox' AND column_name = 'published_at'`,
        [schema],
      );
      if (column.rowCount === 0) {
        await c.query(`ALTER TABLE ${s}.outbox ADD COLUMN IF NOT EXISTS published_at timestamptz`);
      }
      await c.query(
        `CREATE INDEX IF NOT EXISTS outbox_unpublished ON ${s}.outbox (seq) WHERE published_at IS NULL`,
      );
      const trigger = await c.query(
        `SELECT 1 FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace
          WHERE n.nspname = $1 AND r.relname = 'outbox' AND t.tgname = 'outbox_notify'`,
        [schema],
      );
      if (trigger.rowCount === 0) {
        await c.query(
          `CREATE OR REPLACE FUNCTION ${s}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_notify('${channel}', ''); RETURN NULL; END $$`,
        );
        await c.query(
          `CREATE TRIGGER outbox_notify AFTER INSERT ON ${s}.outbox
           FOR EACH STATEMENT EXECUTE FUNCTION ${s}.outbox_notify()`,
        );
      }
      await c.query('COMMIT');
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  function drop(c: pg.Client): void {
    if (client === c) {
      client = undefined;
      leading = false;
    }
    c.end().catch(() => undefined);
  }

  async function connection(): Promise<pg.Client> {
    if (client !== undefined) return client;
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => drop(c));
    c.on('end', () => drop(c));
    c.on('notification', () => {
      for (const listener of listeners) {
        try {
          listener();
        } catch {
          // a listener's failure is its own
        }
      }
    });
    await c.connect();
    if (closed) {
      await c.end();
      throw new AppError(ERROR_CODES.STORE_CLOSED, 'the outbox is closed');
    }
    client = c;
    return c;
  }

  async function leader(): Promise<pg.Client> {
    if (!leading || client === undefined) {
      throw new AppError(ERROR_CODES.RELAY_NOT_LEADER, 'this process does not lead the outbox relay');
    }
    return client;
  }

  async function resign(): Promise<void> {
    const c = client;
    client = undefined;
    leading = false;
    // Ending the session releases the lock and the LISTEN.
    await c?.end().catch(() => undefined);
  }

  return {
    channel,
    start: migrate,
    resign,

    async tryLead() {
      if (closed) return false;
      if (leading && client !== undefined) return true;
      const c = await connection();
      const result = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), 0) AS ok', [
        lockKey,
      ]);
      if (result.rows[0]?.ok !== true) return false;
      await c.query(`LISTEN ${quoteIdentifier(channel)}`);
      leading = client === c;
      return leading;
    },

    async fetchUnpublished(limit) {
      const c = await leader();
      const result = await c.query<{ seq: string; target_group: string | null; envelope: Envelope }>(
        `SELECT seq, target_group, envelope FROM ${s}.outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1`,
        [limit],
      );
      return result.rows.map((row): OutboxRecord => ({
        seq: Number(row.seq),
        targetGroup: row.target_group,
        message: row.envelope,
      }));
    },

    async markPublished(seqs) {
      if (seqs.length === 0) return;
      const c = await leader();
      await c.query(`UPDATE ${s}.outbox SET published_at = now() WHERE seq = ANY($1::bigint[])`, [seqs]);
    },

    async prunePublished(before, limit) {
      const c = await leader();
      // Oldest first by primary key: published rows sit at the low end, so no index on published_at.
      const result = await c.query(
        `DELETE FROM ${s}.outbox WHERE seq IN (
           SELECT seq FROM ${s}.outbox WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY seq LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },

    onAvailable(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      closed = true;
      await resign();
    },
  };
}
