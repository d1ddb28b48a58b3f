import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModuleDependencies } from '../../messaging/index.ts';
import type { SimulatedCarrierOptions } from '../../simulators/carrier-simulator.ts';
import { fulfillmentModule } from '../../app/context-modules.ts';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../app/embedded-adapters.ts';
import { loadConfig } from '../../config/load-config.ts';
import {
  createConsumer,
  createEnvelope,
  createMessageScheduler,
  MessageCatalog,
  type Consumer,
  type Envelope,
  type MessageScheduler,
  type Transport,
} from '../../messaging/index.ts';
import { DEMO_MARKETPLACE, seedCatalog } from '../catalog/index.ts';
import {
  AllocateShipments,
  CancelShipments,
  FULFILLMENT_MESSAGES,
  fulfillmentStreamId,
  type AllocateShipmentsData,
  type ReservedLine,
} from './index.ts';

/** The embedded bus delivers within milliseconds: look often, give up after 10 s. */
const POLL = { timeout: 10_000, interval: 5 };

const PUBLISHED = [
  'fulfillment.ShipmentAllocated',
  'fulfillment.AllocationFailed',
  'fulfillment.ShipmentDispatched',
  'fulfillment.ShipmentDelivered',
  'fulfillment.ShipmentsCancelled',
  'fulfillment.ShipmentCancellationFailed',
];

/** The real embedded system on one SQLite file: store, bus, durable timers, the fulfillment consumer, and a probe group. */
interface System {
  adapters: EmbeddedAdapters;
  scheduler: MessageScheduler;
  consumers: Consumer[];
  /** Every delivery of a published fulfillment event to the probe group (redeliveries included), with its arrival time. */
  received: { message: Envelope; at: number }[];
  /** Attempts the fulfillment group made, by message type. */
  attempts: Map<string, number>;
}

async function openSystem(
  file: string,
  carrierDelayMs: number,
  env: Record<string, string> = {},
  options: Pick<SimulatedCarrierOptions, 'random'> = {},
): Promise<System> {
  const adapters = createEmbeddedAdapters({ file, synchronous: 'NORMAL', partitions: 4 });
  const { store, deadLetters } = adapters;
  const received: System['received'] = [];
  const attempts = new Map<string, number>();
  // Sees every delivery, before the inbox drops a duplicate: a re-sent reply shows up here.
  const transport: Transport = {
    ...adapters.transport,
    partitions: adapters.transport.partitions,
    subscribe: (subscribeOptions) =>
      adapters.transport.subscribe({
        ...subscribeOptions,
        onDelivery: (delivery) => {
          if (subscribeOptions.group === 'probe')
            received.push({ message: delivery.message, at: Date.now() });
          if (subscribeOptions.group === 'fulfillment') {
            attempts.set(delivery.message.type, (attempts.get(delivery.message.type) ?? 0) + 1);
          }
          subscribeOptions.onDelivery(delivery);
        },
      }),
  };
  await transport.start();
  const messages = new MessageCatalog().register(...FULFILLMENT_MESSAGES);
  const config = loadConfig({
    ORDERFLOW_DATA_DIR: path.dirname(file),
    ORDERFLOW_CARRIER_DELAY_MS: String(carrierDelayMs),
    ...env,
  });
  await seedCatalog(store, DEMO_MARKETPLACE.products);
  const deps: ModuleDependencies = {
    store,
    messages,
    logger: pino({ level: 'silent' }),
    adminKey: 'test-admin-key-0123456789abcdef',
    now: () => new Date(),
  };
  const module = fulfillmentModule(config, deps, options);
  const consumers = [
    ...module.handlerGroups.map((group) =>
      createConsumer({
        group,
        transport,
        store,
        deadLetters,
        catalog: messages,
        source: 'orderflow/fulfillment',
        retry: { initialDelayMs: 5, maxDelayMs: 20, jitter: 0 },
      }),
    ),
    createConsumer({
      group: {
        group: 'probe',
        handlers: Object.fromEntries(PUBLISHED.map((type) => [type, () => undefined])),
      },
      transport,
      store,
      deadLetters,
      catalog: messages,
      source: 'orderflow/probe',
    }),
  ];
  for (const consumer of consumers) await consumer.start();
  const scheduler = createMessageScheduler({ store });
  await scheduler.start();
  return { adapters, scheduler, consumers, received, attempts };
}

