import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore, type SqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox, type SqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import { createEnvelope, type Envelope } from '../kernel/envelope.ts';
import { createMessageScheduler, type MessageScheduler } from './scheduler.ts';

/** Durable timers: scheduled messages committed with a unit of work, released into the outbox when due. */

interface Opened {
  store: SqliteEventStore;
  outbox: SqliteOutbox;
}

function open(file: string): Opened {
  const database = openSqliteDatabase({ filename: file });
  const outbox = createSqliteOutbox(database);
  return { store: createSqliteEventStore({ database, outbox }), outbox };
}

function timer(name: string): Envelope {
  return createEnvelope({ type: 'test.TimerFired', data: { name }, correlationId: name }, { source: 'test' });
}

function published(outbox: SqliteOutbox): string[] {
  return outbox.readAfter(0, 1_000).map((record) => (record.message.data as { name: string }).name);
}

const POLL = { timeout: 5_000, interval: 10 };

describe('durable timers (scheduled messages + scheduler)', () => {
  let dir: string;
  let opened: Opened;
  let scheduler: MessageScheduler | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-timers-'));
    opened = open(path.join(dir, 'orderflow.db'));
  });

  afterEach(async () => {
    await scheduler?.stop();
    scheduler = undefined;
    await opened.store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a scheduled message only when due, and one already due at once', async () => {
    scheduler = createMessageScheduler({ store: opened.store });
    await scheduler.start();
    const now = Date.now();
    await opened.store.commit({
      schedule: [
        { message: timer('later'), dueAt: now + 250 },
        { message: timer('now'), dueAt: now - 1 },
        // Fires in due order before 'later': once it is out, the scheduler has passed that time.
        { message: timer('marker'), dueAt: now + 100 },
      ],
    });
    expect(published(opened.outbox)).toEqual(['now']);
    await expect.poll(() => published(opened.outbox), POLL).toContain('marker');
    expect(published(opened.outbox)).toEqual(['now', 'marker']);
    await expect.poll(() => published(opened.outbox).length, POLL).toBe(3);
    expect(Date.now() - now).toBeGreaterThanOrEqual(245);
    expect(published(opened.outbox)).toEqual(['now', 'marker', 'later']);
  });

  it('re-arms for an earlier timer scheduled after a later one, and fires in due order', async () => {
    scheduler = createMessageScheduler({ store: opened.store });
    await scheduler.start();
    const now = Date.now();
    await opened.store.commit({ schedule: [{ message: timer('third'), dueAt: now + 600 }] });
    await opened.store.commit({ schedule: [{ message: timer('first'), dueAt: now + 50 }] });
    await opened.store.commit({ schedule: [{ message: timer('second'), dueAt: now + 150 }] });
    await expect.poll(() => published(opened.outbox).length, POLL).toBe(3);
    expect(published(opened.outbox)).toEqual(['first', 'second', 'third']);
  });

  it('keeps timers across a restart and fires the overdue ones when the scheduler starts again', async () => {
    const now = Date.now();
    await opened.store.commit({
      schedule: [
        { message: timer('overdue'), dueAt: now + 100 },
        { message: timer('future'), dueAt: now + 400 },
      ],
    });
    // No scheduler ran: the process "died" before anything was due.
    await opened.store.close();
    // Not an absence check: time has to pass for 'overdue' to become overdue.
    await delay(150);
    opened = open(path.join(dir, 'orderflow.db'));
    expect(published(opened.outbox)).toEqual([]);
    scheduler = createMessageScheduler({ store: opened.store });
    await scheduler.start();
    expect(published(opened.outbox)).toEqual(['overdue']);
    await expect.poll(() => published(opened.outbox).length, POLL).toBe(2);
    expect(published(opened.outbox)).toEqual(['overdue', 'future']);
  });

  it('commits a timer with its unit: a unit that fails schedules nothing', async () => {
    scheduler = createMessageScheduler({ store: opened.store });
    await scheduler.start();
    await opened.store.append('stream-a', [{ type: 'Happened', data: {} }]);
    await expect(
      opened.store.commit({
        appends: [
          { streamId: 'stream-a', events: [{ type: 'Happened', data: {} }], expectedVersion: 'no_stream' },
        ],
        schedule: [{ message: timer('never'), dueAt: Date.now() + 20 }],
      }),
    ).rejects.toThrow(/expected version/);
    // A timer of a unit that commits, due no earlier: once it is out, 'never' would be out too.
    await opened.store.commit({ schedule: [{ message: timer('marker'), dueAt: Date.now() + 20 }] });
    await expect.poll(() => published(opened.outbox), POLL).toContain('marker');
    expect(published(opened.outbox)).toEqual(['marker']);
    expect((await opened.store.releaseDueMessages(Date.now() + 60_000)).released).toBe(0);
  });
});
