import pg from 'pg';
import { checkSchemaName } from './postgres-schema.ts';

export interface PostgresStorageSize {
  /** Bytes on disk of the namespace's tables, their indexes and TOAST (`pg_total_relation_size`). */
  bytes(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The size of one namespace's store (its schema's tables), for the cost-per-order estimate. One
 * connection of its own, opened on the first call.
 */
export function createPostgresStorageSize(options: { url: string; schema: string }): PostgresStorageSize {
  const { url, schema } = options;
  checkSchemaName(schema, 'postgres storage size');
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => undefined);
  return {
    async bytes() {
      const result = await pool.query<{ bytes: string | null }>(
        `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
        [schema],
      );
      return Number(result.rows[0]?.bytes ?? 0);
    },
    close: () => pool.end(),
  };
}
