import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { createApp } from '../../src/app/create-app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { newKey, orderBody, postOrder, type OrderRequest } from '../support/orders.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, startTestApp, tempDataDir, TEST_ADMIN_KEY, type TestApp } from '../support/test-app.ts';

/**
 * The whole app in one process on PostgreSQL + NATS JetStream (distributed mode, DESIGN.md §8): the
 * HTTP API, every context's consumers, the outbox relay and the timers. Each describe runs in a
 * namespace of its own (schema + streams), removed afterwards.
 */

interface View {
  id: string;
  status: string;
  reason?: string;
  shipments: { status: string }[];
}

interface Trail {
  events: { type: string }[];
}

const runs = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

function customer(): string {
  return `cust-${randomUUID().slice(0, 8)}`;
}

function helpers(base: () => string) {
  const view = async (id: string) => json<View>(await fetch(`${base()}/v1/orders/${id}`));
  const types = async (id: string) =>
    (await json<Trail>(await fetch(`${base()}/v1/orders/${id}/events`))).events.map((e) => e.type);
  const place = async (body: OrderRequest, wait?: number) => {
    const response = await postOrder(
      base(),
      body,
      newKey(),
      wait === undefined ? {} : { prefer: `wait=${wait}` },
    );
    expect(response.status).toBe(201);
    return json<View>(response);
  };
  const until = (id: string, status: string, timeoutMs = 20_000) =>
    vi.waitFor(
      async () => {
        const current = await view(id);
        expect(current.status, `order ${id}`).toBe(status);
        return current;
      },
      { timeout: timeoutMs, interval: 25 },
    );
  return { view, types, place, until };
}

