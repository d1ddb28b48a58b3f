import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContextModule } from '../../messaging/index.ts';
import { notificationsModule, type ContextModulesDependencies } from '../../app/context-modules.ts';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../app/embedded-adapters.ts';
import { loadConfig } from '../../config/load-config.ts';
import { createHttpServer, createMetrics, registerAdminRoutes } from '../../http/index.ts';
import type { HttpServer } from '../../kernel/http/index.ts';
import {
  createConsumer,
  createEnvelope,
  MessageCatalog,
  redriveDeadLetter,
  type Consumer,
  type Envelope,
  type Transport,
} from '../../messaging/index.ts';
import { DEMO_MARKETPLACE, seedCatalog } from '../catalog/index.ts';
import {
  deriveVendorSecret,
  NOTIFICATION_MESSAGES,
  NOTIFICATIONS_GROUP,
  notificationStreamId,
  type NotificationsModuleOptions,
} from './index.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN_KEY}` };
const FAST_RETRIES = { maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 40, jitter: 0 };
/** The embedded bus delivers within milliseconds: look often, give up after 10 s. */
const POLL = { timeout: 10_000, interval: 5 };
/** The source of the marker messages absence checks wait for (see `settled`). */
const MARKER_SOURCE = 'orderflow/test-marker';

