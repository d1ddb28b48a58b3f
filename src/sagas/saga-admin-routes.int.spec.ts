import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../../test/support/test-app.ts';
import type { ReleaseStockData } from '../contexts/inventory/messages.ts';
import { orderStreamId } from '../contexts/orders/domain/order.ts';
import { createHttpServer, createMetrics } from '../http/index.ts';
import { PROBLEM_CONTENT_TYPE, type HttpServer } from '../kernel/http/index.ts';
import { readOperatorActions, type Envelope } from '../messaging/index.ts';
import { orderSagaStreamId } from './order/order-saga.ts';
import { registerSagaAdminRoutes, type SagaSummary } from './saga-admin-routes.ts';
import {
  openSagaSystem,
  orderPlaced,
  placeOrder,
  typesOf,
  type SagaSystem,
} from '../../test/support/saga-system.ts';

/*
 * Operators and parked sagas, on the real store and bus: a compensation that gets no reply parks the
 * saga as needs_attention; the admin routes list it and retry it, which re-sends the pending
 * compensation commands.
 */

const KEY = 'saga-admin-test-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

describe('saga admin routes (SQLite store, embedded bus, saga consumer)', () => {
  let dir: string;
  let system: SagaSystem;
  let http: HttpServer;
  const releases: Envelope<ReleaseStockData>[] = [];
  let inventoryUp = false;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-saga-admin-'));
    releases.length = 0;
    inventoryUp = false;
    system = await openSagaSystem({
      file: path.join(dir, 'orderflow.db'),
      // Short deadlines: the reservation times out twice, then each release attempt does.
      saga: { stepTimeoutMs: 60 },
      probes: [
        {
          // Inventory: never answers a reservation; answers releases only once it is "back".
          group: 'inventory-probe',
          types: ['inventory.ReserveStock', 'inventory.ReleaseStock'],
          onMessage: (message, context) => {
            if (message.type !== 'inventory.ReleaseStock') return;
            releases.push(message as Envelope<ReleaseStockData>);
            if (!inventoryUp) return;
            const { orderId, reservationId, sku, reason } = message.data as ReleaseStockData;
            context.send({
              type: 'inventory.StockReleased',
              data: { orderId, reservationId, sku, warehouseId: null, quantity: 0, reason },
            });
          },
        },
      ],
    });
    http = await createHttpServer({
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      lifecycle: () => 'running',
      version: 'test',
    });
    registerSagaAdminRoutes(http, { adminKey: KEY, runtime: system.runtime, store: system.store });
    await http.ready();
  });

  afterEach(async () => {
    await http.close();
    await system.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function parked(): Promise<SagaSummary[]> {
    const response = await http.inject({
      method: 'GET',
      url: '/v1/admin/sagas?status=needs_attention',
      headers: auth,
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ items: SagaSummary[] }>().items;
  }

  it('lists a saga whose compensation got no reply, and a retry re-sends the pending compensation', async () => {
    const orderId = randomUUID();
    await placeOrder(system, orderPlaced(orderId));

    // Waits for the saga to be parked.
    const [item] = await vi.waitUntil(
      async () => {
        const items = await parked();
        return items.length > 0 ? items : undefined;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(item).toMatchObject({
      id: orderId,
      definition: 'order',
      version: 1,
      status: 'needs_attention',
      step: 'reserve-stock',
      failure: { step: 'reserve-stock', reason: 'timeout' },
      compensation: { step: 'reserve-stock', attempt: 3, pending: ['reserve-stock'] },
      attention: {
        step: 'reserve-stock',
        attempts: 3,
        reason: 'no reply to the compensation of reserve-stock after 3 attempts',
      },
      streamId: orderSagaStreamId(orderId),
    });
    expect(releases).toHaveLength(3);
    expect(releases[0]!.data).toEqual({
      orderId,
      reservationId: `${orderId}:0`,
      sku: 'NW-TENT-2P',
      reason: 'rejected',
    });
    // Parked: nothing is re-sent any more.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(releases).toHaveLength(3);

    // Inventory is back; the operator retries.
    inventoryUp = true;
    const retried = await http.inject({
      method: 'POST',
      url: `/v1/admin/sagas/${orderId}/retry`,
      headers: auth,
    });
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ id: orderId, status: 'compensating', attention: null });
    expect(await readOperatorActions(system.store)).toEqual([
      expect.objectContaining({
        kind: 'saga_retried',
        text: `order saga ${orderId} retried (pending compensations: reserve-stock)`,
        details: expect.objectContaining({ sagaId: orderId }),
      }),
    ]);

    // Waits for the re-sent ReleaseStock.
    await vi.waitUntil(async () => (releases.length === 4 ? true : undefined), {
      timeout: 10_000,
      interval: 20,
    });
    expect(releases[3]!.data).toEqual(releases[0]!.data);
    expect(releases[3]!.correlationid).toBe(orderId);

    // The release is answered: the saga fails for good and the order is rejected.
    // Waits for OrderRejected.
    const orderEvents = await vi.waitUntil(
      async () => {
        const events = await system.store.readStream(orderStreamId(orderId));
        return events.some((event) => event.type === 'OrderRejected') ? events : undefined;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(orderEvents.find((event) => event.type === 'OrderRejected')).toMatchObject({
      id: `${orderId}:OrderRejected`,
      data: { orderId, customerId: 'customer-int', reason: 'timeout' },
      metadata: { context: 'orders', correlationId: orderId },
    });
    expect(typesOf(await system.store.readStream(orderSagaStreamId(orderId)))).toEqual([
      'SagaStarted',
      'StepRetried',
      'StepFailed',
      'CompensationRetried',
      'CompensationRetried',
      'SagaNeedsAttention',
      'SagaRetried',
      'CompensationCompleted',
      'SagaFailed',
    ]);
    expect(await parked()).toEqual([]);
    // The attention index stays out of the order's audit trail.
    expect(typesOf(await system.store.readCorrelated(orderId))).not.toContain('SagaParked');

    const again = await http.inject({
      method: 'POST',
      url: `/v1/admin/sagas/${orderId}/retry`,
      headers: auth,
    });
    expect(again.statusCode).toBe(409);
    expect(await readOperatorActions(system.store)).toHaveLength(1);
    expect(again.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    expect(again.json()).toMatchObject({
      code: 'SAGA_NOT_RETRYABLE',
      type: '/problems/saga-not-retryable',
      status: 409,
    });
  });

  it('answers 404 for an unknown saga and 401 without the admin key', async () => {
    const unknown = await http.inject({
      method: 'POST',
      url: `/v1/admin/sagas/${randomUUID()}/retry`,
      headers: auth,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'SAGA_NOT_FOUND', type: '/problems/saga-not-found' });
    const anonymous = await http.inject({ method: 'GET', url: '/v1/admin/sagas' });
    expect(anonymous.statusCode).toBe(401);
    const wrong = await http.inject({
      method: 'POST',
      url: `/v1/admin/sagas/${randomUUID()}/retry`,
      headers: { authorization: 'Bearer not-the-key-at-all' },
    });
    expect(wrong.statusCode).toBe(403);
    const badStatus = await http.inject({
      method: 'GET',
      url: '/v1/admin/sagas?status=running',
      headers: auth,
    });
    expect(badStatus.statusCode).toBe(422);
  });
});

describe('saga module in the app (roles api and saga)', () => {
  let app: TestApp | undefined;

  afterEach(async () => {
    if (app !== undefined) {
      await app.app.stop();
      removeDir(app.dataDir);
      app = undefined;
    }
  });

  it('serves the saga admin routes and refuses to retry a running saga', async () => {
    app = await startTestApp({ roles: ['api', 'saga'] });
    const base = app.url;
    const headers = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const list = await fetch(`${base}/v1/admin/sagas?status=needs_attention`, { headers });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ items: [] });
    expect((await fetch(`${base}/v1/admin/sagas`)).status).toBe(401);

    const catalog = (await (await fetch(`${base}/v1/catalog`)).json()) as {
      items: { sku: string; currency: string }[];
    };
    const product = catalog.items[0]!;
    const placed = await fetch(`${base}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({
        customerId: 'customer-admin',
        region: 'EU',
        currency: product.currency,
        items: [{ sku: product.sku, quantity: 1 }],
        shippingAddress: {
          name: 'Ada Lovelace',
          line1: '1 Analytical St',
          city: 'London',
          postalCode: 'N1 9GU',
          country: 'GB',
        },
        paymentMethod: { token: 'tok_visa' },
      }),
    });
    expect(placed.status).toBe(201);
    const { id } = (await placed.json()) as { id: string };
    const running = app;
    // Waits for SagaStarted.
    await vi.waitUntil(
      async () => {
        const trail = (await (await fetch(`${running.url}/v1/orders/${id}/events`)).json()) as {
          events: { type: string }[];
        };
        return trail.events.some((event) => event.type === 'SagaStarted') ? true : undefined;
      },
      { timeout: 10_000, interval: 20 },
    );

    const retry = await fetch(`${base}/v1/admin/sagas/${id}/retry`, { method: 'POST', headers });
    expect(retry.status).toBe(409);
    expect(retry.headers.get('content-type')).toContain(PROBLEM_CONTENT_TYPE);
    expect(await retry.json()).toMatchObject({ code: 'SAGA_NOT_RETRYABLE' });
  });
});
