import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../app/embedded-adapters.ts';
import { createAggregateLoader, type StoredEvent } from '../../event-store/index.ts';
import { createHttpServer, createMetrics } from '../../http/index.ts';
import {
  createConsumer,
  createEnvelope,
  createMessageScheduler,
  MessageCatalog,
  type Consumer,
  type Envelope,
  type MessageScheduler,
  type TransportSubscription,
} from '../../messaging/index.ts';
import { catalogFromEvents, type DemoStock, type DemoWarehouse } from '../catalog/index.ts';
import {
  CommitStock,
  ConfirmReservation,
  INVENTORY_MESSAGES,
  ReleaseStock,
  ReserveStock,
  StockCommitted,
  StockLevelChanged,
  StockReleased,
  StockReservationFailed,
  StockReserved,
  ReservationConfirmed,
  type StockLevelChangedData,
  type StockReleasedData,
  type StockReservedData,
} from './messages.ts';
import {
  applyToWarehouses,
  availableIn,
  evolveStock,
  initialStockState,
  stockStreamId,
  type StockEvent,
  type StockState,
  type WarehouseStock,
} from './domain/stock.ts';
import { INVENTORY_GROUP, inventoryHandlers } from './handlers.ts';
import { registerInventoryHttp } from './http.ts';
import { seedStock } from './seed-stock.ts';

// The inventory's handlers on the real SQLite store, embedded bus, consumer and durable timers.

const WAREHOUSES: DemoWarehouse[] = [
  { warehouseId: 'wh-v-na', vendorId: 'v', region: 'NA', name: 'V NA' },
  { warehouseId: 'wh-v-eu', vendorId: 'v', region: 'EU', name: 'V EU' },
  { warehouseId: 'wh-w-apac', vendorId: 'w', region: 'APAC', name: 'W APAC' },
];
const STOCK: DemoStock[] = [
  { sku: 'HOT', warehouseId: 'wh-v-na', onHand: 30 },
  { sku: 'HOT', warehouseId: 'wh-v-eu', onHand: 20 },
  { sku: 'COLD-1', warehouseId: 'wh-v-na', onHand: 1000 },
  { sku: 'COLD-1', warehouseId: 'wh-v-eu', onHand: 1000 },
  { sku: 'COLD-2', warehouseId: 'wh-w-apac', onHand: 1000 },
];
const REPLY_TYPES = [
  StockReserved.type,
  StockReservationFailed.type,
  ReservationConfirmed.type,
  StockReleased.type,
  StockCommitted.type,
  StockLevelChanged.type,
];
const REGIONS = ['NA', 'EU', 'APAC'] as const;
/** The embedded bus delivers within milliseconds: look often, give up after 10 s. */
const POLL = { timeout: 10_000, interval: 5 };
const LONG_TTL = 600_000;

interface System {
  adapters: EmbeddedAdapters;
  consumers: Consumer[];
  scheduler: MessageScheduler;
  observer: TransportSubscription;
  /** Every reply and StockLevelChanged the inventory sent, as delivered (re-sent replies included). */
  seen: Envelope[];
}