/** The receiver's recipe from docs/webhooks.md, loaded from the document itself: if the docs are wrong, this test fails. */
type DocumentedVerify = (secret: string, headers: Record<string, string>, body: string) => boolean;
async function documentedVerify(dir: string): Promise<DocumentedVerify> {
  const doc = fs.readFileSync(path.resolve(import.meta.dirname, '../../../docs/webhooks.md'), 'utf8');
  const block = [...doc.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((code) => code.includes('verifyOrderflowWebhook'));
  if (block === undefined) throw new Error('docs/webhooks.md has no verifyOrderflowWebhook snippet');
  const file = path.join(dir, 'verify-recipe.mjs');
  fs.writeFileSync(file, block);
  const module = (await import(pathToFileURL(file).href)) as { verifyOrderflowWebhook: DocumentedVerify };
  return module.verifyOrderflowWebhook;
}

interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A vendor's endpoint on 127.0.0.1: records every request and answers what `respond` says ('hang' never answers). */
interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  respond: (request: ReceivedRequest, index: number) => number | 'hang';
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { requests: [] as ReceivedRequest[], respond: () => 200 } as unknown as Receiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = {
        path: req.url ?? '',
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const index = receiver.requests.push(request) - 1;
      const status = receiver.respond(request, index);
      if (status !== 'hang') res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  receiver.url = `http://127.0.0.1:${address.port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** A tiny SMTP server (the mail server of the SMTP test): takes every message, keeps its DATA. */
async function startSmtpServer(): Promise<{ url: string; messages: string[]; close(): Promise<void> }> {
  const messages: string[] = [];
  const server = net.createServer((socket) => {
    let buffer = '';
    let inData = false;
    socket.write('220 test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          messages.push(buffer.slice(0, end));
          buffer = buffer.slice(end + 5);
          inData = false;
          socket.write('250 queued\r\n');
          continue;
        }
        const newline = buffer.indexOf('\r\n');
        if (newline === -1) return;
        const line = buffer.slice(0, newline).toUpperCase();
        buffer = buffer.slice(newline + 2);
        if (line.startsWith('EHLO') || line.startsWith('HELO')) socket.write('250 test\r\n');
        else if (line.startsWith('DATA')) {
          inData = true;
          socket.write('354 go on\r\n');
        } else if (line.startsWith('QUIT')) socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The headers of an RFC 5322 message, unfolded, by lower-case name. */
function parseHeaders(raw: string): Record<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  return Object.fromEntries(
    head.split(/\r?\n/).map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
}

/** The message with its quoted-printable parts decoded (soft line breaks joined, =XX sequences as UTF-8). */
function decodeQuotedPrintable(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/(?:=[0-9A-F]{2})+/g, (run) => Buffer.from(run.replaceAll('=', ''), 'hex').toString('utf8'));
}

interface System {
  adapters: EmbeddedAdapters;
  module: ContextModule;
  consumers: Consumer[];
  http: HttpServer;
  /** Deliveries of CustomerNotified / VendorNotified to a probe group (markers left out). */
  published: Envelope[];
  /** Deliveries to the notifications group, by message type (retries included, markers left out). */
  deliveries: Map<string, number>;
  /** Ids of the markers the probe group received. */
  markers: Set<string>;
}

async function openSystem(
  dataDir: string,
  env: Record<string, string> = {},
  options: Partial<NotificationsModuleOptions> = {},
): Promise<System> {
  const adapters = createEmbeddedAdapters({
    file: path.join(dataDir, 'orderflow.db'),
    synchronous: 'NORMAL',
    partitions: 4,
  });
  const { store, deadLetters } = adapters;
  const published: Envelope[] = [];
  const deliveries = new Map<string, number>();
  const markers = new Set<string>();
  const transport: Transport = {
    ...adapters.transport,
    partitions: adapters.transport.partitions,
    subscribe: (subscribeOptions) =>
      adapters.transport.subscribe({
        ...subscribeOptions,
        onDelivery: (delivery) => {
          const marker = delivery.message.source === MARKER_SOURCE;
          if (subscribeOptions.group === 'probe') {
            if (marker) markers.add(delivery.message.id);
            else published.push(delivery.message);
          }
          if (subscribeOptions.group === 'notifications' && !marker) {
            deliveries.set(delivery.message.type, (deliveries.get(delivery.message.type) ?? 0) + 1);
          }
          subscribeOptions.onDelivery(delivery);
        },
      }),
  };
  await transport.start();
  const messages = new MessageCatalog().register(...NOTIFICATION_MESSAGES);
  const config = loadConfig({ ORDERFLOW_DATA_DIR: dataDir, ...env });
  const deps: ContextModulesDependencies = {
    store,
    messages,
    catalog: await seedCatalog(store, DEMO_MARKETPLACE.products),
    marketplace: DEMO_MARKETPLACE,
    logger: pino({ level: 'silent' }),
    adminKey: ADMIN_KEY,
    now: () => new Date(),
  };
  const module = notificationsModule(config, deps, { retry: FAST_RETRIES, ...options });
  await module.start?.();
  const consumers = [
    ...module.handlerGroups.map((group) =>
      createConsumer({
        group,
        transport,
        store,
        deadLetters,
        catalog: messages,
        source: 'orderflow/notifications',
      }),
    ),
    createConsumer({
      group: {
        group: 'probe',
        handlers: {
          'notifications.CustomerNotified': () => undefined,
          'notifications.VendorNotified': () => undefined,
        },
      },
      transport,
      store,
      deadLetters,
      catalog: messages,
      source: 'orderflow/probe',
    }),
  ];
  for (const consumer of consumers) await consumer.start();
  const server = await createHttpServer({
    logger: pino({ level: 'silent' }),
    metrics: createMetrics({ collectDefaults: false }),
    lifecycle: () => 'running',
    version: 'test',
  });
  module.registerHttp?.(server);
  registerAdminRoutes(server, {
    adminKey: ADMIN_KEY,
    deadLetters,
    redrive: (id) => redriveDeadLetter(id, { deadLetters, transport }),
    store,
  });
  await server.ready();
  return { adapters, module, consumers, http: server, published, deliveries, markers };
}

async function closeSystem(system: System): Promise<void> {
  await system.http.close();
  for (const consumer of system.consumers) await consumer.stop();
  await system.module.stop?.();
  await system.adapters.transport.close();
  await system.adapters.store.close();
}

const ORDER_ITEMS = [
  {
    sku: 'NW-TENT-2P',
    vendorId: 'northwind',
    name: 'Two-person trekking tent',
    quantity: 1,
    unitPrice: 18900,
    lineTotal: 18900,
  },
  {
    sku: 'KC-PRESS-8C',
    vendorId: 'kettle',
    name: 'French press, 8 cups',
    quantity: 2,
    unitPrice: 3450,
    lineTotal: 6900,
  },
];

function orderConfirmed(orderId: string, items = ORDER_ITEMS) {
  return {
    orderId,
    customerId: 'cust-42',
    region: 'EU',
    total: items.reduce((sum, line) => sum + line.lineTotal, 0),
    currency: 'USD',
    items,
  };
}

function shipmentDispatched(orderId: string, vendorId: string, warehouseId: string) {
  return {
    orderId,
    shipmentId: `${orderId}:${vendorId}:${warehouseId}`,
    vendorId,
    warehouseId,
    carrier: 'Sandbox Parcel EU',
    trackingNumber: 'SPEU0123456789AB',
    reservationIds: [`${orderId}:0`],
  };
}

describe('notifications (SQLite store, embedded bus, notifications consumer, local HTTP and SMTP receivers)', () => {
  let dir: string;
  let system: System | undefined;
  let receiver: Receiver;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-notifications-'));
    receiver = await startReceiver();
  });

  afterEach(async () => {
    if (system !== undefined) await closeSystem(system);
    system = undefined;
    await receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function publish<T extends { orderId: string }>(
    type: string,
    data: T,
    id?: string,
  ): Promise<Envelope> {
    const envelope = createEnvelope(
      { type, data, correlationId: data.orderId, ...(id !== undefined ? { id } : {}) },
      { source: 'orderflow/saga' },
    );
    await system!.adapters.store.commit({ messages: [envelope] });
    return envelope;
  }

  async function registerWebhook(vendorId: string, url: string, secret?: string) {
    const response = await system!.http.inject({
      method: 'PUT',
      url: `/v1/admin/vendors/${vendorId}/webhook`,
      headers: AUTH,
      payload: { url, ...(secret !== undefined ? { secret } : {}) },
    });
    return {
      status: response.statusCode,
      body: response.json<{ vendorId: string; url: string; secret?: string }>(),
    };
  }

  /**
   * The positive signal an absence check waits for. Markers go after everything published so far:
   * a confirmation of the order again (its e-mail is sent already: a no-op) on the order's key, and
   * a webhook for a vendor without an endpoint (a no-op) on the key of each of `vendors`; once the
   * notifications group has handled them (its inbox) it has handled whatever came before on those
   * keys, since it takes a key's messages in turn and holds later ones behind a retry. Then a
   * CustomerNotified on the order's key to the probe: once that arrived, so has whatever the group
   * published for the order before. Markers are left out of `deliveries` and `published`.
   */
  async function settled(orderId: string, vendors: readonly string[] = []): Promise<void> {
    const marker = (type: string, data: unknown, partitionKey: string) =>
      createEnvelope({ type, data, partitionKey, correlationId: orderId }, { source: MARKER_SOURCE });
    const handledBy = [
      marker('orders.OrderConfirmed', orderConfirmed(orderId), orderId),
      ...vendors.map((vendorId) =>
        marker(
          'notifications.DeliverWebhook',
          {
            orderId,
            vendorId: 'vendor-without-endpoint',
            notificationId: `${orderId}:marker:${vendorId}`,
            event: 'order.confirmed',
            occurredAt: new Date().toISOString(),
            data: {},
          },
          `${orderId}:${vendorId}`,
        ),
      ),
    ];
    await system!.adapters.store.commit({ messages: handledBy });
    for (const message of handledBy) {
      await expect
        .poll(() => system!.adapters.store.isHandled(NOTIFICATIONS_GROUP, message.id), POLL)
        .toBe(true);
    }
    const toProbe = marker(
      'notifications.CustomerNotified',
      {
        orderId,
        notificationId: `${orderId}:marker`,
        template: 'order_confirmed',
        channel: 'email',
        to: 'marker@orderflow.example',
      },
      orderId,
    );
    await system!.adapters.store.commit({ messages: [toProbe] });
    await expect.poll(() => system!.markers.has(toProbe.id), POLL).toBe(true);
  }

  const streamOf = async (orderId: string) =>
    system!.adapters.store.readStream(notificationStreamId(orderId));
  const vendorNotified = async (orderId: string) =>
    (await streamOf(orderId))
      .filter((e) => e.type === 'VendorNotified')
      .map((e) => e.data as Record<string, unknown>);
  const mailFiles = () =>
    fs.existsSync(path.join(dir, 'mail')) ? fs.readdirSync(path.join(dir, 'mail')).sort() : [];

  it('signs each vendor webhook so that the documented recipe verifies it, one per vendor with its own lines', async () => {
    const verify = await documentedVerify(dir);
    // northwind registers its own endpoint; kettle uses the default one.
    system = await openSystem(dir, { ORDERFLOW_VENDOR_WEBHOOK_URL: `${receiver.url}/default` });
    const registered = await registerWebhook('northwind', `${receiver.url}/northwind`);
    expect(registered.status).toBe(201);
    const secret = registered.body.secret!;
    expect(secret).toMatch(/^whsec_/);

    const orderId = 'order-signed';
    const before = Math.floor(Date.now() / 1000);
    await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(2);

    expect(receiver.requests.map((r) => r.path).sort()).toEqual(['/default', '/northwind']);
    const byPath = new Map(receiver.requests.map((r) => [r.path, r]));
    const northwind = byPath.get('/northwind')!;
    const kettle = byPath.get('/default')!;
    expect(verify(secret, northwind.headers, northwind.body)).toBe(true);
    expect(verify(deriveVendorSecret(ADMIN_KEY, 'kettle'), kettle.headers, kettle.body)).toBe(true);
    // The signature covers the body, the id and the timestamp, and only the right secret verifies.
    expect(verify(secret, northwind.headers, northwind.body.replace('northwind', 'southwind'))).toBe(false);
    expect(verify(secret, { ...northwind.headers, 'webhook-id': `${orderId}:other` }, northwind.body)).toBe(
      false,
    );
    expect(
      verify(secret, { ...northwind.headers, 'webhook-timestamp': String(before - 3600) }, northwind.body),
    ).toBe(false);
    expect(verify(deriveVendorSecret(ADMIN_KEY, 'kettle'), northwind.headers, northwind.body)).toBe(false);

    expect(northwind.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': `${orderId}:order.confirmed:northwind`,
    });
    expect(Number(northwind.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(before);
    expect(JSON.parse(northwind.body)).toEqual({
      type: 'order.confirmed',
      timestamp: expect.any(String),
      data: {
        orderId,
        vendorId: 'northwind',
        region: 'EU',
        currency: 'USD',
        lines: [
          {
            sku: 'NW-TENT-2P',
            name: 'Two-person trekking tent',
            quantity: 1,
            unitPrice: 189,
            lineTotal: 189,
          },
        ],
      },
    });
    expect(JSON.parse(kettle.body).data.lines).toEqual([
      { sku: 'KC-PRESS-8C', name: 'French press, 8 cups', quantity: 2, unitPrice: 34.5, lineTotal: 69 },
    ]);
    expect(await vendorNotified(orderId)).toEqual(
      expect.arrayContaining([
        {
          orderId,
          vendorId: 'northwind',
          notificationId: `${orderId}:order.confirmed:northwind`,
          event: 'order.confirmed',
          url: `${receiver.url}/northwind`,
          status: 200,
          attempts: 1,
        },
        expect.objectContaining({ vendorId: 'kettle', url: `${receiver.url}/default`, attempts: 1 }),
      ]),
    );

    // A dispatched shipment: a webhook to its vendor only.
    await publish('fulfillment.ShipmentDispatched', shipmentDispatched(orderId, 'kettle', 'wh-kettle-eu'));
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(3);
    const shipment = receiver.requests[2]!;
    expect(shipment.path).toBe('/default');
    expect(shipment.headers['webhook-id']).toBe(`${orderId}:shipment.dispatched:kettle:wh-kettle-eu`);
    expect(verify(deriveVendorSecret(ADMIN_KEY, 'kettle'), shipment.headers, shipment.body)).toBe(true);
    expect(JSON.parse(shipment.body).data).toMatchObject({
      trackingNumber: 'SPEU0123456789AB',
      warehouseId: 'wh-kettle-eu',
    });
  });

  it('retries a failing endpoint: fails twice, then 200, is delivered once with attempts 3', async () => {
    system = await openSystem(dir);
    await registerWebhook('northwind', `${receiver.url}/hook`);
    receiver.respond = (_request, index) => (index < 2 ? 500 : 200);
    const orderId = 'order-flaky';
    await publish('orders.OrderConfirmed', orderConfirmed(orderId, [ORDER_ITEMS[0]!]));
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(1);
    await settled(orderId, ['northwind']);
    expect(receiver.requests).toHaveLength(3);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([`${orderId}:order.confirmed:northwind`]),
    );
    expect(await vendorNotified(orderId)).toEqual([
      expect.objectContaining({ vendorId: 'northwind', status: 200, attempts: 3 }),
    ]);
    expect(system.published.filter((m) => m.type === 'notifications.VendorNotified')).toHaveLength(1);
    // The customer's e-mail went once, not once per webhook attempt.
    expect(system.deliveries.get('notifications.DeliverWebhook')).toBe(3);
    expect(system.deliveries.get('orders.OrderConfirmed')).toBe(1);
    expect((await streamOf(orderId)).filter((e) => e.type === 'CustomerNotified')).toHaveLength(1);
  });

  it('counts a timeout as a failed attempt (ORDERFLOW_WEBHOOK_TIMEOUT_MS)', async () => {
    system = await openSystem(dir, { ORDERFLOW_WEBHOOK_TIMEOUT_MS: '150' });
    await registerWebhook('kettle', `${receiver.url}/slow`);
    receiver.respond = (_request, index) => (index === 0 ? 'hang' : 204);
    const orderId = 'order-slow-vendor';
    await publish('orders.OrderConfirmed', orderConfirmed(orderId, [ORDER_ITEMS[1]!]));
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(1);
    expect(await vendorNotified(orderId)).toEqual([expect.objectContaining({ status: 204, attempts: 2 })]);
  });

  it("dead-letters a webhook whose endpoint always fails after the group's attempts, visible and re-drivable over HTTP", async () => {
    system = await openSystem(dir);
    await registerWebhook('northwind', `${receiver.url}/down`);
    receiver.respond = () => 503;
    const orderId = 'order-vendor-down';
    await publish('orders.OrderConfirmed', orderConfirmed(orderId, [ORDER_ITEMS[0]!]));
    await expect.poll(() => system!.adapters.deadLetters.count('parked'), POLL).toBe(1);
    await settled(orderId, ['northwind']);
    expect(receiver.requests).toHaveLength(FAST_RETRIES.maxAttempts);
    expect(await vendorNotified(orderId)).toEqual([]);

    const listed = await system.http.inject({
      method: 'GET',
      url: '/v1/admin/dead-letters?group=notifications',
      headers: AUTH,
    });
    expect(listed.statusCode).toBe(200);
    const [entry] = listed.json<{
      items: { id: string; attempts: number; error: { code: string }; message: Envelope }[];
    }>().items;
    expect(entry).toMatchObject({
      group: 'notifications',
      status: 'parked',
      attempts: FAST_RETRIES.maxAttempts,
      error: { code: 'WEBHOOK_DELIVERY_FAILED', message: expect.stringContaining('answered 503') },
      message: {
        type: 'notifications.DeliverWebhook',
        data: { vendorId: 'northwind', event: 'order.confirmed' },
      },
    });
    // The customer was e-mailed all the same.
    expect((await streamOf(orderId)).map((e) => e.type)).toEqual(['CustomerNotified']);

    // The vendor fixes its endpoint; the operator re-drives.
    receiver.respond = () => 200;
    const redriven = await system.http.inject({
      method: 'POST',
      url: `/v1/admin/dead-letters/${entry!.id}/redrive`,
      headers: AUTH,
    });
    expect(redriven.statusCode).toBe(200);
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(1);
    expect(receiver.requests).toHaveLength(FAST_RETRIES.maxAttempts + 1);
  });

  it('sends no webhook (and records no VendorNotified) to a vendor without an endpoint', async () => {
    system = await openSystem(dir);
    await registerWebhook('kettle', `${receiver.url}/kettle`);
    const orderId = 'order-one-endpoint';
    await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    await expect.poll(() => vendorNotified(orderId), POLL).toHaveLength(1);
    await settled(orderId, ['northwind', 'kettle']);
    expect(receiver.requests.map((r) => r.path)).toEqual(['/kettle']);
    expect((await vendorNotified(orderId)).map((n) => n.vendorId)).toEqual(['kettle']);
    expect(system.deliveries.get('notifications.DeliverWebhook')).toBe(1);
  });

  it('writes one readable .eml file per notification; a redelivered or repeated message writes no second file and records nothing more', async () => {
    system = await openSystem(dir);
    const orderId = 'order-mail';
    const confirmed = await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    await expect
      .poll(() => system!.published.some((m) => m.type === 'notifications.CustomerNotified'), POLL)
      .toBe(true);
    expect(mailFiles()).toEqual([`${orderId}_order_confirmed.eml`]);
    const raw = decodeQuotedPrintable(
      fs.readFileSync(path.join(dir, 'mail', `${orderId}_order_confirmed.eml`), 'utf8'),
    );
    const headers = parseHeaders(raw);
    expect(headers).toMatchObject({
      to: 'cust-42@customers.orderflow.example',
      subject: `Your order ${orderId} is confirmed`,
      'message-id': `<${orderId}_order_confirmed@notifications.orderflow.example>`,
      'x-orderflow-notification-id': `${orderId}:order_confirmed`,
      date: new Date(confirmed.time).toUTCString().replace('GMT', '+0000'),
    });
    expect(headers['content-type']).toContain('multipart/alternative');
    expect(raw).toContain('Total: 258.00 USD');
    expect(raw).toContain('<li>1 × Two-person trekking tent (NW-TENT-2P): 189.00 USD</li>');

    // The same message again (inbox), and another message with the same content (the stream).
    await publish('orders.OrderConfirmed', orderConfirmed(orderId), confirmed.id);
    await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    await expect.poll(() => system!.deliveries.get('orders.OrderConfirmed'), POLL).toBe(3);
    await settled(orderId);
    expect(mailFiles()).toEqual([`${orderId}_order_confirmed.eml`]);
    expect((await streamOf(orderId)).map((e) => e.type)).toEqual(['CustomerNotified']);
    expect(system.published.filter((m) => m.type === 'notifications.CustomerNotified')).toHaveLength(1);

    // Later e-mails of the order: one per parcel, and the outcome.
    await publish(
      'fulfillment.ShipmentDispatched',
      shipmentDispatched(orderId, 'northwind', 'wh-northwind-eu'),
    );
    await publish('orders.OrderDelivered', { orderId, customerId: 'cust-42' });
    await expect.poll(async () => (await streamOf(orderId)).length, POLL).toBe(3);
    expect(mailFiles()).toEqual([
      `${orderId}_order_confirmed.eml`,
      `${orderId}_order_delivered.eml`,
      `${orderId}_shipment_dispatched_northwind_wh-northwind-eu.eml`,
    ]);
    const dispatchedMail = decodeQuotedPrintable(
      fs.readFileSync(
        path.join(dir, 'mail', `${orderId}_shipment_dispatched_northwind_wh-northwind-eu.eml`),
        'utf8',
      ),
    );
    expect(parseHeaders(dispatchedMail).to).toBe('cust-42@customers.orderflow.example');
    expect(dispatchedMail).toContain('Tracking number: SPEU0123456789AB');
    expect(fs.readdirSync(path.join(dir, 'mail')).some((name) => name.endsWith('.tmp'))).toBe(false);

    const notified = (await streamOf(orderId)).map((e) => e.data as { template: string; channel: string });
    expect(notified.map((n) => n.template)).toEqual([
      'order_confirmed',
      'shipment_dispatched',
      'order_delivered',
    ]);
    const [first] = await streamOf(orderId);
    expect(first!.metadata).toMatchObject({
      context: 'notifications',
      correlationId: orderId,
      causationId: confirmed.id,
    });
  });

  it('rewrites the same file when an e-mail is sent again after a crash before its commit', async () => {
    system = await openSystem(dir);
    const orderId = 'order-crash';
    // A rejection whose e-mail was written but whose CustomerNotified never committed: the file is there, the fact is not.
    fs.mkdirSync(path.join(dir, 'mail'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'mail', `${orderId}_order_rejected.eml`),
      'half-written e-mail of a crashed attempt',
    );
    await publish('orders.OrderRejected', {
      orderId,
      customerId: 'cust-7',
      reason: 'out_of_stock',
      detail: 'NW-TENT-2P',
    });
    await expect.poll(async () => (await streamOf(orderId)).length, POLL).toBe(1);
    expect(mailFiles()).toEqual([`${orderId}_order_rejected.eml`]);
    const raw = decodeQuotedPrintable(
      fs.readFileSync(path.join(dir, 'mail', `${orderId}_order_rejected.eml`), 'utf8'),
    );
    expect(parseHeaders(raw)).toMatchObject({ to: 'cust-7@customers.orderflow.example' });
    expect(raw).toContain('some items are out of stock');
  });

  it('keeps a shipment e-mail that overtook its order confirmation, and sends it right after the confirmation', async () => {
    // Distributed mode: the confirmation (orders stream) and the dispatch (fulfillment stream) travel
    // through different streams, so the dispatch can come first.
    system = await openSystem(dir);
    const orderId = 'order-overtaken';
    await publish('fulfillment.ShipmentDispatched', shipmentDispatched(orderId, 'kettle', 'wh-kettle-eu'));
    await expect
      .poll(async () => (await streamOf(orderId)).some((e) => e.type === 'ShipmentEmailDeferred'), POLL)
      .toBe(true);
    expect(mailFiles()).toEqual([]);
    await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    // Recorded once the e-mail is written (the file is renamed into place before the commit).
    await expect
      .poll(async () => (await streamOf(orderId)).filter((e) => e.type === 'CustomerNotified').length, POLL)
      .toBe(2);
    expect(
      mailFiles()
        .filter((file) => file.startsWith(orderId))
        .sort(),
    ).toEqual([`${orderId}_order_confirmed.eml`, `${orderId}_shipment_dispatched_kettle_wh-kettle-eu.eml`]);
    expect(await system.adapters.deadLetters.count('parked')).toBe(0);
    // A second delivery of the confirmation sends nothing again.
    await publish('orders.OrderConfirmed', orderConfirmed(orderId));
    await settled(orderId);
    expect(mailFiles().filter((file) => file.startsWith(orderId))).toHaveLength(2);
    expect((await streamOf(orderId)).filter((e) => e.type === 'CustomerNotified')).toHaveLength(2);
  });

  it('sends e-mails through SMTP when ORDERFLOW_SMTP_URL is set, with the Message-ID of the notification', async () => {
    const smtp = await startSmtpServer();
    try {
      system = await openSystem(dir, { ORDERFLOW_SMTP_URL: smtp.url });
      const orderId = 'order-smtp';
      await publish('orders.OrderCancelled', {
        orderId,
        customerId: 'cust-9',
        reason: 'customer_request',
        detail: '',
      });
      await expect.poll(async () => (await streamOf(orderId)).length, POLL).toBe(1);
      expect(smtp.messages).toHaveLength(1);
      expect(parseHeaders(smtp.messages[0]!)).toMatchObject({
        to: 'cust-9@customers.orderflow.example',
        'message-id': `<${orderId}_order_cancelled@notifications.orderflow.example>`,
      });
      expect(mailFiles()).toEqual([]);
    } finally {
      if (system !== undefined) await closeSystem(system);
      system = undefined;
      await smtp.close();
    }
  });

  describe('PUT|GET|DELETE /v1/admin/vendors/{vendorId}/webhook', () => {
    it('registers, shows without the secret, replaces and removes an endpoint, behind the admin key', async () => {
      system = await openSystem(
        dir,
        {},
        { generateSecret: () => `whsec_${Buffer.alloc(32, 1).toString('base64')}` },
      );
      const url = '/v1/admin/vendors/northwind/webhook';
      expect((await system.http.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect(
        (
          await system.http.inject({
            method: 'GET',
            url,
            headers: { authorization: 'Bearer wrong-key-0123456789' },
          })
        ).statusCode,
      ).toBe(403);
      expect((await system.http.inject({ method: 'GET', url, headers: AUTH })).json()).toMatchObject({
        status: 404,
        code: 'VENDOR_WEBHOOK_NOT_FOUND',
      });

      const created = await registerWebhook('northwind', 'https://northwind.example.com/hooks');
      expect(created).toEqual({
        status: 201,
        body: {
          vendorId: 'northwind',
          url: 'https://northwind.example.com/hooks',
          secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
        },
      });
      const shown = await system.http.inject({ method: 'GET', url, headers: AUTH });
      expect(shown.json()).toEqual({
        vendorId: 'northwind',
        url: 'https://northwind.example.com/hooks',
        source: 'vendor',
      });

      const ownSecret = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
      const replaced = await registerWebhook('northwind', 'https://northwind.example.com/v2', ownSecret);
      expect(replaced).toEqual({
        status: 200,
        body: { vendorId: 'northwind', url: 'https://northwind.example.com/v2' },
      });
      const events = await system.adapters.store.readStream('vendor-webhook-northwind');
      expect(events.map((e) => e.type)).toEqual(['VendorWebhookRegistered', 'VendorWebhookRegistered']);
      expect(events[1]!.data).toMatchObject({ url: 'https://northwind.example.com/v2', secret: ownSecret });

      expect((await system.http.inject({ method: 'DELETE', url, headers: AUTH })).statusCode).toBe(204);
      expect((await system.http.inject({ method: 'GET', url, headers: AUTH })).statusCode).toBe(404);
      expect((await system.http.inject({ method: 'DELETE', url, headers: AUTH })).json()).toMatchObject({
        code: 'VENDOR_WEBHOOK_NOT_FOUND',
      });
    });

    it('refuses an unknown vendor, a URL that is not http(s) and a malformed secret, changing nothing', async () => {
      system = await openSystem(dir);
      const unknown = await registerWebhook('nobody', 'https://x.example');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: 'VENDOR_NOT_FOUND' });
      const ftp = await registerWebhook('kettle', 'ftp://kettle.example/hooks');
      expect(ftp.status).toBe(422);
      expect(ftp.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ pointer: '/url' }] });
      const badSecret = await registerWebhook('kettle', 'https://kettle.example/hooks', 'hunter2');
      expect(badSecret.status).toBe(422);
      expect(badSecret.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ pointer: '/secret' }] });
      expect(await system.adapters.store.readStream('vendor-webhook-kettle')).toEqual([]);
    });

    it('shows the default endpoint for a vendor without its own', async () => {
      system = await openSystem(dir, { ORDERFLOW_VENDOR_WEBHOOK_URL: 'https://hooks.example.com/all' });
      const shown = await system.http.inject({
        method: 'GET',
        url: '/v1/admin/vendors/kettle/webhook',
        headers: AUTH,
      });
      expect(shown.json()).toEqual({
        vendorId: 'kettle',
        url: 'https://hooks.example.com/all',
        source: 'default',
      });
    });
  });
});
