import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { distributedEnv, dropSchema, randomNamespace, unsettledMessages } from '../support/distributed.ts';
import { natsServerInstalled, startNatsServer, type OwnNatsServer } from '../support/nats-server.ts';
import { createCluster, type ClusterMember, type OrderflowCluster } from '../support/orderflow-cluster.ts';
import { PROCESS_ADMIN_KEY } from '../support/orderflow-process.ts';
import { orderBody } from '../support/orders.ts';
import { SERVICE_URLS, serviceAvailable } from '../support/services.ts';
import { sleep } from '../support/test-app.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

/**
 * The distributed mode under faults: api ×1, saga ×2, inventory ×2, payments, fulfillment and
 * notifications as eight processes on PostgreSQL and a JetStream server of the test's own. 1,000
 * orders (a quarter of them for a hot SKU with far less stock) are placed over HTTP while one saga
 * process and one inventory process are killed with SIGKILL and restarted, and the NATS server is
 * restarted. Afterwards every order has finished, the hot SKU is not oversold, and no effect
 * happened twice — counted in PostgreSQL, the payment simulator's ledger, the mail drop and a
 * webhook receiver.
 */

const runs = natsServerInstalled() && (await serviceAvailable('postgres'));

const ORDERS = 1_000;
const CLIENTS = 8;
const HOT_SKU = 'LU-WATCH';
const HOT_STOCK = 40;
/** Every fourth order wants the hot SKU: 250 orders for 40 units. */
const isHot = (n: number): boolean => n % 4 === 0;
const FINISH_TIMEOUT_MS = 120_000;
/** After the orders finished: their last e-mails and webhooks. */
const QUIET_TIMEOUT_MS = 60_000;
const TERMINAL = new Set(['delivered', 'rejected', 'cancelled']);
/** A request the api has not answered by then counts as unanswered (bounds every fetch). */
const REQUEST_TIMEOUT_MS = 10_000;

const MEMBERS: readonly ClusterMember[] = [
  { name: 'api', roles: ['api'] },
  { name: 'saga-1', roles: ['saga'] },
  { name: 'saga-2', roles: ['saga'] },
  { name: 'inventory-1', roles: ['inventory'] },
  { name: 'inventory-2', roles: ['inventory'] },
  { name: 'payments', roles: ['payments'] },
  { name: 'fulfillment', roles: ['fulfillment'] },
  { name: 'notifications', roles: ['notifications'] },
];

/**
 * Normal SKUs with plenty of stock, spread so that no SKU (a partition key of inventory) becomes a
 * second hot spot; second lines come from other vendors than first lines (split shipments).
 */
const FIRST_LINES = [
  'KC-FILTERS',
  'LU-CABLE-2M',
  'NW-BOTTLE-1L',
  'KC-PRESS-8C',
  'LU-CHARGER-65',
  'NW-HEADLAMP',
];
const SECOND_LINES = ['PT-NOTEBOOK-A5', 'PT-PENCILS-12', 'PB-CRAYONS-24', 'VD-SEEDS-HERB', 'VD-GLOVES'];

type Outcome = 'delivered' | 'out_of_stock' | 'payment_declined' | 'fraud_suspected';

interface PlannedOrder {
  n: number;
  key: string;
  body: string;
  /** What may become of it: hot orders end either way, the others as their card says. */
  expected: readonly Outcome[];
  id?: string;
}

interface OrderView {
  id: string;
  status: string;
  reason?: string;
}

/** Order n: the hot SKU or a normal one, about a third with a second vendor's line, paid by its own card. */
function plannedOrder(n: number): PlannedOrder {
  const hot = isHot(n);
  const items = [{ sku: hot ? HOT_SKU : FIRST_LINES[n % FIRST_LINES.length]!, quantity: 1 }];
  if (n % 4 === 1 || n % 16 === 0) items.push({ sku: SECOND_LINES[n % SECOND_LINES.length]!, quantity: 1 });
  // Declines and fraud only on normal orders, so that every hot order competes for the units to the end.
  const card = hot || ![3, 11].includes(n % 25) ? 'tok_visa' : n % 25 === 3 ? 'tok_declined' : 'tok_risky';
  const expected: readonly Outcome[] = hot
    ? ['delivered', 'out_of_stock']
    : card === 'tok_declined'
      ? ['payment_declined']
      : card === 'tok_risky'
        ? ['fraud_suspected']
        : ['delivered'];
  const body = orderBody({
    customerId: `faults-${n}`,
    items,
    paymentMethod: { token: `${card}.faults-${n}` },
  });
  return { n, key: `faults-${n}`, body: JSON.stringify(body), expected };
}

