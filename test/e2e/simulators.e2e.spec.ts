import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROLES } from '../../src/kernel/roles.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { newKey, orderBody, postOrder } from '../support/orders.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/test-app.ts';

/*
 * The simulators changed at run time (PUT /v1/admin/simulators/…, DESIGN.md §9) act on the running
 * system: a failing payment gateway holds new orders pending (the payments consumer retries) until it
 * is back; a carrier delay applies to the shipments scheduled after it; in the distributed mode the
 * process that runs payments applies a change made through another process within 2 s.
 */

const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };
const WAIT = { timeout: 15_000, interval: 25 };

async function putSimulator(url: string, simulator: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/v1/admin/simulators/${simulator}`, {
    method: 'PUT',
    headers: auth,
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

async function simulators(url: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${url}/v1/admin/simulators`, { headers: auth });
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: Record<string, unknown>[] }).items;
}

/** `orderflow_message_retries_total` of the payments group, over its message types. */
async function paymentRetries(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(
    /^orderflow_message_retries_total\{[^}]*group="payments"[^}]*\} (\S+)$/gm,
  )) {
    total += Number(match[1]);
  }
  return total;
}

async function placeOrder(url: string): Promise<string> {
  const response = await postOrder(url, orderBody(), newKey());
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function statusOf(url: string, id: string): Promise<string> {
  return ((await (await fetch(`${url}/v1/orders/${id}`)).json()) as { status: string }).status;
}

/** PUT failureRate 1, an order waits in pending while payments retries, PUT failureRate 0, it is confirmed (or further along). */
async function gatewayOutageAndRecovery(apiUrl: string, paymentsUrl: string): Promise<void> {
  const retriesBefore = await paymentRetries(paymentsUrl);
  const id = await placeOrder(apiUrl);
  await expect.poll(() => paymentRetries(paymentsUrl), WAIT).toBeGreaterThanOrEqual(retriesBefore + 2);
  expect(await statusOf(apiUrl, id)).toBe('pending');

  await putSimulator(apiUrl, 'payment-gateway', { failureRate: 0 });
  // With no carrier delay the order may be shipped or delivered by the time it is looked at.
  await expect
    .poll(() => statusOf(apiUrl, id), WAIT)
    .toSatisfy((status: string) =>
      ['confirmed', 'partially_shipped', 'shipped', 'delivered'].includes(status),
    );
}

describe('simulators changed at run time (embedded)', () => {
  let t: TestApp;

  beforeAll(async () => {
    // A slow carrier: confirmed orders wait ten minutes for dispatch unless the delay changes.
    t = await startTestApp({ env: { ORDERFLOW_CARRIER_DELAY_MS: '600000' } });
  }, 60_000);

  afterAll(async () => {
    await t?.app.stop();
    if (t !== undefined) removeDir(t.dataDir);
  });

  it('a failing payment gateway holds new orders pending until it is back', async () => {
    expect(await putSimulator(t.url, 'payment-gateway', { failureRate: 1 })).toMatchObject({
      simulator: 'payment-gateway',
      failureRate: 1,
      latencyMs: 0,
    });
    await gatewayOutageAndRecovery(t.url, t.url);
  });

  it('a carrier delay changed at run time applies to the shipments scheduled after it', async () => {
    const slow = await placeOrder(t.url);
    await expect.poll(() => statusOf(t.url, slow), WAIT).toBe('confirmed');

    expect(await putSimulator(t.url, 'carrier', { delayMs: 0 })).toMatchObject({ delayMs: 0 });
    const fast = await placeOrder(t.url);
    await expect.poll(() => statusOf(t.url, fast), WAIT).toBe('delivered');
    // Its dispatch was scheduled with the old delay.
    expect(await statusOf(t.url, slow)).toBe('confirmed');
  });
});

const distributed = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

describe.runIf(distributed)('simulators changed at run time (distributed)', () => {
  const namespace = randomNamespace();
  let front: TestApp;
  let workers: TestApp;

  beforeAll(async () => {
    const env = { ...distributedEnv(namespace), ORDERFLOW_CARRIER_DELAY_MS: '0' };
    front = await startTestApp({ roles: ['api'], env });
    // Serves the API too, so that its GET shows what its follower applied.
    workers = await startTestApp({ roles: [...ROLES], env });
  }, 60_000);

  afterAll(async () => {
    await front?.app.stop().catch(() => undefined);
    await workers?.app.stop().catch(() => undefined);
    await removeNamespace(namespace).catch(() => undefined);
    for (const t of [front, workers]) if (t !== undefined) removeDir(t.dataDir);
  }, 60_000);

  it('the process running payments applies a change made through another process within 2 s', async () => {
    const changed = Date.now();
    await putSimulator(front.url, 'payment-gateway', { failureRate: 1 });
    await vi.waitFor(
      async () => expect((await simulators(workers.url))[0]).toMatchObject({ failureRate: 1 }),
      { timeout: 2_000, interval: 25 },
    );
    expect(Date.now() - changed).toBeLessThan(2_000);
    await gatewayOutageAndRecovery(front.url, workers.url);
  });
});
