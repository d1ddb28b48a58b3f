import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../src/app/embedded-adapters.ts';
import { SQLITE_FILE_NAME } from '../../src/config/config-schema.ts';
import { OrderPlaced, orderStreamId } from '../../src/contexts/orders/messages.ts';
import { createEnvelope } from '../../src/kernel/envelope.ts';
import { orderBody } from '../support/orders.ts';
import { scrape, seriesOf } from '../support/prometheus-text.ts';
import { removeDir, startTestApp, tempDataDir, TEST_ADMIN_KEY, type TestApp } from '../support/test-app.ts';

/**
 * A dead-lettered `OrderPlaced` leaves an order pending for ever: it must count in revenue at risk,
 * raise the dead-letter and revenue-at-risk alerts, and be the impact of the incident they open.
 */
describe('a dead-lettered OrderPlaced', () => {
  let running: TestApp | undefined;
  let side: EmbeddedAdapters | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.app.stop();
    await side?.store.close();
    if (dir !== undefined) removeDir(dir);
  });

  it('counts in revenue at risk, raises an alert and opens an incident with the order as impact', async () => {
    dir = tempDataDir();
    const rules = path.join(dir, 'rules.yaml');
    fs.writeFileSync(
      rules,
      [
        'rules:',
        '  - name: dead_letters_parked',
        '    for: 0s',
        '  - name: revenue_at_risk',
        '    for: 0s',
        '',
      ].join('\n'),
    );
    // No saga in this process: the order's OrderPlaced waits, as if its handler had given up on it.
    running = await startTestApp({
      dataDir: path.join(dir, 'data'),
      roles: ['api', 'inventory', 'payments', 'fulfillment', 'notifications', 'operations'],
      env: { ORDERFLOW_ALERT_RULES: rules, ORDERFLOW_ALERT_EVAL_INTERVAL_MS: '200' },
    });
    const { url } = running;
    const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const placed = await fetch(`${url}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify(orderBody()),
    });
    expect(placed.status).toBe(201);
    const order = (await placed.json()) as { id: string; total: number; currency: string; region: string };
    expect(
      seriesOf(await scrape(url), 'orderflow_revenue_at_risk')[
        `currency=${order.currency},region=${order.region}`
      ],
    ).toBe(0);

    // What the consumer does after the last attempt: the message goes to the dead-letter store.
    side = createEmbeddedAdapters({
      file: path.join(dir, 'data', SQLITE_FILE_NAME),
      synchronous: 'FULL',
      partitions: 16,
    });
    const [event] = await side.store.readStream(orderStreamId(order.id));
    await side.deadLetters.add({
      group: 'saga',
      message: createEnvelope(
        { type: OrderPlaced.type, data: event!.data, correlationId: order.id },
        { source: 'orderflow/orders' },
      ),
      error: { name: 'TerminalError', message: 'the saga could not start' },
      attempts: 8,
    });

    await expect
      .poll(
        async () =>
          seriesOf(await scrape(url), 'orderflow_revenue_at_risk')[
            `currency=${order.currency},region=${order.region}`
          ],
      )
      .toBe(order.total);
    await expect
      .poll(async () => {
        const alerts = (await (await fetch(`${url}/v1/admin/alerts`, { headers: auth })).json()) as {
          name: string;
          state: string;
        }[];
        return alerts
          .filter((a) => a.state === 'firing')
          .map((a) => a.name)
          .sort();
      })
      .toEqual(['dead_letters_parked', 'revenue_at_risk']);
    expect(
      seriesOf(await scrape(url), 'orderflow_alerts')[
        'alert=dead_letters_parked,severity=medium,state=firing'
      ],
    ).toBe(1);

    await expect
      .poll(async () => {
        const { items } = (await (
          await fetch(`${url}/v1/admin/incidents?status=open`, { headers: auth })
        ).json()) as {
          items: { severity: string; impact: { ordersAffected: number; revenueAtRisk: unknown[] } }[];
        };
        return items[0];
      })
      .toMatchObject({
        severity: 'high',
        impact: { ordersAffected: 1, revenueAtRisk: [{ currency: order.currency, amount: order.total }] },
      });
    expect(seriesOf(await scrape(url), 'orderflow_incidents')['severity=high,status=open']).toBe(1);
  });
});
