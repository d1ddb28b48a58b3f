import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newKey, orderBody, postOrder } from '../../../test/support/orders.ts';
import { removeDir, startTestApp, type TestApp } from '../../../test/support/test-app.ts';
import { createSimulatedGateway, gatewaySimulatorFile } from '../../simulators/payment-gateway-simulator.ts';

describe('payments module in the app', () => {
  let t: TestApp | undefined;

  afterEach(async () => {
    if (t === undefined) return;
    await t.app.stop();
    removeDir(t.dataDir);
    t = undefined;
  });

  it('opens the gateway simulator in <dataDir>/simulators in the payments role, and authorizes through it', async () => {
    t = await startTestApp({ env: { ORDERFLOW_GATEWAY_TIMEOUT_MS: '300' } });
    const file = gatewaySimulatorFile(t.dataDir);
    expect(file).toBe(`${t.dataDir}/simulators/payment-gateway.db`);
    expect(fs.existsSync(file)).toBe(true);

    const response = await postOrder(
      t.url,
      orderBody({ customerId: `cust-${randomUUID()}`, paymentMethod: { token: `tok_visa.${randomUUID()}` } }),
      newKey(),
    );
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };

    // The provider's own ledger (a second connection to its file) shows the authorization.
    const ledger = createSimulatedGateway({ file });
    try {
      // The authorization in the ledger.
      const operations = await vi.waitFor(
        () => {
          const found = ledger.operations(`${id}:payment`);
          expect(found.length).toBeGreaterThan(0);
          return found;
        },
        { timeout: 15_000, interval: 25 },
      );
      expect(operations[0]).toMatchObject({
        kind: 'authorize',
        outcome: 'approved',
        idempotencyKey: `${id}:payment:authorize:1`,
      });
    } finally {
      await ledger.close();
    }

    // The payment's events reach the order's audit trail once the handler's unit commits.
    const trail = await vi.waitFor(
      async () => {
        const { events } = (await (await fetch(`${t!.url}/v1/orders/${id}/events`)).json()) as {
          events: { type: string; data: Record<string, unknown> }[];
        };
        expect(events.map((event) => event.type)).toContain('PaymentAuthorized');
        return events;
      },
      { timeout: 15_000, interval: 25 },
    );
    const assessed = trail.find((event) => event.type === 'FraudAssessed');
    expect(assessed?.data).toMatchObject({ orderId: id, decision: 'accept', threshold: 70 });
  });

  it('does not open the simulator in a process without the payments role', async () => {
    t = await startTestApp({ roles: ['api'] });
    expect(fs.existsSync(gatewaySimulatorFile(t.dataDir))).toBe(false);
  });
});
