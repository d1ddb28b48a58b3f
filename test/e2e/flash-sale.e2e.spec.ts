import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { orderBody, postOrder } from '../support/orders.ts';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/test-app.ts';

/**
 * Guarantee 3 over HTTP: a flash sale of 500 concurrent orders for one SKU with 50 units in stock,
 * mixed with lines of other vendors. Exactly 50 units are sold, availability never goes negative,
 * and afterwards every warehouse's reserved counter equals the sum of its live reservations.
 */

const HOT = 'LU-WATCH';
const STOCK = 50;
const ORDERS = 500;
const OTHERS = ['KC-FILTERS', 'PT-NOTEBOOK-A5', 'NW-BOTTLE-1L', 'LU-CABLE-2M'];

interface Inventory {
  onHand: number;
  reserved: number;
  available: number;
  warehouses: {
    warehouseId: string;
    vendorId: string;
    onHand: number;
    reserved: number;
    available: number;
  }[];
}

describe('flash sale: no oversell', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Nothing ships during the test: confirmed orders keep their reservations.
    t = await startTestApp({ env: { ORDERFLOW_CARRIER_DELAY_MS: '600000' } });
  });
  afterAll(async () => {
    if (t.app.state !== 'stopped') await t.app.stop();
    removeDir(t.dataDir);
  });

  it('sells exactly the stock to 500 concurrent orders and keeps every counter consistent', async () => {
    const inventory = async () => (await (await fetch(`${t.url}/v1/inventory/${HOT}`)).json()) as Inventory;
    const start = await inventory();
    // All 50 units in one warehouse, none in the others.
    for (const [i, warehouse] of start.warehouses.entries()) {
      const response = await fetch(`${t.url}/v1/vendors/${warehouse.vendorId}/stock/${HOT}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ warehouseId: warehouse.warehouseId, onHand: i === 0 ? STOCK : 0 }),
      });
      expect(response.status).toBe(200);
    }

    let lowestAvailable = Infinity;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const now = await inventory();
        for (const w of now.warehouses) lowestAvailable = Math.min(lowestAvailable, w.available);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const responses = await Promise.all(
      Array.from({ length: ORDERS }, (_, n) =>
        postOrder(
          t.url,
          orderBody({
            customerId: `flash-${n}`,
            region: (['NA', 'EU', 'APAC'] as const)[n % 3]!,
            items: [
              { sku: HOT, quantity: 1 },
              { sku: OTHERS[n % OTHERS.length]!, quantity: 1 },
            ],
            shippingAddress: {
              name: 'Flash Buyer',
              line1: '1 Sale St',
              city: 'Springfield',
              postalCode: '10001',
              country: 'US',
            },
            paymentMethod: { token: `tok_visa.flash-${n}` },
          }),
          `flash-${n}`,
        ),
      ),
    );
    expect(responses.every((r) => r.status === 201)).toBe(true);
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));

    // Every order has an outcome.
    const statuses = await vi.waitFor(
      async () => {
        const views = await Promise.all(
          ids.map(
            async (id) =>
              (await (await fetch(`${t.url}/v1/orders/${id}`)).json()) as { status: string; reason?: string },
          ),
        );
        expect(views.filter((v) => v.status === 'pending').length).toBe(0);
        return views;
      },
      { timeout: 60_000, interval: 25 },
    );
    watching = false;
    await watcher;

    const confirmed = statuses.filter((v) => v.status === 'confirmed');
    const rejected = statuses.filter((v) => v.status === 'rejected');
    expect(confirmed).toHaveLength(STOCK);
    expect(rejected).toHaveLength(ORDERS - STOCK);
    expect(rejected.every((v) => v.reason === 'out_of_stock')).toBe(true);
    expect(lowestAvailable).toBeGreaterThanOrEqual(0);

    const end = await vi.waitFor(
      async () => {
        const now = await inventory();
        expect(now.reserved).toBe(STOCK);
        return now;
      },
      { timeout: 10_000, interval: 25 },
    );
    expect(end.available).toBe(0);
    expect(end.onHand).toBe(STOCK);

    // Afterwards, in the store itself: each warehouse's reserved counter equals its live reservations.
    await t.app.stop();
    const db = new Database(path.join(t.dataDir, 'orderflow.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT json_extract(r.data, '$.warehouseId') AS warehouseId, SUM(json_extract(r.data, '$.quantity')) AS units
           FROM events r WHERE r.stream_id = ? AND r.type = 'StockReserved' AND NOT EXISTS (
             SELECT 1 FROM events e WHERE e.stream_id = r.stream_id AND e.type IN ('StockReleased', 'StockCommitted')
               AND json_extract(e.data, '$.reservationId') = json_extract(r.data, '$.reservationId'))
           GROUP BY warehouseId`,
        )
        .all(`stock-${HOT}`) as { warehouseId: string; units: number }[];
      const live = new Map(rows.map((row) => [row.warehouseId, row.units]));
      for (const warehouse of end.warehouses) {
        expect(warehouse.reserved).toBe(live.get(warehouse.warehouseId) ?? 0);
      }
    } finally {
      db.close();
    }
  }, 120_000);
});
