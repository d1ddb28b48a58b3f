import { Type } from '@sinclair/typebox';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore, type SqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import { AppError, ERROR_CODES, TerminalError } from '../kernel/errors.ts';
import { createConsumer, type Consumer, type ConsumerOptions } from './consumer.ts';
import type { DeadLetterStore } from './dead-letter/dead-letter-store.ts';
import { redriveDeadLetter } from './dead-letter/redrive.ts';
import { createSqliteDeadLetterStore } from '../adapters/sqlite/sqlite-dead-letter-store.ts';
import type { HandlerContext, HandlerGroup, MessageHandler } from './handler.ts';
import { createEnvelope, type Envelope } from '../kernel/envelope.ts';
import { defineMessage, MessageCatalog } from './message-catalog.ts';
import type { Transport } from './transport.ts';
import { createEmbeddedTransport } from '../adapters/sqlite/embedded-transport.ts';

const DoWork = defineMessage({
  type: 'work.DoWork',
  kind: 'command',
  schema: Type.Object({ n: Type.Integer() }),
  description: 'test command',
});
const WorkDone = defineMessage({
  type: 'work.WorkDone',
  kind: 'event',
  schema: Type.Object({ n: Type.Integer() }),
  description: 'test event',
});
const catalog = new MessageCatalog().register(DoWork, WorkDone);

/** Commands (and their SQLite commits) are quick: look often, give up after 10 s. */
const POLL = { timeout: 10_000, interval: 5 };

/** Marker commands carry `n` from here up; handlers tell them apart by it. */
const MARKER = 1_000;

interface System {
  database: SqliteDatabase;
  store: SqliteEventStore;
  deadLetters: DeadLetterStore;
  transport: Transport;
  /** Deliveries the transport handed to each group (to prove redeliveries happened). */
  deliveries: Map<string, number>;
}

async function openSystem(filename: string): Promise<System> {
  const database = openSqliteDatabase({ filename });
  const outbox = createSqliteOutbox(database);
  const store = createSqliteEventStore({ database, outbox });
  const deadLetters = createSqliteDeadLetterStore({ database });
  const inner = createEmbeddedTransport({ database, outbox });
  await inner.start();
  const deliveries = new Map<string, number>();
  const transport: Transport = {
    ...inner,
    partitions: inner.partitions,
    subscribe: (options) =>
      inner.subscribe({
        ...options,
        onDelivery: (delivery) => {
          deliveries.set(options.group, (deliveries.get(options.group) ?? 0) + 1);
          options.onDelivery(delivery);
        },
      }),
  };
  return { database, store, deadLetters, transport, deliveries };
}

function command(n: number, key = `order-${n}`, id?: string): Envelope {
  return createEnvelope(
    {
      type: DoWork.type,
      data: { n },
      partitionKey: key,
      correlationId: key,
      ...(id !== undefined ? { id } : {}),
    },
    { source: 'orderflow/test' },
  );
}

