import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openSqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../../src/adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../../src/adapters/sqlite/sqlite-outbox.ts';
import { createSqliteDeadLetterStore } from '../../src/adapters/sqlite/sqlite-dead-letter-store.ts';
import { createEnvelope } from '../../src/messaging/index.ts';
import { newKey, orderBody, postOrder } from '../support/orders.ts';
import { removeDir, startTestApp, TEST_ADMIN_KEY, tempDataDir, type TestApp } from '../support/test-app.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  errors?: { pointer: string; detail: string }[];
}

interface OrderView {
  id: string;
  status: string;
  region: string;
  customerId: string;
  currency: string;
  total: number;
  items: {
    sku: string;
    vendorId: string;
    name: string;
    quantity: number;
    unitPrice: number;
    lineTotal: number;
  }[];
  shipments: unknown[];
  createdAt: string;
  updatedAt: string;
}

interface Trail {
  orderId: string;
  events: {
    position: number;
    type: string;
    context: string;
    streamId: string;
    time: string;
    data: Record<string, unknown>;
  }[];
}

async function problemOf(response: Response, status: number): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const problem = (await response.json()) as Problem;
  expect(problem.status).toBe(status);
  expect(problem.type).toMatch(/^\/problems\/[a-z-]+$/);
  return problem;
}