function outcomeOf(view: OrderView): string {
  return view.status === 'delivered' ? 'delivered' : (view.reason ?? view.status);
}

/** A `vi.waitFor` that ran out of time (its last assertion failed), not an error of the probe itself. */
function timedOut(error: unknown): boolean {
  return error instanceof Error && error.name === 'AssertionError';
}

/** The api could not be reached (fetch failed) or did not answer in time: worth asking again. */
function unanswered(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof Error && error.name === 'TimeoutError');
}

/** Places the order, retrying the same key and body while the api cannot be reached; returns its id. */
async function place(url: string, order: PlannedOrder): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 1; Date.now() < deadline; attempt++) {
    try {
      const response = await fetch(`${url}/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': order.key },
        body: order.body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (response.status === 200 || response.status === 201) {
        return ((await response.json()) as OrderView).id;
      }
      if (response.status !== 503) {
        throw new Error(`order ${order.n}: unexpected ${response.status}: ${await response.text()}`);
      }
    } catch (error) {
      if (!unanswered(error)) throw error;
    }
    await sleep(Math.min(100 * attempt, 1_000));
  }
  throw new Error(`order ${order.n} was not accepted within 60 s`);
}

/** CLIENTS concurrent clients place every order once; `progress.accepted` counts the answers so far. */
async function placeAll(url: string, orders: PlannedOrder[], progress: { accepted: number }): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let order = orders[next++]; order !== undefined; order = orders[next++]) {
        order.id = await place(url, order);
        progress.accepted++;
      }
    }),
  );
}

/**
 * Waits until every order has a terminal event (one query a second: a thousand GETs a second would
 * compete with the processes for the CPU), reporting about every 10 s, then reads every order
 * through the API.
 */
async function awaitFinished(
  url: string,
  ids: string[],
  finished: () => Promise<number>,
  report: (what: string) => void,
): Promise<Map<string, OrderView>> {
  let reportAt = 0;
  await vi
    .waitFor(
      async () => {
        const done = await finished();
        if (done < ids.length && Date.now() >= reportAt) {
          report(`${done}/${ids.length} finished`);
          reportAt = Date.now() + 10_000;
        }
        expect(done).toBeGreaterThanOrEqual(ids.length);
      },
      { timeout: FINISH_TIMEOUT_MS, interval: 1_000 },
    )
    // Out of time: the caller reports the orders that did not finish.
    .catch((error: unknown) => {
      if (!timedOut(error)) throw error;
    });
  const views = new Map<string, OrderView>();
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(
      ids.slice(i, i + 16).map(async (id) => {
        const response = await fetch(`${url}/v1/orders/${id}`, {
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        views.set(
          id,
          response.ok ? ((await response.json()) as OrderView) : { id, status: `HTTP ${response.status}` },
        );
      }),
    );
  }
  return views;
}

/** Sets the hot SKU's stock: HOT_STOCK units in its first warehouse, none in the others. */
async function stockHotSku(url: string): Promise<void> {
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const inventory = (await (await fetch(`${url}/v1/inventory/${HOT_SKU}`, { signal })).json()) as {
    warehouses: { warehouseId: string; vendorId: string }[];
  };
  for (const [i, warehouse] of inventory.warehouses.entries()) {
    const response = await fetch(`${url}/v1/vendors/${warehouse.vendorId}/stock/${HOT_SKU}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${PROCESS_ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ warehouseId: warehouse.warehouseId, onHand: i === 0 ? HOT_STOCK : 0 }),
      signal,
    });
    if (response.status !== 200) {
      throw new Error(`stock of ${HOT_SKU}: ${response.status} ${await response.text()}`);
    }
  }
}

interface StockRow {
  type: string;
  data: { warehouseId: string | null; onHand?: number; quantity?: number };
}

/**
 * Replays a stock stream in version order: the most units ever held or sold beyond what a warehouse
 * had on hand (0: never oversold), and the units sold (committed).
 */
function replayStock(rows: StockRow[]): { oversold: number; sold: number } {
  const warehouses = new Map<string, { onHand: number; reserved: number }>();
  let oversold = 0;
  let sold = 0;
  for (const { type, data } of rows) {
    if (data.warehouseId === null) continue;
    const w = warehouses.get(data.warehouseId) ?? { onHand: 0, reserved: 0 };
    warehouses.set(data.warehouseId, w);
    const quantity = data.quantity ?? 0;
    if (type === 'StockLevelSet') w.onHand = data.onHand!;
    if (type === 'StockReserved') w.reserved += quantity;
    if (type === 'StockReleased') w.reserved -= quantity;
    if (type === 'StockCommitted') {
      w.onHand -= quantity;
      w.reserved -= quantity;
      sold += quantity;
    }
    oversold = Math.max(oversold, w.reserved - w.onHand);
  }
  return { oversold, sold };
}

