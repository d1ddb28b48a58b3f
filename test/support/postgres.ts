import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { SERVICE_URLS } from './services.ts';
import { quoteIdentifier } from '../../src/adapters/postgres/postgres-schema.ts';

/** A fresh schema name per test, so suites share the server without seeing each other's rows. */
export function randomSchema(): string {
  return `test_${randomBytes(6).toString('hex')}`;
}

export const POSTGRES_URL = SERVICE_URLS.postgres;

/** Runs one statement on a connection of its own (to look at what a store wrote). */
export async function sql<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
}

/** A message to put in an outbox or a timer, told apart by its subject. */
export function testEnvelope(subject: string) {
  return {
    specversion: '1.0' as const,
    id: randomUUID(),
    source: 'orderflow/tests',
    type: 'tests.Happened',
    subject,
    time: new Date().toISOString(),
    datacontenttype: 'application/json' as const,
    correlationid: 'order-1',
    partitionkey: 'order-1',
    data: { subject },
  };
}