describe('inventory handlers (SQLite store, embedded bus, consumer, durable timers)', () => {
  let dir: string;
  let file: string;
  let system: System | undefined;
  const catalog = new MessageCatalog().register(...INVENTORY_MESSAGES);

  async function open(copies = 1): Promise<System> {
    const adapters = createEmbeddedAdapters({ file, synchronous: 'FULL', partitions: 8 });
    await adapters.transport.start();
    await seedStock({
      store: adapters.store,
      marketplace: { warehouses: WAREHOUSES, stock: STOCK },
      messages: catalog,
    });
    const seen: Envelope[] = [];
    const observer = await adapters.transport.subscribe({
      group: 'observer',
      types: REPLY_TYPES,
      onDelivery: (delivery) => {
        seen.push(delivery.message);
        delivery.ack();
      },
    });
    // Several copies of the group are several processes: each has its own loader (and cache).
    const consumers = Array.from({ length: copies }, () =>
      createConsumer({
        group: inventoryHandlers({
          loader: createAggregateLoader<StockState>({
            store: adapters.store,
            initial: initialStockState,
            evolve: evolveStock,
          }),
        }),
        transport: adapters.transport,
        store: adapters.store,
        deadLetters: adapters.deadLetters,
        catalog,
        source: 'orderflow/inventory',
      }),
    );
    for (const consumer of consumers) await consumer.start();
    const scheduler = createMessageScheduler({ store: adapters.store });
    await scheduler.start();
    return { adapters, consumers, scheduler, observer, seen };
  }

  async function close(current: System): Promise<void> {
    await current.scheduler.stop();
    for (const consumer of current.consumers) await consumer.stop();
    await current.observer.stop();
    await current.adapters.transport.close();
    await current.adapters.store.close();
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-inventory-'));
    file = path.join(dir, 'orderflow.db');
  });

  afterEach(async () => {
    if (system !== undefined) await close(system);
    system = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function command<T extends { orderId: string; sku: string }>(type: string, data: T): Envelope<T> {
    return createEnvelope(
      { type, data, partitionKey: data.sku, correlationId: data.orderId },
      { source: 'orderflow/saga' },
    );
  }

  const reserve = (
    orderId: string,
    sku: string,
    quantity: number,
    region: (typeof REGIONS)[number],
    ttlMs = LONG_TTL,
  ) => command(ReserveStock.type, { orderId, reservationId: `${orderId}:0`, sku, quantity, region, ttlMs });
  const ref = (orderId: string, sku: string) => ({ orderId, reservationId: `${orderId}:0`, sku });

  async function send(...messages: Envelope[]): Promise<void> {
    catalog.validate(messages[0]!.type, messages[0]!.data);
    await system!.adapters.store.commit({ messages });
  }

  const repliesOf = (type: string) => system!.seen.filter((m) => m.type === type);

  /**
   * The marker of an absence check: one more unit of `sku` reserved for `orderId`. The inventory
   * handles a SKU's commands in turn and its replies reach the observer in order (partitioned by
   * order), so once this reply is there, every reply to the SKU's earlier commands for the order is too.
   */
  async function markerReserved(orderId: string, sku: string): Promise<void> {
    const reservationId = `${orderId}:marker`;
    await send(
      command(ReserveStock.type, { orderId, reservationId, sku, quantity: 1, region: 'NA', ttlMs: LONG_TTL }),
    );
    await expect
      .poll(
        () =>
          repliesOf(StockReserved.type).some(
            (m) => (m.data as StockReservedData).reservationId === reservationId,
          ),
        POLL,
      )
      .toBe(true);
  }

  async function stockOf(sku: string): Promise<{ state: StockState; events: StoredEvent[] }> {
    const events = await system!.adapters.store.readStream(stockStreamId(sku));
    let state = initialStockState();
    for (const event of events) state = evolveStock(state, event);
    return { state, events };
  }

  function liveReservedByWarehouse(state: StockState): Map<string, number> {
    const live = new Map<string, number>();
    for (const record of state.reservations.recordsAt(state.version)) {
      if (record.status === 'held' || record.status === 'confirmed') {
        live.set(record.warehouseId, (live.get(record.warehouseId) ?? 0) + record.quantity);
      }
    }
    return live;
  }

  it('seeds stock once: a restart writes nothing', async () => {
    system = await open();
    const { state } = await stockOf('HOT');
    expect(state.warehouses.map((w) => [w.warehouseId, w.onHand, w.reserved])).toEqual([
      ['wh-v-na', 30, 0],
      ['wh-v-eu', 20, 0],
    ]);
    await expect.poll(() => repliesOf(StockLevelChanged.type), POLL).toHaveLength(STOCK.length);
    const head = await system.adapters.store.headPosition();
    expect(
      await seedStock({
        store: system.adapters.store,
        marketplace: { warehouses: WAREHOUSES, stock: STOCK },
        messages: catalog,
      }),
    ).toBe(0);
    await close(system);
    system = await open();
    expect(await system.adapters.store.headPosition()).toBe(head);
  });

  it('NO OVERSELL: 500 concurrent reservations of one SKU with 50 units, mixed with other SKUs, reserve exactly 50', async () => {
    system = await open(2);
    const hot = Array.from({ length: 500 }, (_, i) => reserve(`hot-${i}`, 'HOT', 1, REGIONS[i % 3]!));
    const cold = Array.from({ length: 200 }, (_, i) =>
      reserve(`cold-${i}`, i % 2 === 0 ? 'COLD-1' : 'COLD-2', 1 + (i % 3), REGIONS[i % 3]!),
    );
    const mixed: Envelope[] = [];
    for (let i = 0; i < hot.length; i++) {
      mixed.push(hot[i]!);
      if (i < cold.length) mixed.push(cold[i]!);
    }
    // Many small concurrent publishers, as many API requests and saga steps would be.
    await Promise.all(Array.from({ length: 70 }, (_, p) => send(...mixed.slice(p * 10, p * 10 + 10))));
    await expect
      .poll(() => repliesOf(StockReserved.type).length + repliesOf(StockReservationFailed.type).length, {
        timeout: 60_000,
        interval: 5,
      })
      .toBe(700);

    const hotReserved = repliesOf(StockReserved.type).filter(
      (m) => (m.data as StockReservedData).sku === 'HOT',
    );
    const hotFailed = repliesOf(StockReservationFailed.type).filter(
      (m) => (m.data as { sku: string }).sku === 'HOT',
    );
    expect(hotReserved.reduce((sum, m) => sum + (m.data as StockReservedData).quantity, 0)).toBe(50);
    expect(hotReserved).toHaveLength(50);
    expect(hotFailed).toHaveLength(450);
    expect(new Set(hotReserved.map((m) => m.id)).size).toBe(50);
    // Replies go to the saga partitioned by order id.
    for (const reply of [...hotReserved, ...hotFailed]) {
      expect(reply.partitionkey).toBe((reply.data as { orderId: string }).orderId);
    }
    // Every cold reservation succeeded (plenty of stock).
    expect(repliesOf(StockReserved.type).length - 50).toBe(200);

    // Available never went below zero: replay the stream, version by version.
    const { state, events } = await stockOf('HOT');
    let warehouses: readonly WarehouseStock[] = [];
    for (const event of events) {
      warehouses = applyToWarehouses(warehouses, event as unknown as StockEvent);
      for (const warehouse of warehouses) expect(availableIn(warehouse)).toBeGreaterThanOrEqual(0);
    }
    expect(events.filter((e) => e.type === 'StockReserved')).toHaveLength(50);
    expect(events.filter((e) => e.type === 'StockReservationFailed')).toHaveLength(450);
    expect(state.warehouses.reduce((sum, w) => sum + w.reserved, 0)).toBe(50);
    for (const warehouse of state.warehouses) expect(availableIn(warehouse)).toBe(0);
    const live = liveReservedByWarehouse(state);
    for (const warehouse of state.warehouses)
      expect(warehouse.reserved).toBe(live.get(warehouse.warehouseId) ?? 0);
    for (const level of repliesOf(StockLevelChanged.type)) {
      expect((level.data as StockLevelChangedData).available).toBeGreaterThanOrEqual(0);
      expect(level.partitionkey).toBe((level.data as StockLevelChangedData).sku);
    }
    // Each cold SKU's counters match its reservations too.
    for (const sku of ['COLD-1', 'COLD-2']) {
      const cold = (await stockOf(sku)).state;
      const coldLive = liveReservedByWarehouse(cold);
      for (const warehouse of cold.warehouses)
        expect(warehouse.reserved).toBe(coldLive.get(warehouse.warehouseId) ?? 0);
    }
    expect(await system.adapters.deadLetters.count()).toBe(0);
  });

  it('a reservation with a short time-to-live expires by itself and gives its units back (durable timer)', async () => {
    system = await open();
    await send(reserve('ttl-1', 'HOT', 7, 'EU', 200));
    await expect.poll(() => repliesOf(StockReserved.type), POLL).toHaveLength(1);
    const { expiresAt } = repliesOf(StockReserved.type)[0]!.data as StockReservedData;
    expect((await stockOf('HOT')).state.warehouses.find((w) => w.warehouseId === 'wh-v-eu')!.reserved).toBe(
      7,
    );

    await expect.poll(() => repliesOf(StockReleased.type), { timeout: 5_000, interval: 5 }).toHaveLength(1);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    const released = repliesOf(StockReleased.type)[0]!;
    expect(released.id).toBe('ttl-1:0:StockReleased');
    expect(released.data).toEqual({
      orderId: 'ttl-1',
      reservationId: 'ttl-1:0',
      sku: 'HOT',
      warehouseId: 'wh-v-eu',
      quantity: 7,
      reason: 'expired',
    });
    const { state, events } = await stockOf('HOT');
    expect(state.warehouses.find((w) => w.warehouseId === 'wh-v-eu')).toMatchObject({
      onHand: 20,
      reserved: 0,
    });
    expect(events.filter((e) => e.type === 'StockReleased')).toHaveLength(1);

    // Confirming afterwards tells the saga the units are gone (the same reply again), and records nothing.
    await send(command(ConfirmReservation.type, ref('ttl-1', 'HOT')));
    await expect.poll(() => repliesOf(StockReleased.type), POLL).toHaveLength(2);
    expect(repliesOf(StockReleased.type)[1]).toMatchObject({ id: released.id, data: released.data });
    expect(repliesOf(ReservationConfirmed.type)).toHaveLength(0);
    expect((await stockOf('HOT')).events).toHaveLength(events.length);
  });

  it('an expiry timer survives a store close and reopen before it fires', async () => {
    system = await open();
    await send(reserve('ttl-2', 'HOT', 3, 'NA', 1_500));
    await expect.poll(() => repliesOf(StockReserved.type), POLL).toHaveLength(1);
    const { expiresAt } = repliesOf(StockReserved.type)[0]!.data as StockReservedData;
    await close(system);
    system = undefined;
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));

    system = await open();
    await expect
      .poll(
        () =>
          repliesOf(StockReleased.type).some(
            (m) => (m.data as StockReleasedData).reservationId === 'ttl-2:0',
          ),
        POLL,
      )
      .toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    const { state, events } = await stockOf('HOT');
    expect(state.warehouses.find((w) => w.warehouseId === 'wh-v-na')).toMatchObject({
      onHand: 30,
      reserved: 0,
    });
    expect(events.filter((e) => e.type === 'StockReleased')).toMatchObject([
      { data: { reason: 'expired', quantity: 3 } },
    ]);
  });

  it('ReleaseStock twice: one StockReleased event, two replies with the same id', async () => {
    system = await open();
    await send(reserve('rel-1', 'COLD-1', 4, 'EU'));
    await expect.poll(() => repliesOf(StockReserved.type), POLL).toHaveLength(1);
    await send(command(ReleaseStock.type, { ...ref('rel-1', 'COLD-1'), reason: 'cancelled' }));
    await send(command(ReleaseStock.type, { ...ref('rel-1', 'COLD-1'), reason: 'cancelled' }));
    await expect.poll(() => repliesOf(StockReleased.type), POLL).toHaveLength(2);
    const replies = repliesOf(StockReleased.type);
    expect(replies).toHaveLength(2);
    expect(replies[0]!.id).toBe('rel-1:0:StockReleased');
    expect(replies[1]!.id).toBe(replies[0]!.id);
    expect(replies[1]!.data).toEqual(replies[0]!.data);
    expect(replies[0]!.data).toMatchObject({ warehouseId: 'wh-v-eu', quantity: 4, reason: 'cancelled' });
    const { state, events } = await stockOf('COLD-1');
    expect(events.filter((e) => e.type === 'StockReleased')).toHaveLength(1);
    expect(state.warehouses.find((w) => w.warehouseId === 'wh-v-eu')!.reserved).toBe(0);
    // No third reply comes after them.
    await markerReserved('rel-1', 'COLD-1');
    expect(repliesOf(StockReleased.type)).toHaveLength(2);
  });

  it('confirm then commit: a confirmed reservation outlives its time-to-live, and dispatch takes the units out of stock', async () => {
    system = await open();
    await send(reserve('flow-1', 'COLD-2', 5, 'NA', 300));
    await expect.poll(() => repliesOf(StockReserved.type), POLL).toHaveLength(1);
    await send(command(ConfirmReservation.type, ref('flow-1', 'COLD-2')));
    await expect.poll(() => repliesOf(ReservationConfirmed.type), POLL).toHaveLength(1);
    // The expiry timer fires and finds a confirmed reservation: nothing happens. Handled (in the
    // inventory's inbox), then a confirm again, answered after it (same SKU) with the same reply.
    await expect
      .poll(() => system!.adapters.store.isHandled(INVENTORY_GROUP, 'flow-1:0:ExpireReservation'), POLL)
      .toBe(true);
    await send(command(ConfirmReservation.type, ref('flow-1', 'COLD-2')));
    await expect.poll(() => repliesOf(ReservationConfirmed.type), POLL).toHaveLength(2);
    expect(repliesOf(StockReleased.type)).toHaveLength(0);
    await send(command(CommitStock.type, { ...ref('flow-1', 'COLD-2'), shipmentId: 'ship-1' }));
    await send(command(CommitStock.type, { ...ref('flow-1', 'COLD-2'), shipmentId: 'ship-1' }));
    await expect.poll(() => repliesOf(StockCommitted.type), POLL).toHaveLength(2);
    const { state, events } = await stockOf('COLD-2');
    expect(events.filter((e) => e.type === 'StockCommitted')).toHaveLength(1);
    expect(state.warehouses[0]).toMatchObject({ warehouseId: 'wh-w-apac', onHand: 995, reserved: 0 });
    const levels = repliesOf(StockLevelChanged.type)
      .map((m) => m.data as StockLevelChangedData)
      .filter((d) => d.sku === 'COLD-2');
    expect(levels.at(-1)).toEqual({
      sku: 'COLD-2',
      warehouseId: 'wh-w-apac',
      onHand: 995,
      reserved: 0,
      available: 995,
      totalAvailable: 995,
    });
    // Events carry the order's correlation (its audit trail) and say which context recorded them.
    const reservedEvent = events.find((e) => e.type === 'StockReserved')!;
    expect(reservedEvent.metadata).toMatchObject({ context: 'inventory', correlationId: 'flow-1' });
    expect(reservedEvent.id).toBe('inventory:flow-1:0:StockReserved');
  });

  it('a vendor’s stock update races the consumer on the same stream: both land, nothing is lost', async () => {
    system = await open();
    const { store } = system.adapters;
    const adminKey = 'race-admin-key-0123456789';
    const http = await createHttpServer({
      logger: pino({ level: 'silent' }),
      metrics: createMetrics({ collectDefaults: false }),
      lifecycle: () => 'running',
      version: 'test',
    });
    registerInventoryHttp(http, {
      store,
      loader: createAggregateLoader<StockState>({ store, initial: initialStockState, evolve: evolveStock }),
      messages: catalog,
      catalog: catalogFromEvents(
        ['HOT', 'COLD-1'].map((sku) => ({
          type: 'ProductListed',
          data: { sku, vendorId: 'v', name: sku, unitPrice: 100, currency: 'USD' },
        })),
      ),
      marketplace: { vendors: [{ vendorId: 'v', name: 'V' }], warehouses: WAREHOUSES },
      adminKey,
    });
    await http.ready();

    const reservations = Array.from({ length: 300 }, (_, i) => reserve(`race-${i}`, 'COLD-1', 1, 'NA'));
    const publishing = Promise.all(
      Array.from({ length: 30 }, (_, p) => send(...reservations.slice(p * 10, p * 10 + 10))),
    );
    const updates = Array.from({ length: 20 }, (_, i) =>
      http.inject({
        method: 'PUT',
        url: '/v1/vendors/v/stock/COLD-1',
        headers: { authorization: `Bearer ${adminKey}` },
        payload: { warehouseId: i % 2 === 0 ? 'wh-v-na' : 'wh-v-eu', onHand: 2000 + i },
      }),
    );
    const responses = await Promise.all(updates);
    await publishing;
    expect(responses.map((r) => r.statusCode)).toEqual(responses.map(() => 200));
    await expect
      .poll(() => repliesOf(StockReserved.type), { timeout: 30_000, interval: 5 })
      .toHaveLength(300);
    await http.close();

    const { state, events } = await stockOf('COLD-1');
    expect(
      events.filter((e) => e.type === 'StockLevelSet' && (e.data as { source: string }).source === 'vendor'),
    ).toHaveLength(20);
    expect(events.filter((e) => e.type === 'StockReserved')).toHaveLength(300);
    const live = liveReservedByWarehouse(state);
    for (const warehouse of state.warehouses)
      expect(warehouse.reserved).toBe(live.get(warehouse.warehouseId) ?? 0);
    expect(state.warehouses.reduce((sum, w) => sum + w.reserved, 0)).toBe(300);
    // Each vendor update published its StockLevelChanged with the count it set.
    await expect
      .poll(
        () =>
          repliesOf(StockLevelChanged.type).filter((m) => (m.data as StockLevelChangedData).onHand >= 2000)
            .length,
        POLL,
      )
      .toBeGreaterThanOrEqual(20);
    const setCounts = new Set(
      repliesOf(StockLevelChanged.type)
        .map((m) => m.data as StockLevelChangedData)
        .filter((d) => d.sku === 'COLD-1')
        .map((d) => d.onHand),
    );
    for (let i = 0; i < 20; i++) expect(setCounts.has(2000 + i), `onHand ${2000 + i}`).toBe(true);
    expect(await system.adapters.deadLetters.count()).toBe(0);
  });
});
