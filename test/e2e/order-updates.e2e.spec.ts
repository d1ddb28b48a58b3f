import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoTraffic } from '../../src/cli/demo-traffic.ts';
import { newKey, orderBody, postOrder } from '../support/orders.ts';
import { removeDir, startTestApp, type TestApp } from '../support/test-app.ts';

/** Live order updates (server-sent events) and the demo traffic that feeds the dashboard. */

interface View {
  id: string;
  status: string;
}

/** Reads `event: order` frames from an SSE response until the stream ends. */
async function readOrderEvents(response: Response): Promise<View[]> {
  const views: View[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      if (frame.includes('event: order') && data !== '') views.push(JSON.parse(data) as View);
    }
  }
  return views;
}

describe('live order updates and demo traffic', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { ORDERFLOW_CARRIER_DELAY_MS: '100' } });
  });
  afterAll(async () => {
    await t.app.stop();
    removeDir(t.dataDir);
  });

  it('streams every status change of an order as server-sent events, then ends', async () => {
    const customerId = `sse-${randomUUID().slice(0, 8)}`;
    const placed = (await (
      await postOrder(
        t.url,
        orderBody({
          customerId,
          items: [
            { sku: 'KC-MUG-SET4', quantity: 1 },
            { sku: 'LU-CABLE-2M', quantity: 1 },
          ],
          paymentMethod: { token: `tok_visa.${customerId}` },
        }),
        newKey(),
      )
    ).json()) as View;
    const response = await fetch(`${t.url}/v1/orders/${placed.id}/stream`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const statuses = (await readOrderEvents(response)).map((view) => view.status);
    // It ends on the terminal status, after passing through the ones before it, in order.
    expect(statuses.at(-1)).toBe('delivered');
    const lifecycle = ['pending', 'confirmed', 'partially_shipped', 'shipped', 'delivered'];
    const indexes = statuses.map((status) => lifecycle.indexOf(status));
    expect(indexes.every((index) => index >= 0)).toBe(true);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(new Set(statuses).size).toBeGreaterThanOrEqual(3);
  });

  it('answers 404 problem+json for the stream of an unknown order', async () => {
    const response = await fetch(`${t.url}/v1/orders/${randomUUID()}/stream`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
  });

  it('demo traffic places varied orders that move through the saga', async () => {
    const before =
      (await (await fetch(`${t.url}/metrics`)).text()).match(
        /orderflow_orders_placed_total\{[^}]*\} (\d+)/g,
      ) ?? [];
    const count = (lines: string[]) => lines.reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    const demo = startDemoTraffic({ baseUrl: t.url, intervalMs: 40 });
    try {
      await expect
        .poll(
          async () => {
            const now =
              (await (await fetch(`${t.url}/metrics`)).text()).match(
                /orderflow_orders_placed_total\{[^}]*\} (\d+)/g,
              ) ?? [];
            return count(now) - count(before);
          },
          { timeout: 15_000, interval: 25, message: 'demo orders placed' },
        )
        .toBeGreaterThanOrEqual(15);
    } finally {
      await demo.stop();
    }
    const handled = await (await fetch(`${t.url}/metrics`)).text();
    // The saga handled the demo's orders: their replies came back from the other contexts.
    expect(handled).toMatch(
      /orderflow_messages_handled_total\{group="saga",type="payments\.FraudAssessed"\} [1-9]/,
    );
  });
});
