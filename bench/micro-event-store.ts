/**
 * Micro-benchmark of the SQLite event store on a temp file with synchronous=FULL:
 * (a) single-event appends issued concurrently in waves, so the writer group-commits them;
 * (b) the same appends awaited one by one, one transaction and one fsync each.
 * Prints a table to stderr and, last on stdout, one JSON object.
 *
 *   node bin/run-ts.mjs bench/micro-event-store.ts [--events 200000] [--streams 20000] [--wave 5000] [--sequential 3000]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../src/adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../src/adapters/sqlite/sqlite-outbox.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    streams: { type: 'string', default: '20000' },
    wave: { type: 'string', default: '5000' },
    sequential: { type: 'string', default: '3000' },
  },
});
const EVENTS = Number(values.events);
const STREAMS = Number(values.streams);
const WAVE = Number(values.wave);
const SEQUENTIAL = Number(values.sequential);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-event-store-'));
const database = openSqliteDatabase({ filename: path.join(dir, 'bench.db'), synchronous: 'FULL' });
const store = createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
const synchronous = database.db.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'other';

// A payload about the size of an order-lifecycle event, with the metadata the contexts attach.
const streamIds = Array.from({ length: STREAMS }, () => `order-${randomUUID()}`);
function newEvent(i: number) {
  const orderId = streamIds[i % STREAMS]!;
  return {
    type: 'StockReserved',
    data: {
      orderId,
      sku: `SKU-${i % 97}`,
      warehouseId: 'wh-eu-1',
      quantity: 1 + (i % 3),
      reservationId: `r-${i}`,
    },
    metadata: { correlationId: orderId, causationId: `msg-${i}` },
  };
}

// CPU time as well as wall time: on a shared machine the wall clock also measures the neighbours.
function cpuPerEvent(usage: NodeJS.CpuUsage, events: number): string {
  return `${((usage.user + usage.system) / events).toFixed(1)} (${(usage.user / events).toFixed(1)}+${(usage.system / events).toFixed(1)})`;
}

try {
  // (a) Group commit: waves of concurrent appends, each wave awaited before the next.
  const groupStart = database.stats().commits;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < EVENTS;) {
    const size = Math.min(WAVE, EVENTS - done);
    const wave = new Array<Promise<unknown>>(size);
    for (let k = 0; k < size; k++) {
      const i = done + k;
      wave[k] = store.append(streamIds[i % STREAMS]!, [newEvent(i)]);
    }
    await Promise.all(wave);
    done += size;
  }
  const groupSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const groupCpu = process.cpuUsage(cpu0);
  const commitsGroup = database.stats().commits - groupStart;

  // (b) One transaction per append: each awaited before the next is issued.
  const sequentialStart = database.stats().commits;
  const cpu1 = process.cpuUsage();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < SEQUENTIAL; i++) {
    await store.append(streamIds[i % STREAMS]!, [newEvent(EVENTS + i)]);
  }
  const sequentialSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
  const sequentialCpu = process.cpuUsage(cpu1);
  const commitsSequential = database.stats().commits - sequentialStart;

  const head = await store.headPosition();
  if (head !== EVENTS + SEQUENTIAL)
    throw new Error(`expected ${EVENTS + SEQUENTIAL} events, head is ${head}`);

  const groupCommitEventsPerSec = Math.round(EVENTS / groupSeconds);
  const perAppendCommitEventsPerSec = Math.round(SEQUENTIAL / sequentialSeconds);
  const rows = [
    ['mode', 'events', 'commits', 'seconds', 'events/s', 'events/commit', 'CPU µs/event (user+sys)'],
    [
      'group commit',
      EVENTS,
      commitsGroup,
      groupSeconds.toFixed(2),
      groupCommitEventsPerSec,
      (EVENTS / commitsGroup).toFixed(0),
      cpuPerEvent(groupCpu, EVENTS),
    ],
    [
      'commit per append',
      SEQUENTIAL,
      commitsSequential,
      sequentialSeconds.toFixed(2),
      perAppendCommitEventsPerSec,
      (SEQUENTIAL / commitsSequential).toFixed(0),
      cpuPerEvent(sequentialCpu, SEQUENTIAL),
    ],
  ].map((row) => row.map(String));
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  process.stderr.write(
    `event store micro-benchmark (SQLite, synchronous=${synchronous}, ${STREAMS} streams, waves of ${WAVE})\n`,
  );
  for (const row of rows)
    process.stderr.write(`  ${row.map((cell, column) => cell.padStart(widths[column]!)).join('  ')}\n`);

  console.log(
    JSON.stringify({
      benchmark: 'event-store',
      groupCommitEventsPerSec,
      perAppendCommitEventsPerSec,
      commitsGroup,
      events: EVENTS,
      synchronous,
    }),
  );
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
