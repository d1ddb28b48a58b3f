import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { natsServerInstalled, startNatsServer, type OwnNatsServer } from '../support/nats-server.ts';
import { newKey, orderBody, postOrder } from '../support/orders.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, startTestApp, tempDataDir, type TestApp } from '../support/test-app.ts';

/**
 * /readyz in the distributed mode follows the servers: a process that consumes is not ready while
 * NATS is away, and ready again when it is back; an intake-only process stays ready (orders wait in
 * the PostgreSQL outbox) and what it accepted meanwhile flows once the bus is back. Uses a NATS server
 * of its own, since it stops it.
 */

const runs = (await serviceAvailable('postgres')) && natsServerInstalled();

interface Ready {
  status: number;
  checks?: Record<string, boolean>;
  detail?: string;
}

async function readiness(base: string): Promise<Ready> {
  const response = await fetch(`${base}/readyz`);
  const body = (await response.json()) as { checks?: Record<string, boolean>; detail?: string };
  return { ...body, status: response.status };
}

describe.runIf(runs)('readiness of distributed processes when NATS goes away', () => {
  const namespace = randomNamespace();
  const dirs = [tempDataDir(), tempDataDir()];
  let nats: OwnNatsServer;
  let intake: TestApp;
  let workers: TestApp;

  beforeAll(async () => {
    nats = await startNatsServer();
    const env = { ...distributedEnv(namespace, nats.url), ORDERFLOW_CARRIER_DELAY_MS: '100' };
    intake = await startTestApp({ dataDir: dirs[0], roles: ['api'], env });
    workers = await startTestApp({ dataDir: dirs[1], roles: ['saga', 'inventory'], env });
  }, 60_000);

  afterAll(async () => {
    await workers?.app.stop().catch(() => undefined);
    await intake?.app.stop().catch(() => undefined);
    await nats?.remove();
    await removeNamespace(namespace).catch(() => undefined);
    for (const dir of dirs) removeDir(dir);
  }, 60_000);

  it('reports both connections while the servers answer', async () => {
    for (const app of [intake, workers]) {
      const ready = await readiness(app.url);
      expect(ready.status).toBe(200);
      expect(ready.checks).toMatchObject({ store: true, consumers: true, postgres: true, nats: true });
    }
  });

  it('takes a consuming process out of rotation while NATS is away, keeps intake up, and loses nothing', async () => {
    await nats.stop();
    // The consuming process reports not ready.
    const down = await vi.waitFor(
      async () => {
        const ready = await readiness(workers.url);
        expect(ready.status).toBe(503);
        return ready;
      },
      { timeout: 10_000, interval: 25 },
    );
    expect(down.detail).toMatch(/nats/);
    const intakeReady = await readiness(intake.url);
    expect(intakeReady.status).toBe(200);
    expect(intakeReady.checks?.nats).toBe(false);

    // Intake goes on: the order waits in the outbox.
    const placed = await postOrder(intake.url, orderBody(), newKey());
    expect(placed.status).toBe(201);
    const { id } = (await placed.json()) as { id: string };

    await nats.start();
    await expect
      .poll(async () => (await readiness(workers.url)).status, { timeout: 20_000, interval: 25 })
      .toBe(200);
    // The saga and inventory took the order up once the bus was back.
    await expect
      .poll(
        async () => {
          const trail = (await (await fetch(`${intake.url}/v1/orders/${id}/events`)).json()) as {
            events: { type: string }[];
          };
          return trail.events.some((e) => e.type.startsWith('Stock'));
        },
        {
          timeout: 30_000,
          interval: 25,
          message: 'the order accepted while NATS was away to reach inventory',
        },
      )
      .toBe(true);
  }, 90_000);
});
