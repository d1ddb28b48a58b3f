import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { SERVICE_URLS } from '../../../test/support/services.ts';
import { quoteIdentifier } from './postgres-schema.ts';

/** A fresh schema name per test, so suites share the server without seeing each other's rows. */
export function randomSchema(): string {
  return `test_${randomBytes(6).toString('hex')}`;
}

export const POSTGRES_URL = SERVICE_URLS.postgres;

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