describe('orders API (the real app over HTTP)', () => {
  let running: TestApp;
  let base: string;
  const dataDir = tempDataDir('orderflow-e2e-');

  beforeAll(async () => {
    running = await startTestApp({ dataDir });
    base = running.url;
  });

  afterAll(async () => {
    await running?.app.stop();
    removeDir(dataDir);
  });

  async function trail(orderId: string): Promise<Trail> {
    const response = await fetch(`${base}/v1/orders/${orderId}/events`);
    expect(response.status).toBe(200);
    return (await response.json()) as Trail;
  }

  describe('catalog', () => {
    it('lists the demo marketplace with decimal prices', async () => {
      const response = await fetch(`${base}/v1/catalog`);
      expect(response.status).toBe(200);
      const { items } = (await response.json()) as {
        items: { sku: string; vendorId: string; name: string; price: number; currency: string }[];
      };
      expect(items).toHaveLength(36);
      expect(new Set(items.map((i) => i.vendorId)).size).toBe(6);
      expect(items.find((i) => i.sku === 'KC-KETTLE-GS')).toEqual({
        sku: 'KC-KETTLE-GS',
        vendorId: 'kettle',
        name: 'Gooseneck kettle',
        price: 69,
        currency: 'USD',
      });
      expect(items.find((i) => i.sku === 'PT-INK-BLUE')?.price).toBe(12.5);
    });
  });

  describe('placing an order', () => {
    it('answers 201 with the view and Location, and the order is readable at once', async () => {
      const response = await postOrder(base, orderBody());
      expect(response.status).toBe(201);
      const view = (await response.json()) as OrderView;
      expect(response.headers.get('location')).toBe(`/v1/orders/${view.id}`);
      // No wait was applied, so the preference is not reported as applied.
      expect(response.headers.get('preference-applied')).toBeNull();
      expect(view).toMatchObject({
        status: 'pending',
        region: 'EU',
        customerId: 'cust-e2e',
        currency: 'USD',
        total: 150.5,
        shipments: [],
      });
      expect(view.items).toEqual([
        {
          sku: 'KC-KETTLE-GS',
          vendorId: 'kettle',
          name: 'Gooseneck kettle',
          quantity: 2,
          unitPrice: 69,
          lineTotal: 138,
        },
        {
          sku: 'PT-INK-BLUE',
          vendorId: 'papertrail',
          name: 'Ink bottle, blue-black',
          quantity: 1,
          unitPrice: 12.5,
          lineTotal: 12.5,
        },
      ]);

      const read = await fetch(`${base}${response.headers.get('location')}`);
      expect(read.status).toBe(200);
      expect(await read.json()).toEqual(view);
    });

    it('records exactly one OrderPlaced, with the message data, then the saga starts', async () => {
      const view = (await (await postOrder(base, orderBody({ region: 'APAC' }))).json()) as OrderView;
      const first = await trail(view.id);
      expect(first.orderId).toBe(view.id);
      const placed = first.events.filter((e) => e.type === 'OrderPlaced');
      expect(placed).toHaveLength(1);
      expect(placed[0]).toMatchObject({ context: 'orders', streamId: `order-${view.id}` });
      expect(placed[0]!.data).toMatchObject({
        orderId: view.id,
        region: 'APAC',
        currency: 'USD',
        total: 15050,
        paymentMethod: { token: 'tok_visa' },
        shippingAddress: { country: 'GB' },
      });

      const withSaga = await vi.waitFor(
        async () => {
          const current = await trail(view.id);
          expect(current.events.map((e) => e.type)).toContain('SagaStarted');
          return current;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(withSaga.events.map((e) => e.type).slice(0, 2)).toEqual(['OrderPlaced', 'SagaStarted']);
      expect(withSaga.events[1]!.context).toBe('saga');
      expect(withSaga.events[1]!.position).toBeGreaterThan(withSaga.events[0]!.position);
    });

    it('applies Prefer: wait=N and says so with Preference-Applied', async () => {
      const response = await postOrder(base, orderBody(), newKey(), { prefer: 'wait=1' });
      expect(response.status).toBe(201);
      expect(response.headers.get('preference-applied')).toBe('wait=1');
    });

    it('ignores a malformed Prefer: wait', async () => {
      const response = await postOrder(base, orderBody(), newKey(), { prefer: 'wait=soon' });
      expect(response.status).toBe(201);
      expect(response.headers.get('preference-applied')).toBeNull();
    });
  });

  describe('idempotency', () => {
    it('answers a replay (same key, same body in another key order) with 200 and the same order', async () => {
      const key = newKey();
      const created = (await (await postOrder(base, orderBody(), key)).json()) as OrderView;
      const reordered = Object.fromEntries(Object.entries(orderBody()).reverse());
      const replay = await postOrder(base, reordered, key);
      expect(replay.status).toBe(200);
      expect(replay.headers.get('location')).toBe(`/v1/orders/${created.id}`);
      expect(await replay.json()).toEqual(created);
      expect((await trail(created.id)).events.filter((e) => e.type === 'OrderPlaced')).toHaveLength(1);
    });

    it('answers 409 when the key is reused with another body, and changes nothing', async () => {
      const key = newKey();
      const created = (await (await postOrder(base, orderBody(), key)).json()) as OrderView;
      const problem = await problemOf(
        await postOrder(base, orderBody({ customerId: 'someone-else' }), key),
        409,
      );
      expect(problem).toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
        type: '/problems/idempotency-key-reused',
      });
      const read = (await (await fetch(`${base}/v1/orders/${created.id}`)).json()) as OrderView;
      expect(read.customerId).toBe('cust-e2e');
    });

    it('places one order when the same request arrives many times at once', async () => {
      const key = newKey();
      const responses = await Promise.all(
        Array.from({ length: 12 }, () => postOrder(base, orderBody(), key)),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 200)).toHaveLength(11);
      const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as OrderView).id)));
      expect(ids.size).toBe(1);
      expect((await trail([...ids][0]!)).events.filter((e) => e.type === 'OrderPlaced')).toHaveLength(1);
    });

    it('answers 400 without an Idempotency-Key, even when the body is invalid too', async () => {
      const missing = await problemOf(await postOrder(base, orderBody(), null), 400);
      expect(missing).toMatchObject({
        code: 'IDEMPOTENCY_KEY_MISSING',
        type: '/problems/idempotency-key-missing',
        instance: '/v1/orders',
      });
      expect((await problemOf(await postOrder(base, { nonsense: true }, null), 400)).code).toBe(
        'IDEMPOTENCY_KEY_MISSING',
      );
    });

    it('answers 400 for an empty or over-long Idempotency-Key', async () => {
      expect((await problemOf(await postOrder(base, orderBody(), ''), 400)).code).toBe(
        'IDEMPOTENCY_KEY_MISSING',
      );
      expect((await problemOf(await postOrder(base, orderBody(), 'k'.repeat(256)), 400)).code).toBe(
        'IDEMPOTENCY_KEY_INVALID',
      );
      expect((await postOrder(base, orderBody(), `${randomUUID()}`.padEnd(255, 'k'))).status).toBe(201);
    });
  });

  describe('invalid input', () => {
    it('answers 422 naming each invalid field of the body at once', async () => {
      const body = {
        ...orderBody(),
        region: 'MARS',
        currency: 'usd',
        items: [{ sku: 'KC-KETTLE-GS', quantity: 0, price: 1 }, { quantity: 1 }],
        shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'Germany' },
        paymentMethod: undefined,
      };
      const problem = await problemOf(await postOrder(base, body), 422);
      expect(problem.code).toBe('VALIDATION_FAILED');
      const pointers = problem.errors!.map((e) => e.pointer).sort();
      expect(pointers).toEqual(
        [
          '/currency',
          '/items/0/price',
          '/items/0/quantity',
          '/items/1/sku',
          '/paymentMethod',
          '/region',
          '/shippingAddress/country',
        ].sort(),
      );
      expect(problem.errors).toContainEqual({ pointer: '/items/0/price', detail: 'is not allowed' });
      expect(problem.errors).toContainEqual({ pointer: '/region', detail: 'must be one of: NA, EU, APAC' });
    });

    it('answers 422 for too many lines and a quantity over 999', async () => {
      const items = Array.from({ length: 51 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1 }));
      expect((await problemOf(await postOrder(base, orderBody({ items })), 422)).errors).toContainEqual({
        pointer: '/items',
        detail: 'must have at most 50 items',
      });
      const tooMany = await problemOf(
        await postOrder(base, orderBody({ items: [{ sku: 'KC-KETTLE-GS', quantity: 1000 }] })),
        422,
      );
      expect(tooMany.errors).toEqual([{ pointer: '/items/0/quantity', detail: 'must be at most 999' }]);
    });

    it('answers 422 with the pointer of an unknown SKU, and stores nothing', async () => {
      const key = newKey();
      const body = orderBody({
        items: [
          { sku: 'KC-KETTLE-GS', quantity: 1 },
          { sku: 'NO-SUCH-SKU', quantity: 1 },
        ],
      });
      const problem = await problemOf(await postOrder(base, body, key), 422);
      expect(problem.errors).toEqual([
        { pointer: '/items/1/sku', detail: expect.stringContaining('NO-SUCH-SKU') },
      ]);
      // The key is still free: nothing was stored for it.
      expect((await postOrder(base, orderBody(), key)).status).toBe(201);
    });

    it('answers 422 for a currency other than the catalog one, and for a SKU on two lines', async () => {
      expect((await problemOf(await postOrder(base, orderBody({ currency: 'EUR' })), 422)).errors).toEqual([
        { pointer: '/currency', detail: 'must be USD, the currency the items are priced in' },
      ]);
      const twice = orderBody({
        items: [
          { sku: 'LU-WATCH', quantity: 1 },
          { sku: 'LU-WATCH', quantity: 1 },
        ],
      });
      expect((await problemOf(await postOrder(base, twice), 422)).errors?.map((e) => e.pointer)).toEqual([
        '/items/1/sku',
      ]);
    });

    it('answers 400 for malformed JSON and 415 for another media type', async () => {
      expect((await problemOf(await postOrder(base, '{"customerId": '), 400)).code).toBe('MALFORMED_REQUEST');
      const form = await fetch(`${base}/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'idempotency-key': newKey() },
        body: 'an order please',
      });
      expect((await problemOf(form, 415)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });
  });

  describe('reading orders', () => {
    it('answers 404 problem+json for an unknown id and for a malformed one', async () => {
      for (const id of [randomUUID(), 'not-an-order-id']) {
        const problem = await problemOf(await fetch(`${base}/v1/orders/${id}`), 404);
        expect(problem).toMatchObject({
          code: 'ORDER_NOT_FOUND',
          type: '/problems/order-not-found',
          instance: `/v1/orders/${id}`,
        });
        expect((await problemOf(await fetch(`${base}/v1/orders/${id}/events`), 404)).code).toBe(
          'ORDER_NOT_FOUND',
        );
      }
    });

    it('answers 404 problem+json for an unknown route', async () => {
      expect((await problemOf(await fetch(`${base}/v2/anything`), 404)).code).toBe('NOT_FOUND');
    });
  });

  describe('operations', () => {
    it('serves an OpenAPI 3.1 document with the POST /v1/orders request schema', async () => {
      const response = await fetch(`${base}/openapi.json`);
      expect(response.status).toBe(200);
      const doc = (await response.json()) as {
        openapi: string;
        info: { description: string };
        paths: Record<string, Record<string, Record<string, unknown>>>;
      };
      expect(doc.openapi).toBe('3.1.0');
      const post = doc.paths['/v1/orders']!.post as {
        requestBody: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
        parameters: { name: string; in: string; required?: boolean }[];
        responses: Record<string, unknown>;
      };
      const schema = post.requestBody.content['application/json']!.schema as {
        properties: Record<string, Record<string, unknown>>;
        required: string[];
        additionalProperties: boolean;
      };
      expect(schema.additionalProperties).toBe(false);
      expect(schema.required.sort()).toEqual([
        'currency',
        'customerId',
        'items',
        'paymentMethod',
        'region',
        'shippingAddress',
      ]);
      expect(schema.properties.region).toMatchObject({ enum: ['NA', 'EU', 'APAC'] });
      expect(schema.properties.items).toMatchObject({ maxItems: 50 });
      expect(post.parameters).toContainEqual(
        expect.objectContaining({ name: 'idempotency-key', in: 'header', required: true }),
      );
      expect(Object.keys(post.responses)).toEqual(
        expect.arrayContaining(['201', '200', '400', '409', '422']),
      );
      expect(doc.paths['/v1/orders/{id}']).toBeDefined();
      expect(doc.paths['/v1/catalog']).toBeDefined();
      expect(doc.info.description).toMatch(/major unit/);
    });

    it('answers /healthz and /readyz with 200 while running', async () => {
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { store: true, consumers: true } });
    });

    it('serves Prometheus metrics with the Orderflow counters', async () => {
      await postOrder(base, orderBody({ region: 'NA' }));
      const text = await vi.waitFor(
        async () => {
          const body = await (await fetch(`${base}/metrics`)).text();
          expect(body).toContain('orderflow_messages_handled_total{group="saga",type="orders.OrderPlaced"}');
          return body;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(text).toMatch(/orderflow_orders_placed_total\{region="NA"\} [1-9]/);
      expect(text).toMatch(
        /orderflow_http_requests_total\{route="\/v1\/orders",method="POST",status="201"\} [1-9]/,
      );
      expect(text).toContain('# TYPE orderflow_http_request_duration_seconds histogram');
      expect(text).toContain('# TYPE orderflow_message_retries_total counter');
      expect(text).toContain('# TYPE orderflow_dead_letters_total counter');
      expect(text).toContain('process_cpu_user_seconds_total');
    });

    it('serves the operations page', async () => {
      const response = await fetch(`${base}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html).toContain('href="/v1/catalog"');
      expect(html).toContain('href="/openapi.json"');
      expect(html).toContain('saga');
    });
  });

  describe('admin endpoints', () => {
    const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

    it('answer 401 without credentials and 403 with a wrong key', async () => {
      expect((await problemOf(await fetch(`${base}/v1/admin/dead-letters`), 401)).code).toBe('UNAUTHORIZED');
      const wrong = await fetch(`${base}/v1/admin/dead-letters`, {
        headers: { authorization: 'Bearer not-the-key' },
      });
      expect((await problemOf(wrong, 403)).code).toBe('FORBIDDEN');
      const redrive = await fetch(`${base}/v1/admin/dead-letters/x/redrive`, { method: 'POST' });
      expect((await problemOf(redrive, 401)).code).toBe('UNAUTHORIZED');
    });

    it('list dead letters and re-drive one to its group', async () => {
      const empty = await fetch(`${base}/v1/admin/dead-letters?status=parked`, { headers: auth });
      expect(empty.status).toBe(200);
      expect(await empty.json()).toEqual({ items: [] });

      // Park a message the saga "gave up on", through a second connection to the same file: a
      // complete OrderPlaced (copied from a real order, under a new id) that the saga never saw.
      const real = (await (await postOrder(base, orderBody())).json()) as OrderView;
      const placedData = (await trail(real.id)).events.find((e) => e.type === 'OrderPlaced')!.data;
      const orderId = randomUUID();
      const database = openSqliteDatabase({ filename: path.join(dataDir, 'orderflow.db') });
      const parked = await createSqliteDeadLetterStore({ database }).add({
        group: 'saga',
        message: createEnvelope(
          { type: 'orders.OrderPlaced', data: { ...placedData, orderId }, correlationId: orderId },
          { source: 'test' },
        ),
        error: { name: 'Error', message: 'saga was down' },
        attempts: 8,
      });
      await database.close();

      const listed = await fetch(`${base}/v1/admin/dead-letters?status=parked&group=saga&limit=10`, {
        headers: auth,
      });
      const { items } = (await listed.json()) as {
        items: { id: string; status: string; error: { message: string } }[];
      };
      expect(items).toEqual([
        expect.objectContaining({
          id: parked.id,
          status: 'parked',
          error: expect.objectContaining({ message: 'saga was down' }),
        }),
      ]);

      const redrive = await fetch(`${base}/v1/admin/dead-letters/${parked.id}/redrive`, {
        method: 'POST',
        headers: auth,
      });
      expect(redrive.status).toBe(200);
      expect(await redrive.json()).toMatchObject({ id: parked.id, status: 'redriven' });
      // The saga handles it this time.
      await vi.waitFor(
        async () => {
          const response = await fetch(`${base}/v1/orders/${orderId}/events`);
          expect(response.status).toBe(200);
          expect(((await response.json()) as Trail).events.map((e) => e.type)).toContain('SagaStarted');
        },
        { timeout: 10_000, interval: 25 },
      );

      const again = await fetch(`${base}/v1/admin/dead-letters/${parked.id}/redrive`, {
        method: 'POST',
        headers: auth,
      });
      expect((await problemOf(again, 409)).code).toBe('DEAD_LETTER_ALREADY_REDRIVEN');
      const unknown = await fetch(`${base}/v1/admin/dead-letters/${randomUUID()}/redrive`, {
        method: 'POST',
        headers: auth,
      });
      expect((await problemOf(unknown, 404)).code).toBe('DEAD_LETTER_NOT_FOUND');
    });

    it('validate the query', async () => {
      const bad = await fetch(`${base}/v1/admin/dead-letters?status=lost&limit=0`, { headers: auth });
      const problem = await problemOf(bad, 422);
      expect(problem.errors?.map((e) => e.pointer).sort()).toEqual(['/limit', '/status']);
    });
  });
});