describe('consumer (embedded transport, SQLite event store)', () => {
  let dir: string;
  let filename: string;
  let system: System;
  let consumers: Consumer[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-consumer-'));
    filename = path.join(dir, 'orderflow.sqlite');
    system = await openSystem(filename);
    consumers = [];
    markers.length = 0;
  });

  afterEach(async () => {
    for (const consumer of consumers) await consumer.stop();
    await system.transport.close();
    await system.store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startConsumer(
    handlers: Record<string, MessageHandler<never>>,
    overrides: Partial<ConsumerOptions> & { groupName?: string; retry?: HandlerGroup['retry'] } = {},
  ): Promise<Consumer> {
    const { groupName = 'workers', retry, ...rest } = overrides;
    const consumer = createConsumer({
      group: {
        group: groupName,
        handlers,
        retry: { initialDelayMs: 5, maxDelayMs: 20, jitter: 0, ...retry },
      },
      transport: system.transport,
      store: system.store,
      deadLetters: system.deadLetters,
      catalog,
      source: 'orderflow/work',
      ...rest,
    });
    await consumer.start();
    consumers.push(consumer);
    return consumer;
  }

  async function publish(...messages: Envelope[]): Promise<void> {
    await system.store.commit({ messages });
  }

  const streamOf = (message: Envelope) => `work-${(message.data as { n: number }).n}`;
  const recordEffect = (message: Envelope<{ n: number }>, context: HandlerContext) =>
    context.append(streamOf(message), [{ type: 'Worked', data: { n: message.data.n } }]);

  /**
   * A marker command on `key`, published after the message under test: the consumer handles a key's
   * messages in order and holds later ones while an earlier one waits for a retry, so once the
   * marker is handled, nothing more of the earlier message is coming.
   */
  const markers: number[] = [];
  let nextMarker = MARKER;
  const isMarker = (message: Envelope<{ n: number }>) => message.data.n >= MARKER;
  async function publishMarker(key: string): Promise<number> {
    const n = nextMarker++;
    await publish(command(n, key));
    return n;
  }
  async function markerHandled(n: number): Promise<void> {
    await expect.poll(() => markers.includes(n), POLL).toBe(true);
  }

  it('retries a failing handler and keeps one effect: fails twice, succeeds on the third attempt', async () => {
    const attempts: number[] = [];
    const retried: number[] = [];
    await startConsumer(
      {
        [DoWork.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
          if (isMarker(message)) return void markers.push(message.data.n);
          attempts.push(context.deliveryCount);
          recordEffect(message, context);
          if (context.deliveryCount < 3) throw new Error(`flaky ${context.deliveryCount}`);
        },
      },
      { observer: { retried: (_group, _type, attempt) => retried.push(attempt) } },
    );
    const message = command(1);
    await publish(message);

    await expect.poll(() => attempts.length, POLL).toBe(3);
    await expect.poll(() => system.deliveries.get('workers'), POLL).toBe(3);
    await markerHandled(await publishMarker(message.partitionkey));
    expect(system.deliveries.get('workers')).toBe(4);
    expect(attempts).toEqual([1, 2, 3]);
    expect(retried).toEqual([1, 2]);
    expect(await system.store.readStream(streamOf(message))).toHaveLength(1);
    expect(await system.store.isHandled('workers', message.id)).toBe(true);
    expect(await system.deadLetters.count()).toBe(0);
  });

  it('dead-letters a message that always fails after maxAttempts, and re-drives it once fixed', async () => {
    let broken = true;
    let attempts = 0;
    const deadLettered: string[] = [];
    await startConsumer(
      {
        [DoWork.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
          if (isMarker(message)) return void markers.push(message.data.n);
          attempts++;
          if (broken) throw new AppError(ERROR_CODES.GATEWAY_UNAVAILABLE, 'gateway down');
          recordEffect(message, context);
        },
      },
      { retry: { maxAttempts: 4 }, observer: { deadLettered: (_group, type) => deadLettered.push(type) } },
    );
    const message = command(2);
    await publish(message);

    await expect.poll(() => deadLettered.length, POLL).toBe(1);
    expect(attempts).toBe(4);
    const [entry] = await system.deadLetters.list({ status: 'parked', group: 'workers' });
    expect(entry).toMatchObject({
      group: 'workers',
      attempts: 4,
      status: 'parked',
      message: { id: message.id, type: DoWork.type, data: { n: 2 } },
      error: { name: 'AppError', message: 'gateway down', code: 'GATEWAY_UNAVAILABLE' },
    });
    expect(entry!.error.stack).toContain('gateway down');
    await markerHandled(await publishMarker(message.partitionkey));
    expect(attempts).toBe(4);
    expect(await system.store.readStream(streamOf(message))).toHaveLength(0);

    broken = false;
    const redriven = await redriveDeadLetter(entry!.id, system);
    expect(redriven.status).toBe('redriven');
    await expect.poll(() => attempts, POLL).toBe(5);
    // 4 attempts, the first marker, the re-driven one.
    await expect.poll(() => system.deliveries.get('workers'), POLL).toBe(6);
    await markerHandled(await publishMarker(message.partitionkey));
    expect(attempts).toBe(5);
    expect(await system.store.readStream(streamOf(message))).toHaveLength(1);
    expect(await system.deadLetters.count('parked')).toBe(0);
    await expect(redriveDeadLetter(entry!.id, system)).rejects.toMatchObject({
      code: 'DEAD_LETTER_ALREADY_REDRIVEN',
    });
    await expect(redriveDeadLetter('no-such-entry', system)).rejects.toMatchObject({
      code: 'DEAD_LETTER_NOT_FOUND',
    });
  });

  it('dead-letters at once on a terminal error or an invalid outgoing message, with no effect', async () => {
    let attempts = 0;
    await startConsumer({
      [DoWork.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
        if (isMarker(message)) return void markers.push(message.data.n);
        attempts++;
        recordEffect(message, context);
        if (message.data.n === 3) throw new TerminalError('order is malformed');
        context.send({ type: WorkDone.type, data: { n: 'not a number' } });
      },
    });
    const [terminal, invalid] = [command(3), command(4)];
    await publish(terminal, invalid);

    await expect.poll(() => attempts, POLL).toBe(2);
    await expect.poll(() => system.deadLetters.count('parked'), POLL).toBe(2);
    const after = [await publishMarker(terminal.partitionkey), await publishMarker(invalid.partitionkey)];
    for (const n of after) await markerHandled(n);
    expect(attempts).toBe(2);
    const entries = await system.deadLetters.list();
    const byMessage = new Map(entries.map((e) => [e.message.id, e]));
    expect(byMessage.get(terminal.id)).toMatchObject({
      attempts: 1,
      error: { name: 'TerminalError', code: 'HANDLER_FAILED' },
    });
    expect(byMessage.get(invalid.id)).toMatchObject({
      attempts: 1,
      error: { code: 'MESSAGE_SCHEMA_VIOLATION' },
    });
    expect(await system.store.readStream(streamOf(terminal))).toHaveLength(0);
    expect(await system.store.readStream(streamOf(invalid))).toHaveLength(0);
  });

  it('has no second effect for a redelivered message: a duplicate publish, and a crash before offsets were saved', async () => {
    let runs = 0;
    const handlers = {
      [DoWork.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
        if (isMarker(message)) return void markers.push(message.data.n);
        runs++;
        recordEffect(message, context);
      },
    };
    await startConsumer(handlers);
    const messages = Array.from({ length: 10 }, (_, n) => command(n));
    await publish(...messages);
    await publish(command(0, 'order-0', messages[0]!.id));
    await expect.poll(() => system.deliveries.get('workers'), POLL).toBe(11);
    await expect.poll(() => runs, POLL).toBe(10);

    // A crash after the effects committed but before the bus saved its offsets.
    await system.database.close();
    const raw = new Database(filename);
    raw.prepare('UPDATE bus_groups SET floor = 0').run();
    raw.prepare('DELETE FROM bus_acked').run();
    raw.close();
    consumers = [];
    system = await openSystem(filename);
    await startConsumer(handlers);

    await expect.poll(() => system.deliveries.get('workers') ?? 0, POLL).toBeGreaterThanOrEqual(11);
    // One marker per key: the key's redeliveries were handled (or skipped) before it.
    const after: number[] = [];
    for (const message of messages) after.push(await publishMarker(message.partitionkey));
    for (const n of after) await markerHandled(n);
    expect(runs).toBe(10);
    for (const message of messages) expect(await system.store.readStream(streamOf(message))).toHaveLength(1);
  });

  it('commits appended events and sent messages only when the handler succeeds', async () => {
    const downstream: Envelope[] = [];
    await startConsumer(
      { [WorkDone.type]: (message: Envelope) => void downstream.push(message) },
      { groupName: 'downstream' },
    );
    await startConsumer({
      [DoWork.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
        recordEffect(message, context);
        context.send({ type: WorkDone.type, data: { n: message.data.n } });
        if (context.deliveryCount === 1) throw new Error('fails after declaring its effects');
      },
    });
    const message = command(5);
    await publish(message);

    await expect.poll(() => downstream.length, POLL).toBeGreaterThanOrEqual(1);
    // A WorkDone of the same key published after it: a message the failed attempt had let out
    // would have been committed before the real one, so it would come before this.
    const marker = createEnvelope(
      {
        type: WorkDone.type,
        data: { n: MARKER },
        partitionKey: message.partitionkey,
        correlationId: 'marker',
      },
      { source: 'orderflow/test' },
    );
    await publish(marker);
    await expect.poll(() => downstream.map((m) => m.id), POLL).toContain(marker.id);
    expect(downstream.filter((m) => m.id !== marker.id)).toHaveLength(1);
    expect(downstream[0]).toMatchObject({
      type: WorkDone.type,
      source: 'orderflow/work',
      correlationid: message.correlationid,
      causationid: message.id,
      partitionkey: message.partitionkey,
    });
    expect(downstream[0]!.traceparent!.slice(3, 35)).toBe(message.traceparent!.slice(3, 35));
    const events = await system.store.readStream(streamOf(message));
    expect(events).toHaveLength(1);
    expect(events[0]!.metadata).toMatchObject({
      correlationId: message.correlationid,
      causationId: message.id,
      traceparent: message.traceparent,
    });
  });

  it('retries a concurrency conflict and decides again on fresh state', async () => {
    const attempts: number[] = [];
    await startConsumer({
      [DoWork.type]: async (message: Envelope<{ n: number }>, context: HandlerContext) => {
        attempts.push(context.deliveryCount);
        const stream = streamOf(message);
        const version = await context.store.streamVersion(stream);
        // Another writer gets there first, once.
        if (context.deliveryCount === 1) await system.store.append(stream, [{ type: 'Other', data: {} }]);
        context.append(stream, [{ type: 'Worked', data: {} }], version);
      },
    });
    const message = command(6);
    await publish(message);
    await expect.poll(() => attempts.length, POLL).toBe(2);
    await expect.poll(async () => (await system.store.readStream(streamOf(message))).length, POLL).toBe(2);
    expect((await system.store.readStream(streamOf(message))).map((e) => e.type)).toEqual([
      'Other',
      'Worked',
    ]);
    expect(await system.deadLetters.count()).toBe(0);
  });

  it("keeps a key's order across a retry while other keys go on", async () => {
    const log: string[] = [];
    await startConsumer(
      {
        [DoWork.type]: async (message: Envelope<{ n: number }>, context: HandlerContext) => {
          const label = `${message.partitionkey}#${message.data.n}`;
          log.push(`start ${label}`);
          await delay(1);
          if (label === 'a#1' && context.deliveryCount === 1) throw new Error('retry me');
          recordEffect(message, context);
          log.push(`done ${label}`);
        },
      },
      { retry: { initialDelayMs: 300, maxDelayMs: 300 } },
    );
    await publish(
      command(1, 'a'),
      command(1, 'b'),
      command(2, 'a'),
      command(2, 'b'),
      command(3, 'a'),
      command(3, 'b'),
    );

    await expect.poll(() => log.filter((l) => l.startsWith('done')).length, POLL).toBe(6);
    const done = log.filter((l) => l.startsWith('done'));
    expect(done.filter((l) => l.includes('a#'))).toEqual(['done a#1', 'done a#2', 'done a#3']);
    expect(done.filter((l) => l.includes('b#'))).toEqual(['done b#1', 'done b#2', 'done b#3']);
    // b did not wait for a's retry; a#2 did not start before a#1 succeeded.
    expect(done.indexOf('done b#3')).toBeLessThan(done.indexOf('done a#1'));
    expect(log.indexOf('start a#2')).toBeGreaterThan(log.indexOf('done a#1'));
    expect(log.filter((l) => l === 'start a#2')).toHaveLength(1);
  });

  it('stop() waits for running handlers and their commits, and starts nothing new', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started: number[] = [];
    const handlers = {
      [DoWork.type]: async (message: Envelope<{ n: number }>, context: HandlerContext) => {
        started.push(message.data.n);
        await gate;
        recordEffect(message, context);
      },
    };
    const consumer = await startConsumer(handlers);
    // 8 waits behind 7 (same key).
    const [running, waiting] = [command(7, 'same'), command(8, 'same')];
    await publish(running, waiting);
    await expect.poll(() => system.deliveries.get('workers'), POLL).toBe(2);
    expect(started).toEqual([7]);

    let stopped = false;
    // Two callers (say a signal handler and a test's cleanup) both wait for the same stop.
    const stopping = Promise.all([consumer.stop(), consumer.stop()]).then(() => {
      stopped = true;
    });
    // No marker: stop() waits on the gated handler and nothing else happens until it is released.
    await delay(100);
    expect(stopped).toBe(false);
    // Taken by no one while stopping.
    const late = command(9);
    await publish(late);
    // No marker: the stopping group takes nothing at all, so there is no later delivery to wait for.
    await delay(50);
    expect(started).toEqual([7]);

    release();
    await stopping;
    expect(started).toEqual([7]);
    expect(await system.store.readStream(streamOf(running))).toHaveLength(1);
    expect(await system.store.isHandled('workers', running.id)).toBe(true);
    expect(await system.store.isHandled('workers', waiting.id)).toBe(false);

    // What was not taken is handed out again to the next consumer of the group.
    await startConsumer(handlers);
    await expect.poll(() => started.length, POLL).toBe(3);
    expect(started.slice(1).sort()).toEqual([8, 9]);
    await expect.poll(() => system.store.isHandled('workers', late.id), POLL).toBe(true);
    expect(await system.store.readStream(streamOf(waiting))).toHaveLength(1);
  });
});
