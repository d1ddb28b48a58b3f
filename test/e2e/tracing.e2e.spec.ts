import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openEventStore } from '../../src/app/open-event-store.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { FULFILLMENT_GROUP } from '../../src/contexts/fulfillment/handlers.ts';
import { INVENTORY_GROUP } from '../../src/contexts/inventory/handlers.ts';
import { NOTIFICATIONS_GROUP } from '../../src/contexts/notifications/handlers.ts';
import { PAYMENTS_GROUP } from '../../src/contexts/payments/handlers.ts';
import { SAGA_GROUP } from '../../src/sagas/engine/saga-runtime.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import { createCluster, type OrderflowCluster } from '../support/orderflow-cluster.ts';
import {
  startOrderflowProcess,
  stopGracefully,
  type OrderflowProcess,
} from '../support/orderflow-process.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { orderBody, postOrder } from '../support/orders.ts';
import { serviceAvailable } from '../support/services.ts';
import { freePort, removeDir, tempDataDir } from '../support/test-app.ts';

/**
 * Traces (DESIGN.md §9): Orderflow as real processes exporting over OTLP/HTTP to a receiver of the
 * test's own. One order must be one trace: the HTTP request's SERVER span at its root, then a
 * `process <type>` CONSUMER span for every message any context handled for the order, each the
 * child of the span that sent its message. What "every message" is comes from the store: each
 * event a handler appended names the message that caused it.
 */

const ORDER_GROUPS = [SAGA_GROUP, INVENTORY_GROUP, PAYMENTS_GROUP, FULFILLMENT_GROUP, NOTIFICATIONS_GROUP];
const POLL = { timeout: 20_000, interval: 50 };

interface View {
  id: string;
  status: string;
}

/** A vendor webhook endpoint that refuses each webhook's first delivery (503), then takes it. */
interface FlakyWebhook {
  url: string;
  refused: Set<string>;
  accepted: Set<string>;
  close(): Promise<void>;
}