async function closeSystem(system: System): Promise<void> {
  for (const consumer of system.consumers) await consumer.stop();
  await system.scheduler.stop();
  await system.adapters.transport.close();
  await system.adapters.store.close();
}

function reservedLine(
  orderId: string,
  index: number,
  vendorId: string,
  region: ReservedLine['warehouseRegion'],
): ReservedLine {
  return {
    reservationId: `${orderId}:${index}`,
    sku: `SKU-${index}`,
    vendorId,
    warehouseId: `wh-${vendorId}-${region.toLowerCase()}`,
    warehouseRegion: region,
    quantity: 1,
  };
}

/** A two-vendor order: northwind ships from EU, kettle from EU. */
function twoVendorOrder(orderId: string): AllocateShipmentsData {
  return {
    orderId,
    region: 'EU',
    lines: [reservedLine(orderId, 0, 'northwind', 'EU'), reservedLine(orderId, 1, 'kettle', 'EU')],
  };
}

describe('fulfillment (SQLite store, embedded bus, fulfillment consumer, durable timers)', () => {
  let dir: string;
  let file: string;
  let system: System | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-fulfillment-'));
    file = path.join(dir, 'orderflow.db');
  });

  afterEach(async () => {
    if (system !== undefined) await closeSystem(system);
    system = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function send(type: string, data: { orderId: string }, id?: string): Promise<void> {
    const envelope = createEnvelope(
      { type, data, correlationId: data.orderId, ...(id !== undefined ? { id } : {}) },
      { source: 'orderflow/saga' },
    );
    await system!.adapters.store.commit({ messages: [envelope] });
  }

  const receivedOf = (type: string, orderId: string) =>
    system!.received.filter(
      (r) =>
        r.message.type === `fulfillment.${type}` &&
        (r.message.data as { orderId: string }).orderId === orderId,
    );

  /**
   * The marker of an absence check: CancelShipments once more, answered by re-sending
   * ShipmentsCancelled (nothing recorded). The consumer handles the order's messages in turn and the
   * probe gets its replies in order, so once the re-sent reply is there, whatever the earlier ones
   * published has arrived too.
   */
  async function cancelledAgain(orderId: string): Promise<void> {
    const before = receivedOf('ShipmentsCancelled', orderId).length;
    await send(CancelShipments.type, { orderId });
    await expect.poll(() => receivedOf('ShipmentsCancelled', orderId), POLL).toHaveLength(before + 1);
  }

  const streamTypes = async (orderId: string) =>
    (await system!.adapters.store.readStream(fulfillmentStreamId(orderId))).map((e) => e.type);

  it('splits a two-vendor order into two shipments, then the carrier dispatches and delivers each after its delay', async () => {
    system = await openSystem(file, 50);
    const orderId = 'order-split';
    const sentAt = Date.now();
    await send(AllocateShipments.type, twoVendorOrder(orderId));

    await expect.poll(() => receivedOf('ShipmentDelivered', orderId), POLL).toHaveLength(2);
    const allocated = receivedOf('ShipmentAllocated', orderId);
    expect(allocated.map((r) => r.message.data)).toEqual([
      expect.objectContaining({ shipmentId: `${orderId}:northwind:wh-northwind-eu`, shipmentCount: 2 }),
      expect.objectContaining({ shipmentId: `${orderId}:kettle:wh-kettle-eu`, shipmentCount: 2 }),
    ]);
    const dispatched = receivedOf('ShipmentDispatched', orderId);
    expect(dispatched).toHaveLength(2);
    expect(dispatched.map((r) => r.message.data)).toEqual([
      expect.objectContaining({
        shipmentId: `${orderId}:northwind:wh-northwind-eu`,
        vendorId: 'northwind',
        carrier: 'Sandbox Parcel EU',
        trackingNumber: expect.stringMatching(/^SPEU[0-9A-F]{12}$/),
        reservationIds: [`${orderId}:0`],
      }),
      expect.objectContaining({
        shipmentId: `${orderId}:kettle:wh-kettle-eu`,
        reservationIds: [`${orderId}:1`],
      }),
    ]);
    // The envelopes: deterministic ids, partitioned and correlated by the order.
    for (const { message } of [...allocated, ...dispatched]) {
      expect(message).toMatchObject({
        correlationid: orderId,
        partitionkey: orderId,
        source: 'orderflow/fulfillment',
      });
      expect(message.id).toBe(
        `${(message.data as { shipmentId: string }).shipmentId}:${message.type.split('.')[1]}`,
      );
    }
    // The carrier's delay: the dispatch comes after it, the delivery after another.
    const delivered = receivedOf('ShipmentDelivered', orderId);
    for (const r of dispatched) expect(r.at - sentAt).toBeGreaterThanOrEqual(45);
    for (const r of delivered) expect(r.at - sentAt).toBeGreaterThanOrEqual(95);
    expect(delivered.map((r) => (r.message.data as { trackingNumber: string }).trackingNumber)).toEqual(
      dispatched.map((r) => (r.message.data as { trackingNumber: string }).trackingNumber),
    );

    const events = await system.adapters.store.readStream(fulfillmentStreamId(orderId));
    expect(events.map((e) => e.type)).toEqual([
      'ShipmentAllocated',
      'ShipmentAllocated',
      'ShipmentDispatched',
      'ShipmentDispatched',
      'ShipmentDelivered',
      'ShipmentDelivered',
    ]);
    expect(events[0]!.metadata).toMatchObject({ context: 'fulfillment', correlationId: orderId });
  });

  it('answers a repeated AllocateShipments with the same replies and records nothing more', async () => {
    system = await openSystem(file, 10_000);
    const orderId = 'order-repeat';
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentAllocated', orderId), POLL).toHaveLength(2);
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentAllocated', orderId), POLL).toHaveLength(4);
    const ids = receivedOf('ShipmentAllocated', orderId).map((r) => r.message.id);
    expect(ids.slice(2)).toEqual(ids.slice(0, 2));
    expect(await streamTypes(orderId)).toEqual(['ShipmentAllocated', 'ShipmentAllocated']);
  });

  it('fires a dispatch timer that fell due while the store was closed, after it reopens', async () => {
    system = await openSystem(file, 400);
    const orderId = 'order-restart';
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentAllocated', orderId), POLL).toHaveLength(2);
    expect(await streamTypes(orderId)).toEqual(['ShipmentAllocated', 'ShipmentAllocated']);
    await closeSystem(system);
    system = undefined;
    // Nothing was dispatched before the close; the timers fall due while nothing runs (time must pass).
    await delay(500);

    system = await openSystem(file, 400);
    await expect.poll(() => receivedOf('ShipmentDispatched', orderId), POLL).toHaveLength(2);
    await expect.poll(() => receivedOf('ShipmentDelivered', orderId), POLL).toHaveLength(2);
    expect(await streamTypes(orderId)).toEqual([
      'ShipmentAllocated',
      'ShipmentAllocated',
      'ShipmentDispatched',
      'ShipmentDispatched',
      'ShipmentDelivered',
      'ShipmentDelivered',
    ]);
  });

  it('cancels before dispatch: ShipmentsCancelled, and the dispatch timers do nothing', async () => {
    system = await openSystem(file, 150);
    const orderId = 'order-cancel-early';
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentAllocated', orderId), POLL).toHaveLength(2);
    await send(CancelShipments.type, { orderId });
    await expect.poll(() => receivedOf('ShipmentsCancelled', orderId), POLL).toHaveLength(1);
    expect(receivedOf('ShipmentsCancelled', orderId)[0]!.message.data).toEqual({
      orderId,
      shipmentIds: [`${orderId}:northwind:wh-northwind-eu`, `${orderId}:kettle:wh-kettle-eu`],
    });
    // The timers fire (the consumer handles them) and change nothing.
    await expect.poll(() => system!.attempts.get('fulfillment.DispatchShipment'), POLL).toBe(2);
    await cancelledAgain(orderId);
    expect(receivedOf('ShipmentDispatched', orderId)).toHaveLength(0);
    expect(await streamTypes(orderId)).toEqual([
      'ShipmentAllocated',
      'ShipmentAllocated',
      'ShipmentsCancelled',
    ]);
  });

  it('cancels an order not allocated yet with an empty list; a late AllocateShipments allocates nothing', async () => {
    system = await openSystem(file, 0);
    const orderId = 'order-cancel-first';
    await send(CancelShipments.type, { orderId });
    await expect.poll(() => receivedOf('ShipmentsCancelled', orderId), POLL).toHaveLength(1);
    expect(receivedOf('ShipmentsCancelled', orderId)[0]!.message.data).toEqual({ orderId, shipmentIds: [] });
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('AllocationFailed', orderId), POLL).toHaveLength(1);
    expect(receivedOf('AllocationFailed', orderId)[0]!.message.data).toEqual({
      orderId,
      reason: 'cancelled',
    });
    await cancelledAgain(orderId);
    expect(receivedOf('ShipmentAllocated', orderId)).toHaveLength(0);
    expect(await streamTypes(orderId)).toEqual(['ShipmentsCancelled', 'AllocationFailed']);
  });

  it('refuses a cancellation after dispatch: ShipmentCancellationFailed, nothing cancelled', async () => {
    system = await openSystem(file, 0);
    const orderId = 'order-cancel-late';
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentDispatched', orderId), POLL).toHaveLength(2);
    await send(CancelShipments.type, { orderId });
    await expect.poll(() => receivedOf('ShipmentCancellationFailed', orderId), POLL).toHaveLength(1);
    expect(receivedOf('ShipmentCancellationFailed', orderId)[0]!.message.data).toEqual({
      orderId,
      reason: 'already_dispatched',
      dispatchedShipmentIds: [`${orderId}:northwind:wh-northwind-eu`, `${orderId}:kettle:wh-kettle-eu`],
    });
    await expect.poll(() => receivedOf('ShipmentDelivered', orderId), POLL).toHaveLength(2);
    expect(receivedOf('ShipmentsCancelled', orderId)).toHaveLength(0);
    expect(await streamTypes(orderId)).not.toContain('ShipmentsCancelled');
  });

  it('retries a pickup the carrier refused (ORDERFLOW_CARRIER_FAILURE_RATE) and dispatches it once', async () => {
    // The first two draws fail, then every pickup succeeds.
    const draws = [0, 0];
    system = await openSystem(
      file,
      0,
      { ORDERFLOW_CARRIER_FAILURE_RATE: '0.5' },
      { random: () => draws.shift() ?? 0.9 },
    );
    const orderId = 'order-flaky-carrier';
    await send(AllocateShipments.type, twoVendorOrder(orderId));
    await expect.poll(() => receivedOf('ShipmentDelivered', orderId), POLL).toHaveLength(2);
    expect(system.attempts.get('fulfillment.DispatchShipment')).toBe(4);
    expect(receivedOf('ShipmentDispatched', orderId)).toHaveLength(2);
    expect((await streamTypes(orderId)).filter((type) => type === 'ShipmentDispatched')).toHaveLength(2);
    expect(await system.adapters.deadLetters.count()).toBe(0);
  });
});
