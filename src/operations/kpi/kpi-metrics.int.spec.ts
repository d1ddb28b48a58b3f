import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../app/embedded-adapters.ts';
import { OrderPlaced, orderStreamId, type OrderPlacedData } from '../../contexts/orders/messages.ts';
import { createEnvelope } from '../../messaging/index.ts';
import { removeDir, tempDataDir } from '../../../test/support/test-app.ts';
import { parseSamples, seriesOf } from '../../../test/support/prometheus-text.ts';
import { createKpiProjection, type KpiProjection } from './kpi-projection.ts';
import { registerKpiMetrics } from './kpi-metrics.ts';
import { DEFAULT_PRICE_TABLE } from './price-table.ts';

/**
 * The KPI projection on a real SQLite store and dead-letter store: a dead-lettered OrderPlaced puts
 * its order's total in revenue at risk until it is redriven, and the projection follows commits.
 */
describe('KPI metrics on the embedded store', () => {
  let dir: string;
  let adapters: EmbeddedAdapters;
  let projection: KpiProjection;
  let registry: Registry;

  beforeEach(async () => {
    dir = tempDataDir('orderflow-kpi-');
    adapters = createEmbeddedAdapters({ file: `${dir}/store.db`, synchronous: 'NORMAL', partitions: 4 });
    projection = createKpiProjection({
      store: adapters.store,
      deadLetters: adapters.deadLetters,
      // Nothing is late in this test: only dead letters put orders at risk.
      objectives: {
        placedToConfirmedMs: 3_600_000,
        confirmedToShippedMs: 3_600_000,
        placedToDeliveredMs: 86_400_000,
      },
    });
    registry = new Registry();
    registerKpiMetrics(registry, projection, {
      consumerLag: async () => ({ saga: 3, payments: 0 }),
      deadLetters: (status) => adapters.deadLetters.count(status),
      usage: { prices: DEFAULT_PRICE_TABLE, storageBytes: async () => 2 * 1024 ** 3, cpuSeconds: () => 36 },
    });
    await projection.start();
  });

  afterEach(async () => {
    await projection.stop();
    await adapters.transport.close();
    await adapters.store.close();
    removeDir(dir);
  });

  async function series(name: string): Promise<Record<string, number>> {
    return seriesOf(parseSamples(await registry.metrics()), name);
  }

  function placed(orderId: string, total: number): OrderPlacedData {
    return {
      orderId,
      customerId: 'cust-1',
      region: 'APAC',
      currency: 'USD',
      items: [{ sku: 'S', vendorId: 'v', name: 'n', quantity: 1, unitPrice: total, lineTotal: total }],
      total,
      shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'SG' },
      paymentMethod: { token: 'tok_visa' },
      placedAt: new Date().toISOString(),
    };
  }

  it('counts a dead-lettered OrderPlaced in revenue at risk with the order total, until redriven', async () => {
    const order = placed('o-dead', 4_321);
    await adapters.store.append(orderStreamId(order.orderId), [
      { type: 'OrderPlaced', data: order, metadata: { correlationId: order.orderId } },
    ]);
    await adapters.store.append(orderStreamId('o-fine'), [
      { type: 'OrderPlaced', data: placed('o-fine', 999), metadata: { correlationId: 'o-fine' } },
    ]);
    await projection.caughtUp();
    expect(await series('orderflow_revenue_at_risk')).toEqual({ 'currency=USD,region=APAC': 0 });

    const entry = await adapters.deadLetters.add({
      group: 'saga',
      message: createEnvelope(
        { type: OrderPlaced.type, data: order, correlationId: order.orderId },
        { source: 'orderflow/orders' },
      ),
      error: { name: 'TerminalError', message: 'boom' },
      attempts: 1,
    });
    expect(await series('orderflow_revenue_at_risk')).toEqual({ 'currency=USD,region=APAC': 43.21 });
    expect(await series('orderflow_dead_letters')).toEqual({ 'status=parked': 1, 'status=redriven': 0 });
    expect(await projection.ordersAtRisk()).toEqual([
      expect.objectContaining({ orderId: 'o-dead', amount: 43.21, vendors: ['v'], reasons: ['dead_letter'] }),
    ]);

    await adapters.deadLetters.markRedriven(entry.id);
    expect(await series('orderflow_revenue_at_risk')).toEqual({ 'currency=USD,region=APAC': 0 });
    expect(await series('orderflow_dead_letters')).toEqual({ 'status=parked': 0, 'status=redriven': 1 });
  });

  it('follows commits after start, and prices the usage per order placed since start', async () => {
    await adapters.store.append(orderStreamId('o-1'), [
      { type: 'OrderPlaced', data: placed('o-1', 100), metadata: { correlationId: 'o-1' } },
    ]);
    // Woken by the commit (or the poll): no caughtUp() call here.
    await expect
      .poll(() => series('orderflow_orders_total'), { timeout: 5_000 })
      .toEqual({
        'region=APAC,status=pending': 1,
      });
    expect(await series('orderflow_consumer_lag_messages')).toEqual({ 'group=saga': 3, 'group=payments': 0 });
    // 36 CPU seconds = 0.01 h at APAC's 0.06 per core-hour; 2 GB for (almost) no time: about 0.0006.
    const cost = (await series('orderflow_estimated_cost_per_order'))['currency=USD']!;
    expect(cost).toBeGreaterThanOrEqual(0.01 * DEFAULT_PRICE_TABLE.APAC.coreHour);
    expect(cost).toBeLessThan(0.01 * DEFAULT_PRICE_TABLE.APAC.coreHour + 0.0001);
  });
});
