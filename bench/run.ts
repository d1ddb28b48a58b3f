/**
 * The flash-sale benchmark (DESIGN.md §7): starts Orderflow as a child process on a fresh data dir,
 * drives its real HTTP API with many customers ordering a few hot SKUs of limited stock among
 * ordinary lines, with good, declined, risky and slow payments, waits until every accepted order
 * has an outcome, then checks the store itself for oversell, lost orders and duplicated effects.
 *
 *   npm run bench -- [--orders 5000] [--concurrency 64] [--rate 500] [--hot-stock 300]
 *                    [--carrier-delay-ms 5000] [--timeout-s 120] [--keep] [--mode embedded|distributed]
 *                    [--roles api,saga,…]   (the server's `--roles`; default every role)
 *
 * Closed loop by default (each of `concurrency` clients places its next order when the last one was
 * accepted: maximum throughput); `--rate N` runs an open loop at N orders/s instead (latency at a
 * given load). The last line on stdout is one JSON object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openEventStore } from '../src/app/open-event-store.ts';
import { loadConfig } from '../src/config/load-config.ts';
import type { EventStore, StoredEvent } from '../src/event-store/index.ts';
import { removeNamespace } from '../test/support/distributed.ts';
import { freePort, sleep } from '../test/support/test-app.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const HOT_SKUS = ['NW-TENT-2P', 'LU-WATCH', 'KC-GRINDER'];
const COUNTRIES = { NA: ['US', 'CA'], EU: ['DE', 'FR', 'GB'], APAC: ['JP', 'AU', 'SG'] } as const;
const REGIONS = ['NA', 'EU', 'APAC'] as const;
/** Statuses that end the measurement of an order (DESIGN §7: terminal or confirmed). */
const OUTCOME_TYPES = ['OrderConfirmed', 'OrderRejected', 'OrderCancelled'];

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string' },
    'hot-stock': { type: 'string', default: '300' },
    'carrier-delay-ms': { type: 'string', default: '5000' },
    'timeout-s': { type: 'string', default: '120' },
    keep: { type: 'boolean', default: false },
    mode: { type: 'string', default: 'embedded' },
    roles: { type: 'string' },
  },
});

if (args.mode !== 'embedded' && args.mode !== 'distributed') {
  console.error(`bench: --mode must be embedded or distributed, got ${String(args.mode)}`);
  process.exit(2);
}
const MODE = args.mode;
/** Distributed mode: a namespace of its own on the local PostgreSQL and NATS, removed afterwards. */
const NAMESPACE = `bench_${Date.now().toString(36)}`;
const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const ORDERS = positiveInt('orders');
const CONCURRENCY = positiveInt('concurrency');
const RATE = args.rate === undefined ? undefined : positiveInt('rate');
const HOT_STOCK = positiveInt('hot-stock');
const TIMEOUT_MS = positiveInt('timeout-s') * 1000;

function positiveInt(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`bench: --${name} must be a positive integer, got ${String(args[name])}`);
    process.exit(2);
  }
  return value;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(CONCURRENCY, 256) });

interface HttpAnswer {
  status: number;
  body: string;
}

