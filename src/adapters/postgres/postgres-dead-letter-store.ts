import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkSchemaName, quoteIdentifier } from './postgres-schema.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import type { Envelope } from '../../kernel/envelope.ts';
import type {
  DeadLetter,
  DeadLetterError,
  DeadLetterStatus,
  DeadLetterStore,
  ListDeadLettersOptions,
  NewDeadLetter,
} from '../../messaging/dead-letter/dead-letter-store.ts';

export interface PostgresDeadLetterStoreOptions {
  /** Connection string, e.g. `postgres://postgres@127.0.0.1:5432/orderflow`. */
  url: string;
  /** Schema holding the table (the event store's, from ORDERFLOW_NAMESPACE); created if missing. */
  schema: string;
  /** @default 2 */
  poolSize?: number;
  /** Clock for `deadLetteredAt` / `redrivenAt`. @default () => new Date() */
  now?: () => Date;
}

export interface PostgresDeadLetterStore extends DeadLetterStore {
  /** Creates the table if missing (also done on first use). */
  start(): Promise<void>;
  close(): Promise<void>;
}

interface Row {
  id: string;
  group_name: string;
  message: Envelope;
  error: DeadLetterError;
  attempts: number;
  status: DeadLetterStatus;
  dead_lettered_at: Date;
  redriven_at: Date | null;
}

const COLUMNS = 'id, group_name, message, error, attempts, status, dead_lettered_at, redriven_at';

/**
 * The distributed mode's dead-letter store: one table `<schema>.dead_letters`, same semantics as the
 * SQLite store (idempotent `add` per group and message while parked, kept history, newest first).
 * The partial unique index makes `add` race-free across processes (INSERT … ON CONFLICT DO NOTHING).
 */
export function createPostgresDeadLetterStore(
  options: PostgresDeadLetterStoreOptions,
): PostgresDeadLetterStore {
  const { url, schema } = options;
  checkSchemaName(schema, 'postgres dead-letter store');
  const now = options.now ?? (() => new Date());
  const s = quoteIdentifier(schema);
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 2 });
  pool.on('error', () => undefined);
  let started: Promise<void> | undefined;
  let closed = false;

  const schemaSql = `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.dead_letters (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  group_name text NOT NULL,
  message_id text NOT NULL,
  message_type text NOT NULL,
  message jsonb NOT NULL,
  error jsonb NOT NULL,
  attempts integer NOT NULL,
  status text NOT NULL CHECK (status IN ('parked', 'redriven')),
  dead_lettered_at timestamptz NOT NULL,
  redriven_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_parked ON ${s}.dead_letters (group_name, message_id)
  WHERE status = 'parked';
CREATE INDEX IF NOT EXISTS dead_letters_status ON ${s}.dead_letters (status, seq);
`;

  function start(): Promise<void> {
    started ??= (async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1), 0)', [`${schema}:migrate`]);
        await client.query(schemaSql);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        started = undefined;
        throw error;
      } finally {
        client.release();
      }
    })();
    return started;
  }

  async function query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    if (closed) throw new AppError(ERROR_CODES.STORE_CLOSED, 'the dead-letter store is closed');
    await start();
    return (await pool.query<R>(text, values)).rows;
  }

  async function get(id: string): Promise<DeadLetter | undefined> {
    const rows = await query<Row>(`SELECT ${COLUMNS} FROM ${s}.dead_letters WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toDeadLetter(rows[0]);
  }

  async function add(entry: NewDeadLetter): Promise<DeadLetter> {
    const inserted = await query<Row>(
      `INSERT INTO ${s}.dead_letters
           (id, group_name, message_id, message_type, message, error, attempts, status, dead_lettered_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, 'parked', $8)
         ON CONFLICT (group_name, message_id) WHERE status = 'parked' DO NOTHING
         RETURNING ${COLUMNS}`,
      [
        randomUUID(),
        entry.group,
        entry.message.id,
        entry.message.type,
        JSON.stringify(entry.message),
        JSON.stringify(cleanError(entry.error)),
        entry.attempts,
        now(),
      ],
    );
    if (inserted[0] !== undefined) return toDeadLetter(inserted[0]);
    const parked = await query<Row>(
      `SELECT ${COLUMNS} FROM ${s}.dead_letters WHERE group_name = $1 AND message_id = $2 AND status = 'parked'`,
      [entry.group, entry.message.id],
    );
    if (parked[0] !== undefined) return toDeadLetter(parked[0]);
    // Re-driven between the conflict and the read: park it anew.
    return add(entry);
  }

  return {
    start,
    add,

    async list(listOptions: ListDeadLettersOptions = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (listOptions.status !== undefined) {
        params.push(listOptions.status);
        where.push(`status = $${params.length}`);
      }
      if (listOptions.group !== undefined) {
        params.push(listOptions.group);
        where.push(`group_name = $${params.length}`);
      }
      params.push(Math.max(0, Math.floor(listOptions.limit ?? 100)));
      const rows = await query<Row>(
        `SELECT ${COLUMNS} FROM ${s}.dead_letters ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY seq DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toDeadLetter);
    },

    get,

    async markRedriven(id: string) {
      const updated = await query<Row>(
        `UPDATE ${s}.dead_letters SET status = 'redriven', redriven_at = $2
          WHERE id = $1 AND status = 'parked' RETURNING ${COLUMNS}`,
        [id, now()],
      );
      if (updated[0] !== undefined) return toDeadLetter(updated[0]);
      const row = await get(id);
      if (row === undefined) {
        throw new AppError(ERROR_CODES.DEAD_LETTER_NOT_FOUND, `dead letter ${id} not found`, {
          details: { id },
        });
      }
      throw new AppError(
        ERROR_CODES.DEAD_LETTER_ALREADY_REDRIVEN,
        `dead letter ${id} was already re-driven at ${row.redrivenAt ?? 'an unknown time'}`,
        { details: { id, redrivenAt: row.redrivenAt } },
      );
    },

    async count(status?: DeadLetterStatus) {
      const rows =
        status === undefined
          ? await query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.dead_letters`)
          : await query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.dead_letters WHERE status = $1`, [
              status,
            ]);
      return Number(rows[0]?.n ?? 0);
    },

    async close() {
      if (closed) return;
      closed = true;
      await started?.catch(() => undefined);
      await pool.end();
    },
  };
}

function cleanError(error: DeadLetterError): DeadLetterError {
  return {
    name: error.name,
    message: error.message,
    ...(error.code !== undefined ? { code: error.code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
  };
}

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    group: row.group_name,
    message: row.message,
    error: row.error,
    attempts: row.attempts,
    status: row.status,
    deadLetteredAt: row.dead_lettered_at.toISOString(),
    ...(row.redriven_at !== null ? { redrivenAt: row.redriven_at.toISOString() } : {}),
  };
}
