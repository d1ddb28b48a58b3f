import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  killHard,
  startOrderflowProcess as startOrderflow,
  stopGracefully,
  type OrderflowProcess as Running,
} from '../support/orderflow-process.ts';
import { orderBody } from '../support/orders.ts';
import { freePort, sleep } from '../support/test-app.ts';

/**
 * Guarantee 1 and 2 under SIGKILL: Orderflow runs as a real child process, several clients place
 * orders over HTTP, and the process is killed with SIGKILL while requests are in flight, then
 * restarted on the same data. Every order that got a 2xx must be readable with exactly one
 * OrderPlaced, and every OrderPlaced must have had exactly one effect at its subscriber (the order
 * saga's start), checked in the API and in the SQLite file itself.
 */

const CLIENTS = 8;
const KILL_CYCLES = 2;

interface Attempt {
  key: string;
  body: string;
  /** Order id from a 2xx answer. */
  acceptedId?: string;
}

function crashOrder(n: number, skus: string[]): string {
  return JSON.stringify(
    orderBody({
      customerId: `crash-customer-${n % 17}`,
      region: (['NA', 'EU', 'APAC'] as const)[n % 3]!,
      items: [{ sku: skus[n % skus.length]!, quantity: 1 + (n % 2) }],
      paymentMethod: { token: `tok_visa.crash-${n}` },
    }),
  );
}

async function post(baseUrl: string, attempt: Attempt): Promise<Response> {
  return fetch(`${baseUrl}/v1/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': attempt.key },
    body: attempt.body,
  });
}

describe('crash recovery: SIGKILL while orders are in flight', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-crash-'));
  let running: Running | undefined;

  afterAll(async () => {
    if (running && running.child.exitCode === null) await killHard(running);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every accepted order, with exactly one OrderPlaced and one effect each', async () => {
    const port = await freePort();
    running = await startOrderflow(dataDir, port);
    const catalog = (await (await fetch(`${running.baseUrl}/v1/catalog`)).json()) as {
      items: { sku: string }[];
    };
    const skus = catalog.items.map((item) => item.sku);
    expect(skus.length).toBeGreaterThan(0);

    const attempts: Attempt[] = [];
    let counter = 0;

    for (let cycle = 0; cycle < KILL_CYCLES; cycle++) {
      const current = running;
      let stop = false;
      const clients = Array.from({ length: CLIENTS }, async () => {
        while (!stop) {
          const n = counter++;
          const attempt: Attempt = { key: `crash-${cycle}-${n}-${randomUUID()}`, body: crashOrder(n, skus) };
          attempts.push(attempt);
          try {
            const response = await post(current.baseUrl, attempt);
            if (response.status === 201 || response.status === 200) {
              attempt.acceptedId = ((await response.json()) as { id: string }).id;
            } else {
              throw new Error(`unexpected ${response.status}: ${await response.text()}`);
            }
          } catch (error) {
            // Connection reset by the kill: the outcome is unknown, which is allowed; anything else is a bug.
            if (error instanceof Error && error.message.startsWith('unexpected')) throw error;
            return;
          }
        }
      });
      // Let orders flow, then kill while requests are in flight.
      await sleep(800 + cycle * 300);
      const acceptedBeforeKill = attempts.filter((a) => a.acceptedId).length;
      await killHard(current);
      stop = true;
      await Promise.all(clients);
      expect(acceptedBeforeKill).toBeGreaterThan(20);
      running = await startOrderflow(dataDir, port);
    }

    // Clients retry what had no answer, with the same key and body: it was either durable (200) or not (201).
    const live = running;
    for (const attempt of attempts.filter((a) => !a.acceptedId)) {
      const response = await post(live.baseUrl, attempt);
      expect([200, 201]).toContain(response.status);
      attempt.acceptedId = ((await response.json()) as { id: string }).id;
    }

    const accepted = attempts.filter(
      (a): a is Attempt & { acceptedId: string } => a.acceptedId !== undefined,
    );
    expect(new Set(accepted.map((a) => a.acceptedId)).size).toBe(accepted.length);

    // Every accepted order is readable and has exactly one OrderPlaced; its saga started exactly once.
    const deadline = Date.now() + 30_000;
    for (const attempt of accepted) {
      const order = await fetch(`${live.baseUrl}/v1/orders/${attempt.acceptedId}`);
      expect(order.status).toBe(200);
      const types = await vi.waitFor(
        async () => {
          const trail = (await (
            await fetch(`${live.baseUrl}/v1/orders/${attempt.acceptedId}/events`)
          ).json()) as {
            events: { type: string }[];
          };
          const seen = trail.events.map((event) => event.type);
          expect(seen, `order ${attempt.acceptedId}`).toContain('SagaStarted');
          return seen;
        },
        { timeout: Math.max(deadline - Date.now(), 1_000), interval: 50 },
      );
      expect(types.filter((type) => type === 'OrderPlaced')).toHaveLength(1);
      expect(types.filter((type) => type === 'SagaStarted')).toHaveLength(1);
    }

    expect(await stopGracefully(live)).toBe(0);

    // The same facts, checked in the store itself: one OrderPlaced per order stream, one saga start
    // per order, one inbox entry per OrderPlaced message at the saga, nothing else stored.
    const db = new Database(path.join(dataDir, 'orderflow.db'), { readonly: true });
    try {
      const placed = db
        .prepare("SELECT stream_id, COUNT(*) AS n FROM events WHERE type = 'OrderPlaced' GROUP BY stream_id")
        .all() as { stream_id: string; n: number }[];
      expect(placed.every((row) => row.n === 1)).toBe(true);
      expect(placed.map((row) => row.stream_id.replace(/^order-/, '')).sort()).toEqual(
        accepted.map((a) => a.acceptedId).sort(),
      );
      const sagaStarts = db
        .prepare("SELECT stream_id, COUNT(*) AS n FROM events WHERE type = 'SagaStarted' GROUP BY stream_id")
        .all() as { stream_id: string; n: number }[];
      expect(sagaStarts).toHaveLength(accepted.length);
      expect(sagaStarts.every((row) => row.n === 1)).toBe(true);
      // The saga recorded handling each OrderPlaced message once (it handles other messages too).
      const inbox = db.prepare("SELECT COUNT(*) AS n FROM inbox WHERE consumer = 'saga'").get() as {
        n: number;
      };
      expect(inbox.n).toBeGreaterThanOrEqual(accepted.length);
    } finally {
      db.close();
    }
  }, 180_000);
});