async function startFlakyWebhook(): Promise<FlakyWebhook> {
  const refused = new Set<string>();
  const accepted = new Set<string>();
  const server = http.createServer((request, response) => {
    const id = String(request.headers['webhook-id']);
    request.resume();
    request.on('end', () => {
      if (refused.has(id)) {
        accepted.add(id);
        response.writeHead(204).end();
      } else {
        refused.add(id);
        response.writeHead(503).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    refused,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function placeOrder(baseUrl: string, headers: Record<string, string> = {}): Promise<View> {
  const response = await postOrder(
    baseUrl,
    orderBody({ customerId: `cust-trace-${Date.now()}` }),
    undefined,
    headers,
  );
  expect(response.status).toBe(201);
  return (await response.json()) as View;
}

async function waitUntilDelivered(baseUrl: string, orderId: string, webhook: FlakyWebhook): Promise<void> {
  await vi.waitFor(async () => {
    const view = (await (await fetch(`${baseUrl}/v1/orders/${orderId}`)).json()) as View;
    expect(view.status).toBe('delivered');
    // Every refused webhook was retried and taken: its second attempt is in the trace too.
    expect(webhook.refused.size).toBeGreaterThan(0);
    expect([...webhook.refused].filter((id) => !webhook.accepted.has(id))).toEqual([]);
  }, POLL);
}

/** The ids of the messages the order's events were caused by: each handled in a consumer span. */
async function handledMessageIds(env: Record<string, string>, orderId: string): Promise<Set<string>> {
  const store = await openEventStore(loadConfig(env));
  try {
    const events = await store.readCorrelated(orderId);
    const ids = events.flatMap((event) => {
      const causation = event.metadata.causationId;
      return typeof causation === 'string' ? [causation] : [];
    });
    return new Set(ids);
  } finally {
    await store.close();
  }
}

interface OrderTrace {
  traceId: string;
  spans: ReceivedSpan[];
  root: ReceivedSpan;
  consumers: ReceivedSpan[];
}

/** The order's trace, checked for shape: one trace, rooted at the HTTP span, every parent in it. */
function orderTrace(all: readonly ReceivedSpan[], orderId: string): OrderTrace {
  const placing = all.filter(
    (span) => span.name === 'orders.place' && span.attributes['orderflow.order_id'] === orderId,
  );
  expect(placing, 'one orders.place span for the order').toHaveLength(1);
  const traceId = placing[0]!.traceId;
  const spans = all.filter((span) => span.traceId === traceId);

  // One trace per order: no span about this order lives in another trace.
  const elsewhere = all.filter(
    (span) => span.attributes['orderflow.order_id'] === orderId && span.traceId !== traceId,
  );
  expect(elsewhere.map((span) => span.name)).toEqual([]);

  const ids = new Set(spans.map((span) => span.spanId));
  const roots = spans.filter((span) => span.parentSpanId === undefined || !ids.has(span.parentSpanId));
  expect(roots.map((span) => `${span.kind} ${span.name}`)).toEqual(['server POST /v1/orders']);
  const root = roots[0]!;
  expect(root.attributes).toMatchObject({
    'http.request.method': 'POST',
    'http.route': '/v1/orders',
    'url.path': '/v1/orders',
    'http.response.status_code': 201,
  });
  expect(placing[0]!.parentSpanId).toBe(root.spanId);

  const consumers = spans.filter((span) => span.kind === 'consumer');
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  for (const span of consumers) {
    const type = String(span.attributes['messaging.destination.name']);
    expect(span.name).toBe(`process ${type}`);
    expect(span.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'orderflow.order_id': orderId,
    });
    // The intake sent OrderPlaced; every other message was sent by a handler, in its span.
    const parent = byId.get(span.parentSpanId!)!;
    expect(`${parent.kind} ${parent.name}`, span.name).toMatch(
      type === 'orders.OrderPlaced' ? /^internal orders\.place$/ : /^consumer process /,
    );
  }
  return { traceId, spans, root, consumers };
}

/** Every message handled for the order has its span in the trace, in every one of the contexts. */
function expectEveryHandledMessage(trace: OrderTrace, handled: ReadonlySet<string>): void {
  const traced = new Set(trace.consumers.map((span) => span.attributes['messaging.message.id']));
  expect(handled.size).toBeGreaterThan(5);
  expect([...handled].filter((id) => !traced.has(id))).toEqual([]);
  const groups = new Set(trace.consumers.map((span) => span.attributes['messaging.consumer.group.name']));
  expect([...groups]).toEqual(expect.arrayContaining(ORDER_GROUPS));
}

/** The refused webhook's attempt: an ERROR span with the exception, then a retry that succeeded. */
function expectFailedAttempt(trace: OrderTrace): ReceivedSpan {
  const failed = trace.consumers.filter((span) => span.status === 'error');
  expect(failed.length).toBeGreaterThan(0);
  const attempt = failed[0]!;
  expect(attempt.attributes).toMatchObject({
    'messaging.consumer.group.name': NOTIFICATIONS_GROUP,
    'orderflow.message.outcome': 'retried',
  });
  expect(attempt.events).toContain('exception');
  const retry = trace.consumers.find(
    (span) =>
      span.attributes['messaging.message.id'] === attempt.attributes['messaging.message.id'] &&
      span.attributes['orderflow.message.outcome'] === 'handled',
  );
  expect(retry, 'the retry that succeeded').toBeDefined();
  expect(retry!.parentSpanId).toBe(attempt.parentSpanId);
  return attempt;
}

function logLines(output: readonly string[]): Record<string, unknown>[] {
  return output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('traces, embedded mode (one process)', () => {
  const dataDir = tempDataDir('orderflow-traces-');
  let receiver: OtlpReceiver;
  let webhook: FlakyWebhook;
  let running: OrderflowProcess | undefined;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    webhook = await startFlakyWebhook();
  });
  afterAll(async () => {
    if (running !== undefined && running.child.exitCode === null) await stopGracefully(running);
    await receiver?.close();
    await webhook?.close();
    removeDir(dataDir);
  });

  it('exports one trace per order, from the HTTP request through every handled message; log lines carry trace_id and order_id', async () => {
    running = await startOrderflowProcess(dataDir, await freePort(), {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // Longer than the test: the spans arrive because stopping flushes them.
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      ORDERFLOW_CARRIER_DELAY_MS: '0',
      ORDERFLOW_VENDOR_WEBHOOK_URL: webhook.url,
    });
    const order = await placeOrder(running.baseUrl);
    await waitUntilDelivered(running.baseUrl, order.id, webhook);
    expect(await stopGracefully(running)).toBe(0);

    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/json']));
    const trace = orderTrace(receiver.spans, order.id);
    expectEveryHandledMessage(trace, await handledMessageIds({ ORDERFLOW_DATA_DIR: dataDir }, order.id));
    expect(trace.root.resource).toMatchObject({ 'service.name': 'orderflow' });
    expect(trace.consumers.every((span) => span.attributes['messaging.system'] === 'orderflow')).toBe(true);

    // The retry's warning was logged inside the failed attempt's span.
    const attempt = expectFailedAttempt(trace);
    const warning = logLines(running.output).find((line) => line.msg === 'handler failed, will retry');
    expect(warning).toMatchObject({
      trace_id: trace.traceId,
      span_id: attempt.spanId,
      order_id: order.id,
      group: NOTIFICATIONS_GROUP,
    });
  }, 40_000);
});

describe('without an OTLP endpoint (embedded mode)', () => {
  const dataDir = tempDataDir('orderflow-traces-off-');
  let webhook: FlakyWebhook;
  let running: OrderflowProcess | undefined;

  beforeAll(async () => {
    webhook = await startFlakyWebhook();
  });
  afterAll(async () => {
    if (running !== undefined && running.child.exitCode === null) await stopGracefully(running);
    await webhook?.close();
    removeDir(dataDir);
  });

  it("records nothing, yet log lines carry the caller's trace_id and the order_id, across every hop", async () => {
    running = await startOrderflowProcess(dataDir, await freePort(), {
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
      ORDERFLOW_CARRIER_DELAY_MS: '0',
      ORDERFLOW_VENDOR_WEBHOOK_URL: webhook.url,
    });
    const callerTrace = randomBytes(16).toString('hex');
    const order = await placeOrder(running.baseUrl, {
      traceparent: `00-${callerTrace}-${randomBytes(8).toString('hex')}-01`,
    });
    await waitUntilDelivered(running.baseUrl, order.id, webhook);
    // The webhooks are sent several hops after the order was placed (saga, inventory, payments,
    // fulfillment, notifications): the trace went along with every message.
    const warnings = logLines(running.output).filter((line) => line.msg === 'handler failed, will retry');
    expect(warnings.length).toBeGreaterThan(0);
    for (const warning of warnings) {
      expect(warning).toMatchObject({
        trace_id: callerTrace,
        order_id: order.id,
        group: NOTIFICATIONS_GROUP,
      });
      expect(warning.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
  }, 30_000);
});

const distributed = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

describe.runIf(distributed)('traces, distributed mode (two processes over NATS)', () => {
  const namespace = randomNamespace();
  let receiver: OtlpReceiver;
  let webhook: FlakyWebhook;
  let cluster: OrderflowCluster | undefined;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    webhook = await startFlakyWebhook();
  });
  afterAll(async () => {
    await cluster?.remove();
    await receiver?.close();
    await webhook?.close();
    await removeNamespace(namespace);
  }, 30_000);

  it("continues the caller's trace across processes: the API and saga in one, the other contexts in another", async () => {
    cluster = await createCluster(
      [
        { name: 'front', roles: ['api', 'saga'] },
        { name: 'back', roles: ['inventory', 'payments', 'fulfillment', 'notifications', 'operations'] },
      ],
      {
        ...distributedEnv(namespace),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '200',
        ORDERFLOW_CARRIER_DELAY_MS: '0',
        ORDERFLOW_VENDOR_WEBHOOK_URL: webhook.url,
      },
    );
    await cluster.startAll();
    const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const order = await placeOrder(cluster.url('front'), {
      traceparent: `00-${caller.traceId}-${caller.spanId}-01`,
    });
    await waitUntilDelivered(cluster.url('front'), order.id, webhook);
    const handled = await handledMessageIds(
      { ...distributedEnv(namespace), ORDERFLOW_DATA_DIR: cluster.dataDir('front') },
      order.id,
    );

    // The processes keep running: the spans come in batches every 200 ms.
    const trace = await vi.waitFor(() => {
      const found = orderTrace(receiver.spans, order.id);
      expectEveryHandledMessage(found, handled);
      expectFailedAttempt(found);
      return found;
    }, POLL);
    expect(trace.traceId).toBe(caller.traceId);
    expect(trace.root.parentSpanId).toBe(caller.spanId);
    expect(trace.consumers.every((span) => span.attributes['messaging.system'] === 'nats')).toBe(true);
    // Each span comes from the process that ran its group.
    for (const span of trace.consumers) {
      const roles = span.resource['orderflow.roles'];
      const group = span.attributes['messaging.consumer.group.name'];
      expect(roles, `${span.name} in group ${String(group)}`).toEqual(
        group === SAGA_GROUP ? ['api', 'saga'] : expect.not.arrayContaining(['saga']),
      );
    }
  }, 90_000);
});