describe.runIf(runs)('distributed mode (PostgreSQL + JetStream), one process', () => {
  const namespace = randomNamespace();
  const dataDir = tempDataDir();
  const env = { ...distributedEnv(namespace), ORDERFLOW_CARRIER_DELAY_MS: '100' };
  let t: TestApp;
  const { view, types, place, until } = helpers(() => t.url);

  beforeAll(async () => {
    t = await startTestApp({ dataDir, env });
  }, 30_000);
  afterAll(async () => {
    await t?.app.stop();
    await removeNamespace(namespace);
    removeDir(dataDir);
  }, 30_000);

  it('is ready, and says so', async () => {
    const response = await fetch(`${t.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await json<{ status: string }>(response)).toMatchObject({ status: 'ready' });
  });

  it('happy path: confirmed, dispatched, captured once, delivered', async () => {
    const order = await place(
      orderBody({ customerId: customer(), items: [{ sku: 'KC-KETTLE-GS', quantity: 1 }] }),
      10,
    );
    expect(['confirmed', 'partially_shipped', 'shipped', 'delivered']).toContain(order.status);
    const delivered = await until(order.id, 'delivered');
    expect(delivered.shipments).toHaveLength(1);
    expect(delivered.shipments[0]).toMatchObject({ status: 'delivered' });
    const seen = await types(order.id);
    expect(seen).toEqual(
      expect.arrayContaining([
        'OrderPlaced',
        'StockReserved',
        'PaymentAuthorized',
        'OrderConfirmed',
        'OrderDelivered',
      ]),
    );
    expect(seen.filter((type) => type === 'PaymentCaptured')).toHaveLength(1);
  });

  it('payment_declined: rejected', async () => {
    const order = await place(
      orderBody({
        customerId: customer(),
        items: [{ sku: 'KC-KETTLE-GS', quantity: 1 }],
        paymentMethod: { token: 'tok_declined.dist' },
      }),
      10,
    );
    const rejected = order.status === 'rejected' ? order : await until(order.id, 'rejected');
    expect(rejected.reason).toBe('payment_declined');
    expect(await types(order.id)).not.toContain('PaymentCaptured');
  });

  it('keeps the orders across a restart on the same namespace, and completes one placed just before the stop', async () => {
    const earlier = await place(
      orderBody({ customerId: customer(), items: [{ sku: 'PT-INK-BLUE', quantity: 1 }] }),
      10,
    );
    await until(earlier.id, 'delivered');
    // Accepted (durable), then the process stops before the saga can finish it.
    const late = await place(
      orderBody({ customerId: customer(), items: [{ sku: 'KC-KETTLE-GS', quantity: 1 }] }),
    );
    await t.app.stop();

    t = await startTestApp({ dataDir, env });
    expect((await view(earlier.id)).status).toBe('delivered');
    const delivered = await until(late.id, 'delivered', 30_000);
    expect(delivered.id).toBe(late.id);
    const seen = await types(late.id);
    expect(seen.filter((type) => type === 'OrderPlaced')).toHaveLength(1);
    expect(seen.filter((type) => type === 'PaymentCaptured')).toHaveLength(1);
    expect(seen.filter((type) => type === 'OrderDelivered')).toHaveLength(1);
  }, 60_000);
});

describe.runIf(runs)('distributed mode: cancellation before dispatch', () => {
  const namespace = randomNamespace();
  const dataDir = tempDataDir();
  let t: TestApp;
  const { place, types, until } = helpers(() => t.url);

  beforeAll(async () => {
    t = await startTestApp({
      dataDir,
      env: { ...distributedEnv(namespace), ORDERFLOW_CARRIER_DELAY_MS: '60000' },
    });
  }, 30_000);
  afterAll(async () => {
    await t?.app.stop();
    await removeNamespace(namespace);
    removeDir(dataDir);
  }, 30_000);

  it('ends cancelled, with the payment voided', async () => {
    const order = await place(
      orderBody({ customerId: customer(), items: [{ sku: 'NW-HEADLAMP', quantity: 1 }] }),
      10,
    );
    expect(order.status).toBe('confirmed');
    const response = await fetch(`${t.url}/v1/orders/${order.id}/cancel`, { method: 'POST' });
    expect(response.status).toBe(202);
    const cancelled = await until(order.id, 'cancelled');
    expect(cancelled.reason).toBe('customer_request');
    const seen = await types(order.id);
    expect(seen).toContain('OrderCancelled');
    expect(seen).not.toContain('PaymentCaptured');
  });
});

describe.runIf(runs)('distributed mode: unreachable servers', () => {
  const dataDir = tempDataDir();
  afterAll(() => removeDir(dataDir));
  const config = (env: Record<string, string>) =>
    loadConfig({
      ORDERFLOW_DATA_DIR: dataDir,
      ORDERFLOW_PORT: '0',
      ORDERFLOW_ADMIN_KEY: TEST_ADMIN_KEY,
      ORDERFLOW_LOG_LEVEL: 'silent',
      ORDERFLOW_NAMESPACE: 't_unreachable',
      ...env,
    });

  it('refuses to start when PostgreSQL does not answer, naming it', async () => {
    await expect(
      createApp(
        config({
          ORDERFLOW_STORE: 'postgres://postgres:secret@127.0.0.1:1/test',
          ORDERFLOW_BUS: distributedEnv('x').ORDERFLOW_BUS!,
        }),
        { logger: pino({ level: 'silent' }) },
      ),
    ).rejects.toThrow(
      'cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:1/test: connection refused',
    );
  });

  it('refuses to start when NATS does not answer, naming it', async () => {
    const namespace = randomNamespace();
    try {
      await expect(
        createApp(
          config({
            ORDERFLOW_STORE: distributedEnv('x').ORDERFLOW_STORE!,
            ORDERFLOW_BUS: 'nats://127.0.0.1:1',
            ORDERFLOW_NAMESPACE: namespace,
          }),
          { logger: pino({ level: 'silent' }) },
        ),
      ).rejects.toThrow('cannot reach NATS at nats://127.0.0.1:1: connection refused');
    } finally {
      await removeNamespace(namespace);
    }
  });
});
