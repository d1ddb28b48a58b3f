import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newKey, orderBody, postOrder, type OrderRequest } from '../support/orders.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/test-app.ts';

/**
 * The order saga end to end, over HTTP, one test per path (issue: "The order saga end to end"):
 * every context runs in the real app on a temp SQLite file; only the payment provider, the carrier
 * and the mail server are the built-in simulators.
 */

interface View {
  id: string;
  status: string;
  reason?: string;
  total: number;
  shipments: { shipmentId: string; vendorId: string; status: string; trackingNumber?: string }[];
}

interface Trail {
  events: { type: string; context: string; data: Record<string, unknown> }[];
}

interface Inventory {
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

const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

function customer(): string {
  return `cust-${randomUUID().slice(0, 8)}`;
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/**
 * The same tests run in both modes (issue: "the saga issue's end-to-end tests also pass in distributed
 * mode"): embedded (SQLite, in-process bus) always; distributed (PostgreSQL + NATS JetStream, in a
 * namespace of their own) when the servers answer, and required when ORDERFLOW_REQUIRE_SERVICES=1.
 */
interface Mode {
  name: string;
  /** Environment of a fresh deployment in this mode. */
  env(): Record<string, string>;
  /** Removes what the last env() created outside the data dir. */
  cleanup(): Promise<void>;
}

function distributedMode(): Mode {
  let namespace = randomNamespace();
  return {
    name: 'distributed',
    env() {
      namespace = randomNamespace();
      return distributedEnv(namespace);
    },
    cleanup: () => removeNamespace(namespace),
  };
}

const MODES: Mode[] = [{ name: 'embedded', env: () => ({}), cleanup: async () => {} }];
if ((await serviceAvailable('postgres')) && (await serviceAvailable('nats'))) MODES.push(distributedMode());

for (const mode of MODES) {
  describe(`the order saga over HTTP (${mode.name})`, () => {
    let t: TestApp;
    const get = <T>(p: string) => fetch(`${t.url}${p}`).then((r) => json<T>(r));
    const view = (id: string) => get<View>(`/v1/orders/${id}`);
    const trail = async (id: string) => (await get<Trail>(`/v1/orders/${id}/events`)).events;
    const types = async (id: string) => (await trail(id)).map((e) => e.type);
    const inventory = (sku: string) => get<Inventory>(`/v1/inventory/${sku}`);
    const place = async (body: OrderRequest, wait = 10) => {
      const response = await postOrder(t.url, body, newKey(), { prefer: `wait=${wait}` });
      expect(response.status).toBe(201);
      return json<View>(response);
    };
    const until = (id: string, status: string) =>
      vi.waitFor(
        async () => {
          const current = await view(id);
          expect(current.status, `order ${id}`).toBe(status);
          return current;
        },
        { timeout: 15_000, interval: 25 },
      );
    const setStock = async (
      sku: string,
      warehouses: Inventory['warehouses'],
      onHand: (i: number) => number,
    ) => {
      for (const [i, w] of warehouses.entries()) {
        const response = await fetch(`${t.url}/v1/vendors/${w.vendorId}/stock/${sku}`, {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ warehouseId: w.warehouseId, onHand: onHand(i) }),
        });
        expect(response.status).toBe(200);
      }
    };

    beforeAll(async () => {
      t = await startTestApp({ env: { ...mode.env(), ORDERFLOW_CARRIER_DELAY_MS: '150' } });
    });
    afterAll(async () => {
      await t.app.stop();
      removeDir(t.dataDir);
      await mode.cleanup();
    });

    it('happy path: confirmed at once, then dispatched, captured once and delivered; stock leaves; the customer is e-mailed', async () => {
      const before = await inventory('KC-KETTLE-GS');
      const order = await place(
        orderBody({ customerId: customer(), items: [{ sku: 'KC-KETTLE-GS', quantity: 2 }] }),
      );
      expect(order.status).toBe('confirmed');
      const delivered = await until(order.id, 'delivered');
      expect(delivered.shipments).toHaveLength(1);
      expect(delivered.shipments[0]).toMatchObject({ status: 'delivered' });
      expect(delivered.shipments[0]!.trackingNumber).toBeTruthy();

      const seen = await types(order.id);
      const inOrder = [
        'OrderPlaced',
        'StockReserved',
        'FraudAssessed',
        'PaymentAuthorized',
        'ReservationConfirmed',
        'OrderConfirmed',
        'ShipmentAllocated',
        'ShipmentDispatched',
        'ShipmentDelivered',
        'OrderDelivered',
      ];
      expect(
        inOrder
          .map((type) => seen.indexOf(type))
          .every((index, i, all) => index >= 0 && (i === 0 || index > all[i - 1]!)),
      ).toBe(true);
      expect(seen.filter((type) => type === 'PaymentCaptured')).toHaveLength(1);
      expect(seen.filter((type) => type === 'StockCommitted')).toHaveLength(1);

      const after = await vi.waitFor(
        async () => {
          const now = await inventory('KC-KETTLE-GS');
          expect(now.onHand).toBe(before.onHand - 2);
          return now;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(after.reserved).toBe(before.reserved);
      const mails = await vi.waitFor(
        () => {
          const dir = path.join(t.dataDir, 'mail');
          const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.includes(order.id)) : [];
          expect(files.length).toBeGreaterThanOrEqual(3);
          return files;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(mails.length).toBeGreaterThanOrEqual(3);
    });

    it("out_of_stock: rejected, and the other line's reservation is released", async () => {
      const sku = 'LU-SPEAKER';
      const stock = await inventory(sku);
      await setStock(sku, stock.warehouses, () => 0);
      const other = await inventory('KC-PRESS-8C');
      const order = await place(
        orderBody({
          customerId: customer(),
          items: [
            { sku: 'KC-PRESS-8C', quantity: 1 },
            { sku, quantity: 1 },
          ],
        }),
      );
      const rejected = order.status === 'rejected' ? order : await until(order.id, 'rejected');
      expect(rejected.reason).toBe('out_of_stock');
      const seen = await types(order.id);
      expect(seen).toContain('StockReservationFailed');
      expect(seen).not.toContain('PaymentAuthorized');
      const released = await vi.waitFor(
        async () => {
          const now = await inventory('KC-PRESS-8C');
          expect(now.reserved).toBe(other.reserved);
          return now;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(released.available).toBe(other.available);
    });

    it('payment_declined: rejected, stock released, nothing captured', async () => {
      const before = await inventory('KC-SCALE');
      const order = await place(
        orderBody({
          customerId: customer(),
          items: [{ sku: 'KC-SCALE', quantity: 1 }],
          paymentMethod: { token: 'tok_declined.e2e' },
        }),
      );
      const rejected = order.status === 'rejected' ? order : await until(order.id, 'rejected');
      expect(rejected.reason).toBe('payment_declined');
      const seen = await types(order.id);
      expect(seen).toContain('PaymentDeclined');
      expect(seen).not.toContain('PaymentCaptured');
      await expect
        .poll(async () => (await inventory('KC-SCALE')).reserved, { timeout: 10_000, interval: 25 })
        .toBe(before.reserved);
    });

    it('fraud_suspected: rejected before any authorization, with the rules that fired', async () => {
      const order = await place(
        orderBody({
          customerId: customer(),
          items: [{ sku: 'KC-FILTERS', quantity: 1 }],
          paymentMethod: { token: 'tok_risky.e2e' },
        }),
      );
      const rejected = order.status === 'rejected' ? order : await until(order.id, 'rejected');
      expect(rejected.reason).toBe('fraud_suspected');
      const events = await trail(order.id);
      const assessed = events.find((e) => e.type === 'FraudAssessed');
      expect(assessed?.data).toMatchObject({ decision: 'reject' });
      expect((assessed?.data.rules as { rule: string }[]).map((r) => r.rule)).toContain('risky_token');
      expect(events.map((e) => e.type)).not.toContain('PaymentAuthorized');
    });

    it('tok_timeout: the first authorization times out, the retry is approved', async () => {
      const order = await place(
        orderBody({
          customerId: customer(),
          items: [{ sku: 'KC-FILTERS', quantity: 1 }],
          paymentMethod: { token: `tok_timeout.${randomUUID()}` },
        }),
        15,
      );
      const confirmed = order.status === 'pending' ? await until(order.id, 'confirmed') : order;
      expect(['confirmed', 'partially_shipped', 'shipped', 'delivered']).toContain(confirmed.status);
      const seen = await types(order.id);
      expect(seen.filter((type) => type === 'PaymentTimedOut')).toHaveLength(1);
      expect(seen.filter((type) => type === 'PaymentAuthorized')).toHaveLength(1);
      expect(seen.indexOf('PaymentTimedOut')).toBeLessThan(seen.indexOf('PaymentAuthorized'));
    });

    it('a two-vendor order ships in two shipments and is captured once', async () => {
      const order = await place(
        orderBody({
          customerId: customer(),
          items: [
            { sku: 'KC-MUG-SET4', quantity: 1 },
            { sku: 'LU-CABLE-2M', quantity: 2 },
          ],
        }),
      );
      const delivered = await until(order.id, 'delivered');
      expect(new Set(delivered.shipments.map((s) => s.vendorId))).toEqual(new Set(['kettle', 'lumen']));
      const seen = await types(order.id);
      expect(seen.filter((type) => type === 'ShipmentDispatched')).toHaveLength(2);
      expect(seen.filter((type) => type === 'PaymentCaptured')).toHaveLength(1);
    });

    it('refuses a cancellation after dispatch with a clear 409', async () => {
      const order = await place(
        orderBody({ customerId: customer(), items: [{ sku: 'KC-FILTERS', quantity: 1 }] }),
      );
      await until(order.id, 'delivered');
      const response = await fetch(`${t.url}/v1/orders/${order.id}/cancel`, { method: 'POST' });
      expect(response.status).toBe(409);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect((await json<{ code: string }>(response)).code).toBe('ORDER_NOT_CANCELLABLE');
    });
  });

  describe(`cancellation before dispatch (${mode.name})`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ env: { ...mode.env(), ORDERFLOW_CARRIER_DELAY_MS: '60000' } });
    });
    afterAll(async () => {
      await t.app.stop();
      removeDir(t.dataDir);
      await mode.cleanup();
    });

    it('releases the stock, voids the payment, cancels the shipment and ends cancelled', async () => {
      const inventory = async () => json<Inventory>(await fetch(`${t.url}/v1/inventory/NW-HEADLAMP`));
      const before = await inventory();
      const placed = await postOrder(
        t.url,
        orderBody({ customerId: customer(), items: [{ sku: 'NW-HEADLAMP', quantity: 3 }] }),
        newKey(),
        { prefer: 'wait=10' },
      );
      const order = await json<View>(placed);
      expect(order.status).toBe('confirmed');
      expect((await inventory()).reserved).toBe(before.reserved + 3);

      const response = await fetch(`${t.url}/v1/orders/${order.id}/cancel`, {
        method: 'POST',
        headers: { prefer: 'wait=10' },
      });
      expect(response.status).toBe(202);
      const cancelled = await vi.waitFor(
        async () => {
          const current = await json<View>(await fetch(`${t.url}/v1/orders/${order.id}`));
          expect(current.status).toBe('cancelled');
          return current;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(cancelled.reason).toBe('customer_request');
      const seen = (await json<Trail>(await fetch(`${t.url}/v1/orders/${order.id}/events`))).events.map(
        (e) => e.type,
      );
      expect(seen).toEqual(
        expect.arrayContaining([
          'OrderCancellationRequested',
          'ShipmentsCancelled',
          'PaymentVoided',
          'StockReleased',
          'OrderCancelled',
        ]),
      );
      expect(seen).not.toContain('PaymentCaptured');
      const after = await vi.waitFor(
        async () => {
          const now = await inventory();
          expect(now.reserved).toBe(before.reserved);
          return now;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(after.available).toBe(before.available);
    });
  });

  describe(`reservation expiry (${mode.name})`, () => {
    let t: TestApp;
    beforeAll(async () => {
      // The payment provider is slower than the reservation's time-to-live.
      t = await startTestApp({
        env: { ORDERFLOW_RESERVATION_TTL_MS: '200', ORDERFLOW_GATEWAY_LATENCY_MS: '800' },
      });
    });
    afterAll(async () => {
      await t.app.stop();
      removeDir(t.dataDir);
      await mode.cleanup();
    });

    it('releases the stock by itself when the saga does not confirm in time, and the order ends with reason timeout', async () => {
      const inventory = async () => json<Inventory>(await fetch(`${t.url}/v1/inventory/KC-GRINDER`));
      const before = await inventory();
      const placed = await postOrder(
        t.url,
        orderBody({ customerId: customer(), items: [{ sku: 'KC-GRINDER', quantity: 1 }] }),
        newKey(),
      );
      const order = await json<View>(placed);
      const rejected = await vi.waitFor(
        async () => {
          const current = await json<View>(await fetch(`${t.url}/v1/orders/${order.id}`));
          expect(current.status).toBe('rejected');
          return current;
        },
        { timeout: 15_000, interval: 25 },
      );
      expect(rejected.reason).toBe('timeout');
      const events = (await json<Trail>(await fetch(`${t.url}/v1/orders/${order.id}/events`))).events;
      expect(events.find((e) => e.type === 'StockReleased')?.data).toMatchObject({ reason: 'expired' });
      expect(events.map((e) => e.type)).not.toContain('PaymentCaptured');
      const after = await vi.waitFor(
        async () => {
          const now = await inventory();
          expect(now.reserved).toBe(before.reserved);
          return now;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(after.available).toBe(before.available);
    });
  });
}