/** "n: a, b, c …" for a violation message: the count and the first few. */
function some(items: readonly string[]): string {
  return `${items.length}: ${items.slice(0, 5).join(', ')}${items.length > 5 ? ' …' : ''}`;
}

describe.runIf(runs)('distributed mode under faults: 8 processes, SIGKILLs and a NATS restart', () => {
  const namespace = randomNamespace();
  const schema = `"${namespace}"`;
  const started = Date.now();
  const timeline: string[] = [];
  const mark = (what: string): void => {
    timeline.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}`);
  };
  let nats: OwnNatsServer | undefined;
  let receiver: WebhookReceiver | undefined;
  let cluster: OrderflowCluster | undefined;
  const db = new pg.Client({ connectionString: SERVICE_URLS.postgres });

  const query = async <T>(text: string, params: unknown[] = []): Promise<T[]> =>
    (await db.query(text, params)).rows as T[];
  const count = async (text: string, params: unknown[] = []): Promise<number> =>
    (await query<{ n: number }>(text, params))[0]!.n;

  /** When the faults happened, and what the children and the NATS server said last. */
  const context = (): string =>
    [`timeline:\n${timeline.join('\n')}`, cluster?.tails() ?? '', `--- nats ---\n${nats?.tail() ?? ''}`].join(
      '\n',
    );

  beforeAll(async () => {
    await db.connect();
    nats = await startNatsServer();
    receiver = await startWebhookReceiver();
    cluster = await createCluster(MEMBERS, {
      ...distributedEnv(namespace, nats.url),
      ORDERFLOW_CARRIER_DELAY_MS: '200',
      ORDERFLOW_VENDOR_WEBHOOK_URL: receiver.url,
      // Eight processes share PostgreSQL's 100 connections with the suites running beside this one.
      ORDERFLOW_POSTGRES_POOL_SIZE: '3',
    });
    await cluster.startAll();
    mark('8 processes ready');
    await stockHotSku(cluster.url('api'));
  }, 120_000);

  afterAll(async () => {
    // Every step, even after one failed: nothing may outlive the test.
    const steps = [
      () => cluster?.remove(),
      () => nats?.remove(),
      () => receiver?.close(),
      () => db.end(),
      () => dropSchema(namespace),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await Promise.resolve(step()).catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw new AggregateError(failures, 'cleanup failed');
  }, 60_000);

  it('finishes every order, sells the hot SKU exactly once per unit, and repeats no effect', async () => {
    let violations: string[];
    try {
      const orders = await placeOrdersUnderFaults();
      const views = await awaitFinished(
        cluster!.url('api'),
        orders.map((order) => order.id!),
        () =>
          count(
            `SELECT count(DISTINCT stream_id)::int AS n FROM ${schema}.events
             WHERE type IN ('OrderDelivered', 'OrderRejected', 'OrderCancelled')`,
          ),
        mark,
      );
      mark('orders read through the API');
      const busy = await awaitQuiet();
      mark(busy === undefined ? 'quiet' : `still busy: ${busy}`);
      violations = [
        ...checkOutcomes(orders, views),
        ...(busy === undefined ? [] : [`not quiet after ${QUIET_TIMEOUT_MS / 1000} s: ${busy}`]),
        ...(await auditEffects(orders, views)),
      ];
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n\n${context()}`, { cause: error });
    }
    expect(violations, context()).toEqual([]);
  }, 300_000);

  /** 1,000 orders from CLIENTS clients while a saga and an inventory process die and NATS restarts. */
  async function placeOrdersUnderFaults(): Promise<PlannedOrder[]> {
    const c = cluster!;
    const orders = Array.from({ length: ORDERS }, (_, n) => plannedOrder(n));
    const progress = { accepted: 0, placing: true };
    // waitUntil, not waitFor: it gives up at once when placing the orders has failed.
    const reached = (accepted: number) =>
      vi.waitUntil(
        () => {
          if (progress.accepted >= accepted) return true;
          if (!progress.placing)
            throw new Error(`placing the orders failed before ${accepted} were accepted`);
          return false;
        },
        { timeout: 60_000, interval: 25 },
      );
    const faults = async (): Promise<void> => {
      await reached(150);
      await c.kill('saga-1');
      mark('saga-1 killed');
      await sleep(1_000);
      await c.start('saga-1');
      mark('saga-1 restarted');
      // Apart, so that each fault meets a system that has recovered from the one before.
      await Promise.all([reached(400), sleep(5_000)]);
      await nats!.stop();
      mark('nats stopped');
      await sleep(1_500);
      await nats!.start();
      mark('nats started');
      await Promise.all([reached(650), sleep(5_000)]);
      await c.kill('inventory-2');
      mark('inventory-2 killed');
      await sleep(1_000);
      await c.start('inventory-2');
      mark('inventory-2 restarted');
    };
    mark('placing orders');
    const placing = placeAll(c.url('api'), orders, progress).finally(() => (progress.placing = false));
    // Both settled before going on: a fault still under way could restart a process after cleanup.
    const [placed, faulted] = await Promise.allSettled([placing.then(() => mark('all accepted')), faults()]);
    for (const result of [placed, faulted]) if (result.status === 'rejected') throw result.reason;
    return orders;
  }

  /**
   * Waits until nothing is left to do (every message published and settled by its groups, twice in
   * a row), so that the audit sees the last e-mails and webhooks. Returns what was left otherwise.
   */
  async function awaitQuiet(): Promise<string | undefined> {
    let quiet = 0;
    let left = '';
    try {
      await vi.waitFor(
        async () => {
          const unpublished = await count(
            `SELECT count(*)::int AS n FROM ${schema}.outbox WHERE published_at IS NULL`,
          );
          const unsettled = await unsettledMessages(namespace, nats!.url);
          left = `${unpublished} messages unpublished, ${unsettled} unsettled`;
          quiet = unpublished + unsettled === 0 ? quiet + 1 : 0;
          expect(quiet, left).toBe(2);
        },
        { timeout: QUIET_TIMEOUT_MS, interval: 1_000 },
      );
      return undefined;
    } catch (error) {
      if (!timedOut(error)) throw error;
      return left;
    }
  }

  /** Every order finished, as its card and the hot SKU's stock allow. */
  function checkOutcomes(orders: PlannedOrder[], views: Map<string, OrderView>): string[] {
    const violations: string[] = [];
    const unfinished = [...views.values()].filter((view) => !TERMINAL.has(view.status));
    if (unfinished.length > 0) {
      violations.push(`unfinished orders ${some(unfinished.map((v) => `${v.id} ${v.status}`))}`);
    }
    const surprises = orders.flatMap((order) => {
      const outcome = outcomeOf(views.get(order.id!)!);
      return (order.expected as readonly string[]).includes(outcome)
        ? []
        : [`order ${order.n} ${order.id} ${outcome}, expected ${order.expected.join('|')}`];
    });
    if (surprises.length > 0) violations.push(`unexpected outcomes ${some(surprises)}`);
    const delivered = orders.filter((order) => views.get(order.id!)!.status === 'delivered');
    if (delivered.length <= ORDERS * 0.6) violations.push(`only ${delivered.length} orders delivered`);
    const hotDelivered = delivered.filter((order) => isHot(order.n)).length;
    if (hotDelivered !== HOT_STOCK) {
      violations.push(`${hotDelivered} orders of the hot SKU delivered, expected ${HOT_STOCK}`);
    }
    return violations;
  }

  /** Where the effects landed: PostgreSQL, the payment ledger, the mail drop, the webhook receiver. */
  async function auditEffects(orders: PlannedOrder[], views: Map<string, OrderView>): Promise<string[]> {
    const violations: string[] = [];
    const delivered = new Set(orders.map((o) => o.id!).filter((id) => views.get(id)!.status === 'delivered'));

    // The hot SKU: never more held or sold than on hand, and exactly its stock sold.
    const hot = replayStock(
      await query<StockRow>(`SELECT type, data FROM ${schema}.events WHERE stream_id = $1 ORDER BY version`, [
        `stock-${HOT_SKU}`,
      ]),
    );
    if (hot.oversold > 0) violations.push(`hot SKU oversold by ${hot.oversold}`);
    if (hot.sold !== HOT_STOCK) violations.push(`hot SKU: ${hot.sold} units sold, expected ${HOT_STOCK}`);

    // One business fact, one event: nothing reserved, paid, dispatched, notified or placed twice.
    const facts = [
      ['OrderPlaced', 'orderId'],
      ['StockReserved', 'reservationId'],
      ['PaymentAuthorized', 'paymentId'],
      ['PaymentCaptured', 'paymentId'],
      ['ShipmentDispatched', 'shipmentId'],
      ['CustomerNotified', 'notificationId'],
      ['VendorNotified', 'notificationId'],
    ] as const;
    for (const [type, key] of facts) {
      const twice = await query<{ id: string }>(
        `SELECT data->>$2 AS id FROM ${schema}.events WHERE type = $1 GROUP BY 1 HAVING count(*) > 1`,
        [type, key],
      );
      if (twice.length > 0) violations.push(`${type} twice for ${some(twice.map((row) => row.id))}`);
    }
    const placed = await count(`SELECT count(*)::int AS n FROM ${schema}.events WHERE type = 'OrderPlaced'`);
    if (placed !== ORDERS) violations.push(`${placed} OrderPlaced events for ${ORDERS} orders`);

    // Finished orders hold no stock, finished sagas leave no timer, no message was given up on.
    const held = await query<{ id: string }>(
      `SELECT r.data->>'reservationId' AS id FROM ${schema}.events r WHERE r.type = 'StockReserved'
       AND NOT EXISTS (SELECT 1 FROM ${schema}.events e WHERE e.stream_id = r.stream_id
         AND e.type IN ('StockReleased', 'StockCommitted') AND e.data->>'reservationId' = r.data->>'reservationId')`,
    );
    if (held.length > 0)
      violations.push(`stock still held by reservations ${some(held.map((row) => row.id))}`);
    const timers = await count(
      `SELECT count(*)::int AS n FROM ${schema}.scheduled_messages WHERE envelope->>'type' = 'saga.SagaTimerFired'`,
    );
    if (timers > 0) violations.push(`${timers} saga timers left`);
    const parked = await query<{ letter: string }>(
      `SELECT group_name || ' ' || message_type || ': ' || (error->>'message') AS letter FROM ${schema}.dead_letters`,
    );
    if (parked.length > 0) violations.push(`dead letters ${some(parked.map((row) => row.letter))}`);

    violations.push(...auditLedger(delivered), ...(await auditNotifications()));
    return violations;
  }

  /** The payment provider captured exactly once per delivered order, and for no other. */
  function auditLedger(delivered: Set<string>): string[] {
    const ledger = new Database(path.join(cluster!.dataDir('payments'), 'simulators', 'payment-gateway.db'), {
      readonly: true,
    });
    try {
      const captures = ledger
        .prepare(
          `SELECT payment_ref AS ref, COUNT(*) AS n FROM operations WHERE kind = 'capture' AND outcome = 'captured' GROUP BY payment_ref`,
        )
        .all() as { ref: string; n: number }[];
      const violations: string[] = [];
      const twice = captures.filter((row) => row.n > 1).map((row) => row.ref);
      if (twice.length > 0) violations.push(`captured twice: ${some(twice)}`);
      // Payment ids are `<orderId>:payment`.
      const captured = new Set(captures.map((row) => row.ref.split(':')[0]!));
      const unpaid = [...delivered].filter((id) => !captured.has(id));
      if (unpaid.length > 0) violations.push(`delivered without a capture: ${some(unpaid)}`);
      const undelivered = [...captured].filter((id) => !delivered.has(id));
      if (undelivered.length > 0) violations.push(`captured but not delivered: ${some(undelivered)}`);
      return violations;
    } finally {
      ledger.close();
    }
  }

  /** One .eml file per recorded e-mail; every recorded webhook arrived, repeats (same id) rare. */
  async function auditNotifications(): Promise<string[]> {
    const violations: string[] = [];
    const mails = fs
      .readdirSync(path.join(cluster!.dataDir('notifications'), 'mail'))
      .filter((file) => file.endsWith('.eml')).length;
    const emailed = await count(
      `SELECT count(*)::int AS n FROM ${schema}.events WHERE type = 'CustomerNotified'`,
    );
    if (mails !== emailed) violations.push(`${mails} e-mail files for ${emailed} CustomerNotified events`);
    if (mails < ORDERS) violations.push(`only ${mails} e-mails for ${ORDERS} orders`);

    const notified = await query<{ id: string }>(
      `SELECT data->>'notificationId' AS id FROM ${schema}.events WHERE type = 'VendorNotified'`,
    );
    const received = new Set(receiver!.deliveries);
    const missing = notified.map((row) => row.id).filter((id) => !received.has(id));
    if (notified.length === 0) violations.push('no vendor webhook recorded');
    if (missing.length > 0) violations.push(`webhooks recorded but never received: ${some(missing)}`);
    // A kill between a POST and its commit repeats that POST with the same webhook-id (receivers dedupe).
    const repeats = receiver!.deliveries.length - received.size;
    if (repeats >= received.size / 4)
      violations.push(`${repeats} webhook repeats for ${received.size} webhooks`);
    return violations;
  }
});
