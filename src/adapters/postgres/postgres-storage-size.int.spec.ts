import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, POSTGRES_URL, randomSchema, sql } from '../../../test/support/postgres.ts';
import { serviceAvailable } from '../../../test/support/services.ts';
import { createPostgresStorageSize } from './postgres-storage-size.ts';

describe.runIf(await serviceAvailable('postgres'))('PostgreSQL storage size', () => {
  const schema = randomSchema();
  const size = createPostgresStorageSize({ url: POSTGRES_URL, schema });
  afterAll(async () => {
    await size.close();
    await dropSchema(schema);
  });

  it("is 0 for a namespace without tables, then grows with its tables' rows", async () => {
    expect(await size.bytes()).toBe(0);
    await sql(`CREATE SCHEMA ${schema}`);
    await sql(`CREATE TABLE ${schema}.events (n int PRIMARY KEY, body text)`);
    const empty = await size.bytes();
    await sql(`INSERT INTO ${schema}.events SELECT n, repeat('x', 200) FROM generate_series(1, 5000) n`);
    expect(await size.bytes()).toBeGreaterThan(empty + 5000 * 200);
  });
});
