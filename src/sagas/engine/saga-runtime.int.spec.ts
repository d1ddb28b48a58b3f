import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEnvelope, type Envelope } from '../../messaging/index.ts';
import { orderSagaStreamId } from '../order/order-saga.ts';
import type { ReserveStockData } from '../../contexts/inventory/messages.ts';
import {
  openSagaSystem,
  orderPlaced,
  placeOrder,
  typesOf,
  type Probe,
  type SagaSystem,
} from '../../../test/support/saga-system.ts';

/*
 * The saga runtime on the real SQLite store, embedded bus and consumer: a step's deadline is a
 * durable timer that survives a restart, and the saga's state is its stream.
 */

const STEP_TIMEOUT_MS = 700;

describe('saga runtime (SQLite store, embedded bus, saga consumer)', () => {
  let dir: string;
  let file: string;
  let system: SagaSystem | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-saga-'));
    file = path.join(dir, 'orderflow.db');
  });

  afterEach(async () => {
    await system?.close();
    system = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fires a step timer scheduled before a restart after it, and the saga moves on', async () => {
    const reserveCommands: Envelope[] = [];
    // Inventory stands in as a probe: down before the restart (it answers nothing), up after it.
    let inventoryUp = false;
    const inventory: Probe = {
      group: 'inventory-probe',
      types: ['inventory.ReserveStock'],
      onMessage: (message, context) => {
        reserveCommands.push(message);
        if (!inventoryUp) return;
        const { orderId, reservationId, sku, quantity } = message.data as ReserveStockData;
        context.send({
          type: 'inventory.StockReserved',
          data: {
            orderId,
            reservationId,
            sku,
            quantity,
            vendorId: 'northwind',
            warehouseId: 'wh-northwind-eu',
            warehouseRegion: 'EU',
            expiresAt: new Date(Date.now() + 900_000).toISOString(),
          },
          partitionKey: orderId,
        });
      },
    };
    const saga = { stepTimeoutMs: STEP_TIMEOUT_MS };
    const orderId = randomUUID();
    const streamId = orderSagaStreamId(orderId);

    system = await openSagaSystem({ file, saga, probes: [inventory] });
    await placeOrder(system, orderPlaced(orderId));
    const current = system;
    // Waits for the first ReserveStock.
    await vi.waitUntil(async () => (reserveCommands.length === 1 ? true : undefined), {
      timeout: 10_000,
      interval: 20,
    });
    expect(typesOf(await current.store.readStream(streamId))).toEqual(['SagaStarted']);

    // The deadline is in the file, not in memory: one scheduled SagaTimerFired for the reservation step.
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT envelope FROM scheduled_messages').all() as { envelope: string }[];
      const timers = rows.map(
        (row) => JSON.parse(row.envelope) as Envelope<{ sagaId: string; step: string }>,
      );
      expect(timers).toEqual([
        expect.objectContaining({
          type: 'saga.SagaTimerFired',
          partitionkey: orderId,
          data: expect.objectContaining({ sagaId: orderId, step: 'reserve-stock', attempt: 1 }),
        }),
      ]);
    } finally {
      db.close();
    }

    // Restart: everything closes before the deadline, and the process is away while it passes.
    await system.close();
    system = undefined;
    await new Promise((resolve) => setTimeout(resolve, STEP_TIMEOUT_MS + 200));
    inventoryUp = true;
    system = await openSagaSystem({ file, saga, probes: [inventory] });
    const reopened = system;

    // The timer fires after the restart: the reservation is sent again, answered, and the saga goes on.
    // Waits for the reservation step to complete after the restart.
    const events = await vi.waitUntil(
      async () => {
        const stored = await reopened.store.readStream(streamId);
        return stored.some((event) => event.type === 'StepCompleted') ? stored : undefined;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(typesOf(events).slice(0, 3)).toEqual(['SagaStarted', 'StepRetried', 'StepCompleted']);
    expect(events[1]!.data).toEqual({ step: 'reserve-stock', attempt: 2, by: 'saga.SagaTimerFired' });
    expect(events[2]!.data).toMatchObject({
      step: 'reserve-stock',
      by: 'inventory.StockReserved',
      next: 'assess-fraud',
    });
    expect(reserveCommands).toHaveLength(2);
    expect(reserveCommands[1]!.data).toEqual(reserveCommands[0]!.data);
    expect(reserveCommands[1]!.id).not.toBe(reserveCommands[0]!.id);
    expect(reserveCommands[1]!.partitionkey).toBe('NW-TENT-2P');

    const { state } = await reopened.runtime.load(orderId);
    expect(state).toMatchObject({ status: 'running', step: 'assess-fraud', version: 1 });
    expect(await reopened.deadLetters.list()).toEqual([]);
  });

  it('starts one saga per order however often OrderPlaced is delivered, with the order’s correlation', async () => {
    system = await openSagaSystem({ file });
    const orderId = randomUUID();
    await placeOrder(system, orderPlaced(orderId));
    const current = system;
    // Waits for SagaStarted.
    const [started] = await vi.waitUntil(
      async () => {
        const stored = await current.store.readStream(orderSagaStreamId(orderId));
        return stored.length > 0 ? stored : undefined;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(started).toMatchObject({
      id: `saga-order-${orderId}:SagaStarted`,
      type: 'SagaStarted',
      data: { sagaId: orderId, definition: 'order', version: 1, step: 'reserve-stock' },
      metadata: { correlationId: orderId, context: 'saga' },
    });
    // A second OrderPlaced message for the same order (another id) decides nothing new.
    await placeOrderAgain(system, orderId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(typesOf(await system.store.readStream(orderSagaStreamId(orderId)))).toEqual(['SagaStarted']);
  });
});

async function placeOrderAgain(system: SagaSystem, orderId: string): Promise<void> {
  const envelope = createEnvelope(
    { type: 'orders.OrderPlaced', data: orderPlaced(orderId), correlationId: orderId },
    { source: 'orderflow/orders' },
  );
  await system.store.commit({ messages: [envelope] });
}
