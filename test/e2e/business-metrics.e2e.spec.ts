import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_MARKETPLACE } from '../../src/contexts/catalog/index.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { newKey, orderBody, postOrder, type OrderRequest } from '../support/orders.ts';
import { scrape, seriesOf, type Sample } from '../support/prometheus-text.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, startTestApp, tempDataDir, type TestApp } from '../support/test-app.ts';

/**
 * The business metrics of DESIGN.md §9 after a scripted run, in both modes, and the same after a
 * restart on the same store (they are folded from the store, not counted in memory): 10 orders,
 * 7 paid (and, with a carrier delay of 0, shipped and delivered), 2 declined, 1 suspected of fraud.
 */

const SKU = 'KC-KETTLE-GS';
const UNIT_PRICE = DEMO_MARKETPLACE.products.find((product) => product.sku === SKU)!.unitPrice;

interface Scripted {
  body: OrderRequest;
  outcome: 'delivered' | 'payment_declined' | 'fraud_suspected';
}

function script(): Scripted[] {
  const run = randomUUID().slice(0, 8);
  const tokens = [...Array<string>(7).fill('tok_visa'), 'tok_declined', 'tok_declined', 'tok_risky'];
  return tokens.map((token, i) => ({
    body: orderBody({
      customerId: `cust-${run}-${i}`,
      region: i % 2 === 0 ? 'EU' : 'NA',
      items: [{ sku: SKU, quantity: 1 + (i % 3) }],
      // A card per order: velocity rules count per full token.
      paymentMethod: { token: `${token}.${run}-${i}` },
    }),
    outcome:
      token === 'tok_visa' ? 'delivered' : token === 'tok_declined' ? 'payment_declined' : 'fraud_suspected',
  }));
}

/** What the metrics must say, computed from the script and the catalog's price. */
function expected(orders: readonly Scripted[]) {
  const count = (map: Record<string, number>, key: string, by = 1) => (map[key] = (map[key] ?? 0) + by);
  const ordersTotal: Record<string, number> = {};
  const ended: Record<string, number> = {};
  const revenueCents: Record<string, number> = {};
  const authorizations: Record<string, number> = {};
  for (const { body, outcome } of orders) {
    const region = body.region;
    count(ordersTotal, `region=${region},status=pending`);
    if (outcome === 'delivered') {
      for (const status of ['confirmed', 'shipped', 'delivered'])
        count(ordersTotal, `region=${region},status=${status}`);
      count(revenueCents, `currency=USD,region=${region}`, UNIT_PRICE * body.items[0]!.quantity);
      count(authorizations, `outcome=approved,region=${region}`);
    } else {
      count(ordersTotal, `region=${region},status=rejected`);
      count(ended, `reason=${outcome},region=${region},status=rejected`);
      if (outcome === 'payment_declined') count(authorizations, `outcome=declined,region=${region}`);
    }
  }
  const revenue = Object.fromEntries(Object.entries(revenueCents).map(([key, cents]) => [key, cents / 100]));
  return { ordersTotal, ended, revenue, authorizations };
}

function stageCounts(samples: readonly Sample[]): Record<string, number> {
  return seriesOf(samples, 'orderflow_order_stage_duration_seconds_count');
}

function assertFigures(samples: readonly Sample[], want: ReturnType<typeof expected>): void {
  expect(seriesOf(samples, 'orderflow_orders_total')).toEqual(want.ordersTotal);
  expect(seriesOf(samples, 'orderflow_orders_ended_total')).toEqual(want.ended);
  const revenue = seriesOf(samples, 'orderflow_revenue_total');
  expect(Object.keys(revenue).sort()).toEqual(Object.keys(want.revenue).sort());
  for (const [key, amount] of Object.entries(want.revenue)) expect(revenue[key]).toBeCloseTo(amount, 2);
  expect(seriesOf(samples, 'orderflow_payment_authorizations_total')).toEqual(want.authorizations);
  expect(stageCounts(samples)).toEqual({
    'stage=placed_to_confirmed': 7,
    'stage=confirmed_to_shipped': 7,
    'stage=placed_to_delivered': 7,
  });
  expect(seriesOf(samples, 'orderflow_sagas')).toEqual({ 'status=running': 0, 'status=needs_attention': 0 });
  expect(seriesOf(samples, 'orderflow_revenue_at_risk')).toEqual({
    'currency=USD,region=EU': 0,
    'currency=USD,region=NA': 0,
  });
  expect(seriesOf(samples, 'orderflow_dead_letters')).toEqual({ 'status=parked': 0, 'status=redriven': 0 });
}

async function runScript(t: TestApp, orders: readonly Scripted[], want: ReturnType<typeof expected>) {
  for (const { body } of orders) expect((await postOrder(t.url, body, newKey())).status).toBe(201);
  // Sagas end after their last order event: wait for both.
  await expect
    .poll(
      async () => {
        const samples = await scrape(t.url);
        return {
          orders: seriesOf(samples, 'orderflow_orders_total'),
          sagas: seriesOf(samples, 'orderflow_sagas')['status=running'],
        };
      },
      { timeout: 30_000, interval: 100 },
    )
    .toEqual({ orders: want.ordersTotal, sagas: 0 });
}

function describeMode(
  name: string,
  runs: boolean,
  env: () => Record<string, string>,
  cleanup: () => Promise<void>,
) {
  describe.runIf(runs)(`business metrics, ${name}`, () => {
    const dataDir = tempDataDir();
    let t: TestApp | undefined;
    afterAll(async () => {
      await t?.app.stop();
      await cleanup();
      removeDir(dataDir);
    }, 30_000);

    it('after a scripted run, and the same after a restart on the same store', async () => {
      const orders = script();
      const want = expected(orders);
      const options = { dataDir, env: { ...env(), ORDERFLOW_CARRIER_DELAY_MS: '0' } };
      t = await startTestApp(options);
      await runScript(t, orders, want);
      const before = await scrape(t.url);
      assertFigures(before, want);
      expect(seriesOf(before, 'orderflow_estimated_cost_per_order')['currency=USD']).toBeGreaterThan(0);
      await t.app.stop();
      t = undefined;

      t = await startTestApp(options);
      const after = await scrape(t.url);
      assertFigures(after, want);
      // The histogram is rebuilt from the events' times: the very same sums.
      expect(seriesOf(after, 'orderflow_order_stage_duration_seconds_sum')).toEqual(
        seriesOf(before, 'orderflow_order_stage_duration_seconds_sum'),
      );
      // No order placed since this process started: no cost per order yet.
      expect(seriesOf(after, 'orderflow_estimated_cost_per_order')).toEqual({});
    }, 60_000);
  });
}

describeMode(
  'embedded (SQLite)',
  true,
  () => ({}),
  async () => undefined,
);

const namespace = randomNamespace();
describeMode(
  'distributed (PostgreSQL + JetStream)',
  (await serviceAvailable('postgres')) && (await serviceAvailable('nats')),
  () => distributedEnv(namespace),
  () => removeNamespace(namespace),
);