describe('restart on the same data dir', () => {
  const dataDir = tempDataDir('orderflow-restart-');

  afterAll(() => removeDir(dataDir));

  it('keeps orders and does not list the catalog twice', async () => {
    const first = await startTestApp({ dataDir });
    const key = newKey();
    const created = (await (await postOrder(first.url, orderBody(), key)).json()) as OrderView;
    await first.app.stop();

    const second = await startTestApp({ dataDir });
    try {
      const read = await fetch(`${second.url}/v1/orders/${created.id}`);
      expect(read.status).toBe(200);
      // The saga may have moved it on since; what was placed is unchanged.
      const current = (await read.json()) as OrderView;
      const placedPart = (view: OrderView) => ({
        id: view.id,
        region: view.region,
        customerId: view.customerId,
        currency: view.currency,
        total: view.total,
        items: view.items,
        createdAt: view.createdAt,
      });
      expect(placedPart(current)).toEqual(placedPart(created));
      // The key still maps to the same order after a restart.
      expect((await postOrder(second.url, orderBody(), key)).status).toBe(200);
      const catalog = (await (await fetch(`${second.url}/v1/catalog`)).json()) as { items: unknown[] };
      expect(catalog.items).toHaveLength(36);
    } finally {
      await second.app.stop();
    }

    const database = openSqliteDatabase({ filename: path.join(dataDir, 'orderflow.db') });
    const store = createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
    try {
      const listed = await store.readStream('catalog');
      expect(listed).toHaveLength(36);
      expect(new Set(listed.map((e) => (e.data as { sku: string }).sku)).size).toBe(36);
      const orderEvents = await store.readStream(`order-${created.id}`);
      expect(orderEvents.filter((e) => e.type === 'OrderPlaced')).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
