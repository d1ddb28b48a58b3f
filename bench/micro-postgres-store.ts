/**
 * Micro-benchmark of the PostgreSQL event store's commit path: `--units` units of work typical of a
 * message handler (one append of 1–2 events with an exact expected version, 1–2 outbox messages, an
 * inbox mark) issued by `--concurrency` concurrent callers, each on streams of its own, against a
 * fresh schema (with the outbox relay's NOTIFY trigger installed, as in a deployment). The schema is
 * dropped at the end. Prints a summary to stderr and, last on stdout, one JSON object.
 *
 *   node bin/run-ts.mjs bench/micro-postgres-store.ts [--units 4000] [--concurrency 16] [--pool 10]
 *        [--streams 50] [--max-seconds 60] [--max-concurrent-commits N]
 *        [--url postgres://postgres@127.0.0.1:5432/test]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Envelope } from '../src/kernel/envelope.ts';
import { createPostgresEventStore } from '../src/adapters/postgres/postgres-event-store.ts';
import { createPostgresOutbox } from '../src/adapters/postgres/postgres-outbox.ts';

const { values } = parseArgs({
  options: {
    units: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string', default: '10' },
    streams: { type: 'string', default: '50' },
    'max-seconds': { type: 'string', default: '60' },
    // The store's maxConcurrentCommits (group commits in flight); its default when left out.
    'max-concurrent-commits': { type: 'string' },
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.error(
    'usage: node bin/run-ts.mjs bench/micro-postgres-store.ts [--units 4000] [--concurrency 16] [--pool 10] [--streams 50] [--max-seconds 60] [--max-concurrent-commits N] [--url URL]',
  );
  process.exit(0);
}
function positiveInt(name: 'units' | 'concurrency' | 'pool' | 'streams' | 'max-seconds'): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`micro-postgres-store: --${name} must be a positive integer, got ${String(values[name])}`);
    process.exit(2);
  }
  return value;
}
const UNITS = positiveInt('units');
const CONCURRENCY = positiveInt('concurrency');
const POOL = positiveInt('pool');
const STREAMS = positiveInt('streams');
const MAX_MS = positiveInt('max-seconds') * 1_000;
// Tagged, so that the server backends of this run can be found (their CPU time is reported too: on a
// shared machine the wall clock also measures the neighbours).
const APPLICATION = `micro-postgres-store-${process.pid}`;
const STORE_URL = withApplicationName(values.url, APPLICATION);

function withApplicationName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', name);
  return parsed.toString();
}
// Warm-up (connections, plans) before the clock starts: not counted.
const WARMUP = Math.min(200, Math.ceil(UNITS / 10));

const schema = `bench_${randomBytes(5).toString('hex')}`;
const MAX_CONCURRENT_COMMITS =
  values['max-concurrent-commits'] === undefined ? undefined : Number(values['max-concurrent-commits']);
const store = createPostgresEventStore({
  url: STORE_URL,
  schema,
  poolSize: POOL,
  ...(MAX_CONCURRENT_COMMITS !== undefined ? { maxConcurrentCommits: MAX_CONCURRENT_COMMITS } : {}),
});

function message(orderId: string, n: number): Envelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'orderflow/bench',
    type: 'inventory.StockReserved',
    subject: orderId,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    correlationid: orderId,
    partitionkey: orderId,
    data: { orderId, sku: `SKU-${n % 97}`, warehouseId: 'wh-eu-1', quantity: 1 + (n % 3) },
  };
}

let issued = 0;
let events = 0;
let messages = 0;
const latencies: number[] = [];

/** One caller: its own streams and their versions, so that expected versions always match. */
const versionsOf = Array.from({ length: CONCURRENCY }, () => new Map<string, number>());
let round = 0;