function request(
  port: number,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        headers: {
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The server's configuration: the caller's ORDERFLOW_* settings and the benchmark's own. */
function serverEnv(dataDir: string): Record<string, string> {
  const inherited = Object.entries(process.env).filter(
    (entry): entry is [string, string] => entry[0].startsWith('ORDERFLOW_') && entry[1] !== undefined,
  );
  return {
    ...Object.fromEntries(inherited),
    ORDERFLOW_DATA_DIR: dataDir,
    ORDERFLOW_HOST: '127.0.0.1',
    ORDERFLOW_ADMIN_KEY: ADMIN_KEY,
    ORDERFLOW_LOG_LEVEL: 'warn',
    ORDERFLOW_CARRIER_DELAY_MS: String(args['carrier-delay-ms']),
    ...(MODE === 'distributed'
      ? { ORDERFLOW_STORE: POSTGRES_URL, ORDERFLOW_BUS: NATS_URL, ORDERFLOW_NAMESPACE: NAMESPACE }
      : {}),
  };
}

async function startOrderflow(dataDir: string, port: number): Promise<ChildProcess> {
  // BENCH_NODE_ARGS passes flags to the server's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const roles = args.roles === undefined ? [] : ['--roles', args.roles];
  const child = spawn(
    process.execPath,
    [...nodeArgs, path.join(ROOT, 'bin/orderflow.mjs'), 'start', ...roles],
    {
      cwd: ROOT,
      env: { ...process.env, ...serverEnv(dataDir), ORDERFLOW_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`orderflow exited with ${child.exitCode} during start`);
    try {
      if ((await request(port, 'GET', '/readyz')).status === 200) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('orderflow did not become ready in 60 s');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)]! * 100) / 100;
}

function summary(values: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

interface CatalogItem {
  sku: string;
  vendorId: string;
}

/** A deterministic, varied order: many customers, hot SKUs in 40% of orders, a payment mix. */
function orderFor(n: number, catalog: CatalogItem[]): Record<string, unknown> {
  const region = REGIONS[n % 3]!;
  const countries = COUNTRIES[region];
  const customer = `bench-${n % 20_000}`;
  const roll = (n * 7919) % 100;
  const token =
    roll < 85
      ? `tok_visa.${customer}`
      : roll < 92
        ? `tok_declined.${n}`
        : roll < 97
          ? `tok_risky.${n}`
          : `tok_timeout.${n}`;
  const ordinary = catalog.filter((item) => !HOT_SKUS.includes(item.sku));
  const items = [{ sku: ordinary[(n * 31) % ordinary.length]!.sku, quantity: 1 + (n % 2) }];
  if (n % 5 < 2) items.push({ sku: HOT_SKUS[n % HOT_SKUS.length]!, quantity: 1 });
  if (n % 7 === 0) {
    const other = ordinary[(n * 17 + 5) % ordinary.length]!.sku;
    if (!items.some((item) => item.sku === other)) items.push({ sku: other, quantity: 1 });
  }
  return {
    customerId: customer,
    region,
    currency: 'USD',
    items,
    shippingAddress: {
      name: `Customer ${n}`,
      line1: `${n} Market St`,
      city: 'Springfield',
      postalCode: '10001',
      country: countries[n % countries.length],
    },
    paymentMethod: { token },
  };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  try {
    child = await startOrderflow(dataDir, port);
    const auth = { authorization: `Bearer ${ADMIN_KEY}` };
    const catalog = (JSON.parse((await request(port, 'GET', '/v1/catalog')).body) as { items: CatalogItem[] })
      .items;

    // The flash sale: hot SKUs get limited stock in one warehouse each; ordinary SKUs plenty everywhere.
    const hotStock = new Map<string, number>();
    for (const sku of HOT_SKUS) {
      const inventory = JSON.parse((await request(port, 'GET', `/v1/inventory/${sku}`)).body) as {
        warehouses: { warehouseId: string; vendorId: string }[];
      };
      let total = 0;
      for (const [i, warehouse] of inventory.warehouses.entries()) {
        const onHand = i === 0 ? HOT_STOCK : 0;
        total += onHand;
        const answer = await request(
          port,
          'PUT',
          `/v1/vendors/${warehouse.vendorId}/stock/${sku}`,
          { warehouseId: warehouse.warehouseId, onHand },
          auth,
        );
        if (answer.status !== 200)
          throw new Error(`setting stock of ${sku}: ${answer.status} ${answer.body}`);
      }
      hotStock.set(sku, total);
    }
    for (const item of catalog.filter((i) => !HOT_SKUS.includes(i.sku))) {
      const inventory = JSON.parse((await request(port, 'GET', `/v1/inventory/${item.sku}`)).body) as {
        warehouses: { warehouseId: string }[];
      };
      for (const warehouse of inventory.warehouses) {
        await request(
          port,
          'PUT',
          `/v1/vendors/${item.vendorId}/stock/${item.sku}`,
          { warehouseId: warehouse.warehouseId, onHand: 1_000_000 },
          auth,
        );
      }
    }

    const acceptLatencies: number[] = [];
    const accepted = new Map<string, number>();
    let failures = 0;
    let next = 0;
    const started = performance.now();

    async function place(n: number): Promise<void> {
      const t0 = performance.now();
      try {
        const answer = await request(port, 'POST', '/v1/orders', orderFor(n, catalog), {
          'idempotency-key': `bench-${n}`,
        });
        const ms = performance.now() - t0;
        if (answer.status === 201 || answer.status === 200) {
          acceptLatencies.push(ms);
          accepted.set((JSON.parse(answer.body) as { id: string }).id, n);
        } else {
          failures++;
          if (failures <= 5)
            console.error(`bench: order ${n} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
        }
      } catch (error) {
        failures++;
        if (failures <= 5) console.error(`bench: order ${n} failed: ${(error as Error).message}`);
      }
    }

    if (RATE === undefined) {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < ORDERS) await place(next++);
        }),
      );
    } else {
      const inFlight: Promise<void>[] = [];
      const interval = 1000 / RATE;
      for (let n = 0; n < ORDERS; n++) {
        const due = started + n * interval;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        inFlight.push(place(n));
      }
      await Promise.all(inFlight);
    }
    const acceptDone = performance.now();

    // Wait until every accepted order has an outcome (confirmed or terminal), bounded in time.
    const reader = await openStoreReader(serverEnv(dataDir));
    const deadline = Date.now() + TIMEOUT_MS;
    let outcomeRows: { orderId: string; time: number }[] = [];
    for (;;) {
      outcomeRows = await reader.outcomes();
      if (outcomeRows.length >= accepted.size || Date.now() > deadline) break;
      await sleep(200);
    }
    const completedAt = performance.now();

    // Group-commit efficiency, from the server's own metrics.
    const metricsText = (await request(port, 'GET', '/metrics')).body;
    const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metricsText)?.[1] ?? 0);
    const commits = metric('orderflow_store_commits_total');
    const writesPerCommit =
      commits === 0 ? 0 : Math.round((metric('orderflow_store_writes_total') / commits) * 10) / 10;

    // Stop gracefully, then check everything against the store itself.
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const exitCode = await exited;
    child = undefined;
    if (exitCode !== 0) console.error(`bench: orderflow exited with ${String(exitCode)}`);
    const report = verify(await reader.events(), accepted, hotStock);
    await reader.close();

    const placedTimes = report.placedTimes;
    const endToEnd: number[] = [];
    let firstPlaced = Infinity;
    let lastOutcome = 0;
    for (const row of outcomeRows) {
      const placed = placedTimes.get(row.orderId);
      const outcome = row.time;
      if (placed === undefined) continue;
      endToEnd.push(outcome - placed);
      firstPlaced = Math.min(firstPlaced, placed);
      lastOutcome = Math.max(lastOutcome, outcome);
    }
    for (const placed of placedTimes.values()) firstPlaced = Math.min(firstPlaced, placed);
    const acceptSeconds = (acceptDone - started) / 1000;
    const completionSeconds = Math.max(0.001, (lastOutcome - firstPlaced) / 1000);

    console.error(
      `bench: ${accepted.size} accepted of ${ORDERS} (${failures} failed) in ${acceptSeconds.toFixed(2)} s; ` +
        `${outcomeRows.length} with an outcome after ${((completedAt - started) / 1000).toFixed(2)} s; data in ${dataDir}`,
    );
    const result = {
      scenario: 'flash-sale',
      mode: MODE,
      shape: RATE === undefined ? `closed-loop, concurrency ${CONCURRENCY}` : `open-loop at ${RATE} orders/s`,
      orders: accepted.size,
      durationS: Math.round(((completedAt - started) / 1000) * 100) / 100,
      acceptedPerSec: Math.round(accepted.size / acceptSeconds),
      completedPerSec: Math.round(outcomeRows.length / completionSeconds),
      acceptLatencyMs: summary(acceptLatencies),
      endToEndMs: summary(endToEnd),
      byStatus: report.byStatus,
      oversold: report.oversold,
      lost: report.lost,
      duplicateEffects: report.duplicateEffects,
      failedRequests: failures,
      // Group-commit figures exist for the embedded store only.
      ...(MODE === 'embedded' ? { storeCommits: commits, writesPerCommit } : {}),
    };
    console.log(JSON.stringify(result));
  } finally {
    if (child !== undefined) child.kill('SIGKILL');
    agent.destroy();
    if (!args.keep) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (MODE === 'distributed')
        await removeNamespace(NAMESPACE).catch((error: unknown) =>
          console.error(`bench: cleanup: ${String(error)}`),
        );
    }
  }
}

interface Verification {
  byStatus: Record<string, number>;
  oversold: number;
  lost: number;
  duplicateEffects: number;
  /** Epoch ms of each accepted order's OrderPlaced. */
  placedTimes: Map<string, number>;
}

/** An event as the checks need it, in global order. */
interface EventRow {
  type: string;
  streamId: string;
  correlationId: string | null;
  data: Record<string, unknown>;
  time: number;
}

/**
 * Reads the store after (and during) the run, through the EventStore port: the checks run on what
 * was stored, not on the answers the API gave.
 */
interface StoreReader {
  /** Orders with an outcome (confirmed, rejected, cancelled) and when it was first recorded. */
  outcomes(): Promise<{ orderId: string; time: number }[]>;
  events(): Promise<EventRow[]>;
  close(): Promise<void>;
}

const PAGE = 10_000;

/** Every stored event after `after`, in global order, page by page. */
async function* readAllFrom(
  store: EventStore,
  types?: readonly string[],
  after = -1,
): AsyncGenerator<StoredEvent> {
  for (;;) {
    const page = await store.readAll({ after, maxCount: PAGE, ...(types !== undefined ? { types } : {}) });
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1]!.position;
  }
}

async function openStoreReader(env: Record<string, string>): Promise<StoreReader> {
  const store = await openEventStore(loadConfig(env));
  // Outcomes are read incrementally while the run drains: only what was stored since the last look.
  const firstOutcome = new Map<string, number>();
  let cursor = -1;
  return {
    async outcomes() {
      for await (const event of readAllFrom(store, OUTCOME_TYPES, cursor)) {
        cursor = event.position;
        const orderId = event.metadata.correlationId;
        if (orderId !== undefined && !firstOutcome.has(orderId))
          firstOutcome.set(orderId, Date.parse(event.time));
      }
      return [...firstOutcome].map(([orderId, time]) => ({ orderId, time }));
    },
    async events() {
      const rows: EventRow[] = [];
      for await (const event of readAllFrom(store)) {
        rows.push({
          type: event.type,
          streamId: event.streamId,
          correlationId: event.metadata.correlationId ?? null,
          data: event.data as Record<string, unknown>,
          time: Date.parse(event.time),
        });
      }
      return rows;
    },
    close: () => store.close(),
  };
}

const LIFECYCLE: Record<string, string> = {
  OrderPlaced: 'pending',
  OrderConfirmed: 'confirmed',
  OrderRejected: 'rejected',
  OrderCancelled: 'cancelled',
  OrderDelivered: 'delivered',
};

/** Facts that must be recorded once, and the field that tells two of them apart within an order. */
const ONCE = new Set([
  'OrderPlaced',
  'OrderConfirmed',
  'OrderRejected',
  'OrderCancelled',
  'OrderDelivered',
  'StockReserved',
  'StockReleased',
  'StockCommitted',
  'PaymentAuthorized',
  'PaymentCaptured',
  'PaymentVoided',
  'ShipmentAllocated',
  'ShipmentDispatched',
  'ShipmentDelivered',
  'CustomerNotified',
  'VendorNotified',
]);
const DISTINGUISHING = ['reservationId', 'shipmentId', 'notificationId', 'vendorId'];

/** Outcomes, oversell, lost orders and duplicated facts, from the stored events. */
function verify(
  events: EventRow[],
  accepted: Map<string, number>,
  hotStock: Map<string, number>,
): Verification {
  const placedTimes = new Map<string, number>();
  const statuses = new Map<string, string>();
  const facts = new Map<string, number>();
  const held = new Map<string, number>();
  for (const event of events) {
    if (event.streamId.startsWith('order-') && event.type in LIFECYCLE) {
      const orderId = event.streamId.slice('order-'.length);
      if (event.type === 'OrderPlaced') placedTimes.set(orderId, event.time);
      const reason = event.data.reason;
      statuses.set(
        orderId,
        typeof reason === 'string' ? `${LIFECYCLE[event.type]}:${reason}` : LIFECYCLE[event.type]!,
      );
    }
    if (ONCE.has(event.type)) {
      const distinct =
        DISTINGUISHING.map((field) => event.data[field]).find((value) => value !== undefined) ?? '';
      const key = `${event.correlationId ?? event.streamId}|${event.type}|${JSON.stringify(distinct)}`;
      facts.set(key, (facts.get(key) ?? 0) + 1);
    }
    // Units of a hot SKU held by reservations (released ones given back).
    const sku = event.streamId.startsWith('stock-') ? event.streamId.slice('stock-'.length) : undefined;
    if (sku !== undefined && hotStock.has(sku) && typeof event.data.quantity === 'number') {
      if (event.type === 'StockReserved') held.set(sku, (held.get(sku) ?? 0) + event.data.quantity);
      if (event.type === 'StockReleased') held.set(sku, (held.get(sku) ?? 0) - event.data.quantity);
    }
  }
  const byStatus: Record<string, number> = {};
  for (const status of statuses.values()) byStatus[status] = (byStatus[status] ?? 0) + 1;
  let lost = 0;
  for (const orderId of accepted.keys()) {
    const status = statuses.get(orderId);
    if (status === undefined || status === 'pending') lost++;
  }
  let duplicateEffects = 0;
  for (const count of facts.values()) duplicateEffects += count - 1;
  let oversold = 0;
  for (const [sku, stock] of hotStock) oversold += Math.max(0, (held.get(sku) ?? 0) - stock);
  return { byStatus, oversold, lost, duplicateEffects, placedTimes };
}

await main();
