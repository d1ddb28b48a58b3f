import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../kernel/envelope.ts';
import { ConcurrencyError } from '../../kernel/errors.ts';
import {
  describeEventStoreContract,
  type EventStoreHarness,
} from '../../event-store/testing/event-store-contract.ts';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { createSqliteEventStore, type SqliteEventStore } from './sqlite-event-store.ts';
import { createSqliteOutbox, type SqliteOutbox } from './sqlite-outbox.ts';

interface Opened {
  database: SqliteDatabase;
  outbox: SqliteOutbox;
  store: SqliteEventStore;
}

function openAt(filename: string): Opened {
  const database = openSqliteDatabase({ filename });
  const outbox = createSqliteOutbox(database);
  return { database, outbox, store: createSqliteEventStore({ database, outbox }) };
}

function tempFile(): { filename: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-event-store-'));
  return {
    filename: path.join(dir, 'orderflow.db'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

describeEventStoreContract('sqlite', async () => {
  const file = tempFile();
  let current = openAt(file.filename);
  const harness: EventStoreHarness = {
    store: current.store,
    async reopen() {
      await current.store.close();
      current = openAt(file.filename);
      harness.store = current.store;
      return current.store;
    },
    async cleanup() {
      await current.store.close();
      file.remove();
    },
  };
  return harness;
});

describe('SqliteEventStore', () => {
  let file: ReturnType<typeof tempFile>;
  let opened: Opened;

  beforeEach(() => {
    file = tempFile();
    opened = openAt(file.filename);
  });

  afterEach(async () => {
    await opened.store.close();
    file.remove();
  });

  it('group-commits appends issued in the same tick', async () => {
    const { database, store } = opened;
    const before = database.stats().commits;
    const results = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        store.append(`test-${i}`, [{ type: 'Tick', data: i }], { expectedVersion: 'no_stream' }),
      ),
    );
    const groupCommits = database.stats().commits - before;
    expect(groupCommits).toBeLessThanOrEqual(2);
    expect(results.every((result) => result.written)).toBe(true);
    expect(await store.readAll({ maxCount: 2_000 })).toHaveLength(1_000);

    // Awaited one by one, each append is its own commit: the counter does count commits.
    const sequentialBefore = database.stats().commits;
    for (let i = 0; i < 5; i++) await store.append('test-sequential', [{ type: 'Tick', data: i }]);
    expect(database.stats().commits - sequentialBefore).toBe(5);
  });

  it('lets each unit of a group commit succeed or fail alone', async () => {
    const { database, store } = opened;
    await store.append('test-conflicted', [{ type: 'Existing', data: null }]);
    const before = database.stats().commits;
    const attempts = await Promise.allSettled([
      ...Array.from({ length: 50 }, (_, i) =>
        store.append(`test-ok-${i}`, [{ type: 'Ok', data: i }], { expectedVersion: 'no_stream' }),
      ),
      store.append('test-conflicted', [{ type: 'Lost', data: null }], { expectedVersion: 'no_stream' }),
      ...Array.from({ length: 50 }, (_, i) =>
        store.append(`test-ok-${50 + i}`, [{ type: 'Ok', data: 50 + i }]),
      ),
    ]);
    expect(database.stats().commits - before).toBe(1);
    const rejected = attempts.filter((attempt) => attempt.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(ConcurrencyError);
    expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(100);
    expect((await store.readStream('test-conflicted')).map((event) => event.type)).toEqual(['Existing']);
    expect(await store.readAll({ types: ['Ok'], maxCount: 1_000 })).toHaveLength(100);
  });

  it('keeps events, inbox marks and checkpoints across close and reopen', async () => {
    const { database, store } = opened;
    const correlationId = randomUUID();
    await store.commit({
      appends: [
        { streamId: 'test-durable', events: [{ type: 'Kept', data: { n: 1 }, metadata: { correlationId } }] },
      ],
      inbox: { consumer: 'orders', messageId: 'm-1' },
      checkpoint: { subscriptionId: 'projection', position: 1 },
    });
    await store.close();
    expect(database.closed).toBe(true);

    opened = openAt(file.filename);
    const reopened = opened.store;
    expect((await reopened.readStream('test-durable')).map((event) => event.data)).toEqual([{ n: 1 }]);
    expect((await reopened.readCorrelated(correlationId)).map((event) => event.type)).toEqual(['Kept']);
    expect(await reopened.isHandled('orders', 'm-1')).toBe(true);
    expect(await reopened.readCheckpoint('projection')).toBe(1);
    expect(await reopened.headPosition()).toBe(1);
  });

  it('fsyncs every commit by default (synchronous = FULL, WAL)', () => {
    const { db } = opened.database;
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('creates STRICT tables', () => {
    const tables = opened.database.db
      .prepare<[], { name: string; strict: number }>(
        "SELECT name, strict FROM pragma_table_list WHERE name IN ('events', 'inbox', 'checkpoints')",
      )
      .all();
    expect(tables.map((table) => [table.name, table.strict]).sort()).toEqual([
      ['checkpoints', 1],
      ['events', 1],
      ['inbox', 1],
    ]);
  });

  it('inserts the unit’s messages into the outbox in the same transaction, and none when it fails', async () => {
    const { outbox, store } = opened;
    const first = envelope('first');
    await store.commit({
      appends: [{ streamId: 'test-a', events: [{ type: 'A', data: 1 }] }],
      messages: [first],
    });
    await expect(
      store.commit({
        appends: [{ streamId: 'test-a', events: [{ type: 'A', data: 2 }], expectedVersion: 'no_stream' }],
        messages: [envelope('lost')],
      }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    await store.commit({ messages: [envelope('dup')], inbox: { consumer: 'c', messageId: 'm' } });
    await store.commit({ messages: [envelope('dup again')], inbox: { consumer: 'c', messageId: 'm' } });
    expect(outbox.readAfter(0, 100).map((record) => record.message.subject)).toEqual(['first', 'dup']);
    expect(outbox.readAfter(0, 100)[0]?.message).toEqual(first);
  });

  it('stops its subscriptions and closes the database on close()', async () => {
    const { database, store } = opened;
    await store.append('test-s', [{ type: 'A', data: 1 }]);
    const seen: unknown[] = [];
    const subscription = store.subscribe({
      subscriptionId: 'closing',
      handler: (events) => void seen.push(...events.map((e) => e.data)),
    });
    await subscription.caughtUp();
    await store.close();
    expect(database.closed).toBe(true);
    expect(seen).toEqual([1]);
    await expect(store.readStream('test-s')).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    await expect(store.append('test-s', [{ type: 'B', data: 2 }])).rejects.toMatchObject({
      code: 'STORE_CLOSED',
    });
    // A second close is harmless (the afterEach closes again).
    await store.close();
  });

  it('ends a subscription whose database is closed under it, without reporting errors', async () => {
    const { database, store } = opened;
    const errors: Error[] = [];
    const subscription = store.subscribe({
      subscriptionId: 'orphaned',
      handler: () => undefined,
      onError: (error) => errors.push(error),
    });
    await subscription.caughtUp();
    // Not the store's close(): the database goes first, committing a queued write (which wakes the loop).
    const queued = store.append('test-orphaned', [{ type: 'A', data: 1 }]);
    await database.close();
    await queued;
    await subscription.stop();
    expect(errors).toEqual([]);
  });

  it('counts events, units, duplicates and conflicts', async () => {
    const { store } = opened;
    await store.append('test-stats', [
      { type: 'A', data: 1 },
      { type: 'B', data: 2 },
    ]);
    await store.commit({ inbox: { consumer: 'c', messageId: 'm' } });
    await store.commit({ inbox: { consumer: 'c', messageId: 'm' } });
    await expect(
      store.append('test-stats', [{ type: 'C', data: 3 }], { expectedVersion: 0 }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(store.stats()).toMatchObject({ units: 2, events: 2, duplicates: 1, conflicts: 1 });
  });
});

function envelope(subject: string): Envelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'orderflow/tests',
    type: 'tests.Happened',
    subject,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    correlationid: 'order-1',
    partitionkey: 'order-1',
    data: { subject },
  };
}
