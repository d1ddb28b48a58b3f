import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../../../test/support/test-app.ts';
import { createEmbeddedAdapters } from '../../app/embedded-adapters.ts';
import { DEMO_MARKETPLACE } from '../catalog/index.ts';
import { stockStreamId } from './domain/stock.ts';
import { vendorKey } from './vendor-keys.ts';

// The inventory's HTTP API on the whole app (temp data dir, real store, every role).

interface Problem {
  type: string;
  status: number;
  detail: string;
  code: string;
  errors?: { pointer: string; detail: string }[];
}

interface InventoryView {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
  warehouses: {
    warehouseId: string;
    vendorId: string;
    region: string;
    onHand: number;
    reserved: number;
    available: number;
  }[];
}

const SKU = 'KC-KETTLE-GS';
const KETTLE_KEY = vendorKey(TEST_ADMIN_KEY, 'kettle');
const LUMEN_KEY = vendorKey(TEST_ADMIN_KEY, 'lumen');

describe('inventory HTTP API', () => {
  let test: TestApp;

  beforeAll(async () => {
    test = await startTestApp();
  });

  afterAll(async () => {
    await test.app.stop();
    removeDir(test.dataDir);
  });

  const getInventory = (sku: string) => fetch(`${test.url}/v1/inventory/${encodeURIComponent(sku)}`);
  const putStock = (vendorId: string, sku: string, body: unknown, key?: string) =>
    fetch(`${test.url}/v1/vendors/${vendorId}/stock/${sku}`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
      },
      body: JSON.stringify(body),
    });

  async function problem(response: Response, status: number, code: string): Promise<Problem> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const body = (await response.json()) as Problem;
    expect(body).toMatchObject({
      status,
      code,
      type: `/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    });
    return body;
  }

  it('GET /v1/inventory/{sku}: the seeded stock, in total and per warehouse', async () => {
    const response = await getInventory(SKU);
    expect(response.status).toBe(200);
    const seeded = DEMO_MARKETPLACE.stock.filter((s) => s.sku === SKU);
    const view = (await response.json()) as InventoryView;
    const total = seeded.reduce((sum, s) => sum + s.onHand, 0);
    expect(view).toEqual({
      sku: SKU,
      onHand: total,
      reserved: 0,
      available: total,
      warehouses: seeded.map((s) => ({
        warehouseId: s.warehouseId,
        vendorId: 'kettle',
        region: DEMO_MARKETPLACE.warehouses.find((w) => w.warehouseId === s.warehouseId)!.region,
        onHand: s.onHand,
        reserved: 0,
        available: s.onHand,
      })),
    });
    // Every SKU of the catalog was seeded.
    for (const product of DEMO_MARKETPLACE.products)
      expect((await getInventory(product.sku)).status).toBe(200);
  });

  it('GET /v1/inventory/{sku}: 404 problem for an unknown SKU', async () => {
    const body = await problem(await getInventory('NO-SUCH-SKU'), 404, 'SKU_NOT_FOUND');
    expect(body.detail).toContain('NO-SUCH-SKU');
  });

  it('GET /v1/admin/vendors/{vendorId}/key: the vendor key, for the admin only', async () => {
    const url = `${test.url}/v1/admin/vendors/kettle/key`;
    await problem(await fetch(url), 401, 'UNAUTHORIZED');
    await problem(await fetch(url, { headers: { authorization: `Bearer ${KETTLE_KEY}` } }), 403, 'FORBIDDEN');
    const response = await fetch(url, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ vendorId: 'kettle', key: KETTLE_KEY });
    expect(KETTLE_KEY).toMatch(/^[0-9a-f]{64}$/);
    await problem(
      await fetch(`${test.url}/v1/admin/vendors/nobody/key`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
      }),
      404,
      'VENDOR_NOT_FOUND',
    );
  });

  it('PUT /v1/vendors/{vendorId}/stock/{sku}: 401 without a key, 403 with another vendor’s or a wrong key', async () => {
    const body = { warehouseId: 'wh-kettle-eu', onHand: 5 };
    const unauthorized = await putStock('kettle', SKU, body);
    expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer');
    await problem(unauthorized, 401, 'UNAUTHORIZED');
    await problem(await putStock('kettle', SKU, body, LUMEN_KEY), 403, 'FORBIDDEN');
    await problem(await putStock('kettle', SKU, body, 'not-a-key'), 403, 'FORBIDDEN');
    // Nothing changed.
    const view = (await (await getInventory(SKU)).json()) as InventoryView;
    expect(view.warehouses.find((w) => w.warehouseId === 'wh-kettle-eu')!.onHand).toBe(100);
  });

  it('PUT: the vendor’s own key or the admin key sets on-hand and answers the new inventory', async () => {
    const byVendor = await putStock('kettle', SKU, { warehouseId: 'wh-kettle-eu', onHand: 140 }, KETTLE_KEY);
    expect(byVendor.status).toBe(200);
    const view = (await byVendor.json()) as InventoryView;
    expect(view.warehouses.find((w) => w.warehouseId === 'wh-kettle-eu')).toEqual({
      warehouseId: 'wh-kettle-eu',
      vendorId: 'kettle',
      region: 'EU',
      onHand: 140,
      reserved: 0,
      available: 140,
    });
    expect(view.onHand).toBe(150 + 140 + 80);
    expect(await (await getInventory(SKU)).json()).toEqual(view);

    const byAdmin = await putStock('kettle', SKU, { warehouseId: 'wh-kettle-eu', onHand: 0 }, TEST_ADMIN_KEY);
    expect(byAdmin.status).toBe(200);
    expect(
      ((await byAdmin.json()) as InventoryView).warehouses.find((w) => w.warehouseId === 'wh-kettle-eu')!
        .available,
    ).toBe(0);
    // The same count again changes nothing and still answers 200.
    const again = await putStock('kettle', SKU, { warehouseId: 'wh-kettle-eu', onHand: 0 }, KETTLE_KEY);
    expect(again.status).toBe(200);
  });

  it('PUT: 404 for an unknown vendor or SKU', async () => {
    await problem(
      await putStock('nobody', SKU, { warehouseId: 'wh-kettle-eu', onHand: 1 }, TEST_ADMIN_KEY),
      404,
      'VENDOR_NOT_FOUND',
    );
    await problem(
      await putStock('kettle', 'NO-SUCH-SKU', { warehouseId: 'wh-kettle-eu', onHand: 1 }, KETTLE_KEY),
      404,
      'SKU_NOT_FOUND',
    );
  });

  it('PUT: 422 naming the field for a SKU of another vendor, a warehouse of another vendor, or a bad count', async () => {
    const otherSku = await problem(
      await putStock('kettle', 'LU-EARBUDS', { warehouseId: 'wh-kettle-eu', onHand: 1 }, KETTLE_KEY),
      422,
      'VALIDATION_FAILED',
    );
    expect(otherSku.errors).toEqual([{ pointer: '/sku', detail: expect.stringContaining('another vendor') }]);
    const otherWarehouse = await problem(
      await putStock('kettle', SKU, { warehouseId: 'wh-lumen-na', onHand: 1 }, KETTLE_KEY),
      422,
      'VALIDATION_FAILED',
    );
    expect(otherWarehouse.errors).toEqual([
      { pointer: '/warehouseId', detail: 'is not a warehouse of vendor kettle' },
    ]);
    for (const onHand of [-1, 1.5, '3']) {
      const invalid = await problem(
        await putStock('kettle', SKU, { warehouseId: 'wh-kettle-na', onHand }, KETTLE_KEY),
        422,
        'VALIDATION_FAILED',
      );
      expect(invalid.errors?.map((e) => e.pointer)).toEqual(['/onHand']);
    }
    const missing = await problem(
      await putStock('kettle', SKU, { onHand: 3 }, KETTLE_KEY),
      422,
      'VALIDATION_FAILED',
    );
    expect(missing.errors?.map((e) => e.pointer)).toEqual(['/warehouseId']);
  });

  it('PUT: 409 saying how many are reserved when on-hand would go below them, and nothing changes', async () => {
    // Hold 12 units in the NA warehouse: reserved on the stock stream while the app is down.
    await test.app.stop();
    const file = test.app.config.store.kind === 'sqlite' ? test.app.config.store.file : '';
    const adapters = createEmbeddedAdapters({
      file,
      synchronous: 'FULL',
      partitions: test.app.config.partitions,
    });
    const streamId = stockStreamId(SKU);
    await adapters.store.append(
      streamId,
      [
        {
          type: 'StockReserved',
          data: {
            orderId: 'o-409',
            reservationId: 'o-409:0',
            sku: SKU,
            vendorId: 'kettle',
            warehouseId: 'wh-kettle-na',
            warehouseRegion: 'NA',
            quantity: 12,
            expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          },
          metadata: { context: 'inventory' },
        },
      ],
      { expectedVersion: await adapters.store.streamVersion(streamId) },
    );
    await adapters.store.close();
    test = await startTestApp({ dataDir: test.dataDir });

    const before = (await (await getInventory(SKU)).json()) as InventoryView;
    expect(before.warehouses.find((w) => w.warehouseId === 'wh-kettle-na')).toMatchObject({
      onHand: 150,
      reserved: 12,
      available: 138,
    });
    const refused = await problem(
      await putStock('kettle', SKU, { warehouseId: 'wh-kettle-na', onHand: 11 }, KETTLE_KEY),
      409,
      'STOCK_BELOW_RESERVED',
    );
    expect(refused.detail).toContain('12 units');
    expect(await (await getInventory(SKU)).json()).toEqual(before);

    const atReserved = await putStock('kettle', SKU, { warehouseId: 'wh-kettle-na', onHand: 12 }, KETTLE_KEY);
    expect(atReserved.status).toBe(200);
    expect(
      ((await atReserved.json()) as InventoryView).warehouses.find((w) => w.warehouseId === 'wh-kettle-na'),
    ).toMatchObject({
      onHand: 12,
      reserved: 12,
      available: 0,
    });
  });

  it('documents its routes in the OpenAPI document', async () => {
    const document = (await (await fetch(`${test.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/inventory/{sku}',
        '/v1/vendors/{vendorId}/stock/{sku}',
        '/v1/admin/vendors/{vendorId}/key',
      ]),
    );
  });
});
