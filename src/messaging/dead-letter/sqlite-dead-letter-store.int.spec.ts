import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from '../../event-store/sqlite/sqlite-database.ts';
import { createEnvelope, type Envelope } from '../message.ts';
import type { DeadLetterStore, NewDeadLetter } from './dead-letter-store.ts';
import { createSqliteDeadLetterStore } from './sqlite-dead-letter-store.ts';

function message(n: number): Envelope {
  return createEnvelope(
    { type: 'inventory.ReserveStock', data: { n, sku: 'SKU-1' }, correlationId: `order-${n}` },
    { source: 'orderflow/test' },
  );
}

function entry(group: string, m: Envelope, attempts = 8): NewDeadLetter {
  return {
    group,
    message: m,
    attempts,
    error: {
      name: 'AppError',
      message: 'gateway down',
      code: 'INTERNAL',
      stack: 'AppError: gateway down\n    at x',
    },
  };
}

describe('SQLite dead-letter store', () => {
  let dir: string;
  let filename: string;
  let database: SqliteDatabase;
  let store: DeadLetterStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-dlq-'));
    filename = path.join(dir, 'dlq.sqlite');
    database = openSqliteDatabase({ filename });
    store = createSqliteDeadLetterStore({ database });
  });

  afterEach(async () => {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the message, the group, the error and the attempt count, durably', async () => {
    const m = message(1);
    const added = await store.add(entry('inventory', m, 5));
    expect(added).toMatchObject({
      group: 'inventory',
      attempts: 5,
      status: 'parked',
      message: m,
      error: {
        name: 'AppError',
        message: 'gateway down',
        code: 'INTERNAL',
        stack: 'AppError: gateway down\n    at x',
      },
    });
    expect(added.id).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(added.deadLetteredAt))).toBe(false);
    expect(added.redrivenAt).toBeUndefined();

    await database.close();
    database = openSqliteDatabase({ filename });
    store = createSqliteDeadLetterStore({ database });
    expect(await store.get(added.id)).toEqual(added);
  });

  it('adds idempotently per group and message while parked', async () => {
    const m = message(2);
    const [first, second] = await Promise.all([
      store.add(entry('inventory', m)),
      store.add(entry('inventory', m)),
    ]);
    const third = await store.add(entry('inventory', m, 9));
    expect(second.id).toBe(first.id);
    expect(third.id).toBe(first.id);
    // Another group failing on the same message is another entry.
    const other = await store.add(entry('payments', m));
    expect(other.id).not.toBe(first.id);
    expect(await store.count()).toBe(2);
  });

  it('parks a message again after it was re-driven, keeping the history', async () => {
    const m = message(3);
    const first = await store.add(entry('inventory', m));
    const redriven = await store.markRedriven(first.id);
    expect(redriven.status).toBe('redriven');
    expect(Number.isNaN(Date.parse(redriven.redrivenAt!))).toBe(false);
    const again = await store.add(entry('inventory', m));
    expect(again.id).not.toBe(first.id);
    expect(await store.count('parked')).toBe(1);
    expect(await store.count('redriven')).toBe(1);
    expect((await store.get(first.id))!.status).toBe('redriven');
  });

  it('refuses to re-drive an unknown or already re-driven entry', async () => {
    const first = await store.add(entry('inventory', message(4)));
    await store.markRedriven(first.id);
    await expect(store.markRedriven(first.id)).rejects.toMatchObject({
      code: 'DEAD_LETTER_ALREADY_REDRIVEN',
      category: 'conflict',
    });
    await expect(store.markRedriven('missing')).rejects.toMatchObject({
      code: 'DEAD_LETTER_NOT_FOUND',
      category: 'not_found',
    });
    expect(await store.get('missing')).toBeUndefined();
  });

  it('lists newest first, filtered by status and group, up to a limit', async () => {
    const entries = [];
    for (let n = 0; n < 5; n++)
      entries.push(await store.add(entry(n % 2 === 0 ? 'inventory' : 'payments', message(n))));
    await store.markRedriven(entries[0]!.id);

    expect((await store.list()).map((e) => e.id)).toEqual(entries.map((e) => e.id).reverse());
    expect((await store.list({ status: 'parked', group: 'inventory' })).map((e) => e.id)).toEqual([
      entries[4]!.id,
      entries[2]!.id,
    ]);
    expect((await store.list({ status: 'redriven' })).map((e) => e.id)).toEqual([entries[0]!.id]);
    expect(await store.list({ limit: 2 })).toHaveLength(2);
    expect(await store.count()).toBe(5);
    expect(await store.count('parked')).toBe(4);
  });
});