async function caller(index: number, budget: () => boolean, record: boolean): Promise<void> {
  const versions = versionsOf[index]!;
  while (budget()) {
    const k = round++;
    const streamId = `order-${index}-${k % STREAMS}`;
    const expectedVersion = versions.get(streamId) ?? -1;
    const n = issued;
    const count = 1 + (n % 2);
    const correlationId = streamId;
    const started = performance.now();
    const result = await store.commit({
      appends: [
        {
          streamId,
          expectedVersion,
          events: Array.from({ length: count }, (_, e) => ({
            id: randomUUID(),
            type: e === 0 ? 'StockReserved' : 'ReservationExtended',
            data: { orderId: streamId, sku: `SKU-${n % 97}`, quantity: 1 + (n % 3), reservationId: `r-${n}` },
            metadata: { correlationId, causationId: `msg-${n}` },
          })),
        },
      ],
      messages: Array.from({ length: 1 + ((n >> 1) % 2) }, (_, m) => message(correlationId, n + m)),
      inbox: { consumer: 'bench', messageId: randomUUID() },
    });
    versions.set(streamId, result.appends[0]!.nextVersion);
    if (record) {
      latencies.push(performance.now() - started);
      events += count;
      messages += 1 + ((n >> 1) % 2);
    }
  }
}

async function phase(units: number, deadline: number, record: boolean): Promise<number> {
  let started = 0;
  const budget = (): boolean => {
    if (started >= units || Date.now() >= deadline) return false;
    started++;
    issued++;
    return true;
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => caller(i, budget, record)));
  return started;
}

/** CPU time (ms) used so far by this run's server backends, when /proc shows them (same host). */
async function serverCpuMs(admin: pg.Client): Promise<number | undefined> {
  const pids = (
    await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
      APPLICATION,
    ])
  ).rows.map((row) => row.pid);
  const ticksPerMs = 100 / 1_000; // USER_HZ
  let total = 0;
  try {
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
    }
  } catch {
    return undefined;
  }
  return total;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

let exitCode = 0;
try {
  await store.start();
  const outbox = createPostgresOutbox({ url: STORE_URL, schema });
  await outbox.start();
  await outbox.close();

  const admin = new pg.Client({ connectionString: values.url });
  await admin.connect();
  const end = Date.now() + MAX_MS;
  await phase(WARMUP, end, false);
  const server0 = await serverCpuMs(admin);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const units = await phase(UNITS, end, true);
  const seconds = (performance.now() - t0) / 1_000;
  const cpu = process.cpuUsage(cpu0);
  const server1 = await serverCpuMs(admin);

  // Sanity: everything the callers were told is committed is there.
  const check = admin;
  const counts = (
    await check.query<{ events: string; outbox: string; inbox: string }>(
      `SELECT (SELECT count(*) FROM "${schema}".events) AS events, (SELECT count(*) FROM "${schema}".outbox) AS outbox,
              (SELECT count(*) FROM "${schema}".inbox) AS inbox`,
    )
  ).rows[0]!;
  await check.end();
  if (Number(counts.inbox) !== issued) {
    throw new Error(`inbox has ${counts.inbox} marks, expected ${issued}`);
  }

  const sorted = [...latencies].sort((a, b) => a - b);
  const result = {
    bench: 'micro-postgres-store',
    units,
    events,
    messages,
    concurrency: CONCURRENCY,
    pool: POOL,
    maxConcurrentCommits: MAX_CONCURRENT_COMMITS ?? null,
    seconds: Number(seconds.toFixed(2)),
    unitsPerSecond: Math.round(units / seconds),
    eventsPerSecond: Math.round(events / seconds),
    latencyMs: {
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
    },
    clientCpuMsPerUnit: Number(((cpu.user + cpu.system) / 1_000 / units).toFixed(3)),
    serverCpuMsPerUnit:
      server0 === undefined || server1 === undefined
        ? null
        : Number(((server1 - server0) / units).toFixed(3)),
    truncated: units < UNITS,
  };
  console.error(
    `${units} units (${events} events, ${messages} messages) from ${CONCURRENCY} callers, pool ${POOL}: ` +
      `${result.unitsPerSecond} units/s, ${result.eventsPerSecond} events/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms` +
      (result.truncated ? ` (stopped at --max-seconds)` : ''),
  );
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await store.close().catch(() => undefined);
  const drop = new pg.Client({ connectionString: values.url });
  await drop.connect();
  await drop.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await drop.end();
}
process.exit(exitCode);
