import type { EventStore } from '../../event-store/index.ts';
import { createEnvelope, type Envelope, type MessageCatalog } from '../../messaging/index.ts';
import { InvalidOptionsError, isConcurrencyError } from '../../kernel/errors.ts';
import type { DemoMarketplace } from '../catalog/index.ts';
import { StockLevelChanged } from './messages.ts';
import {
  initialStockState,
  STOCK_LEVEL_SET,
  stockLevelChanges,
  stockStreamId,
  type StockEvent,
} from './domain/stock.ts';
import { toNewEvent } from './handlers.ts';

export const INVENTORY_SOURCE = 'orderflow/inventory';

export interface SeedStockOptions {
  store: EventStore;
  marketplace: Pick<DemoMarketplace, 'warehouses' | 'stock'>;
  /** Validates the StockLevelChanged messages before they enter the outbox. */
  messages: MessageCatalog;
  now?: () => Date;
}

/**
 * Loads the marketplace's initial stock: `StockLevelSet` per warehouse for every SKU whose stream
 * does not exist yet (expected version `no_stream`, deterministic event ids), with the matching
 * StockLevelChanged messages. A restart finds every stream and writes nothing; a process seeding at
 * the same time as another loses the race harmlessly. Returns how many SKUs were seeded.
 */
export async function seedStock(options: SeedStockOptions): Promise<number> {
  const { store, marketplace, messages } = options;
  const now = options.now ?? (() => new Date());
  const regionOf = new Map(marketplace.warehouses.map((w) => [w.warehouseId, w]));
  const bySku = new Map<string, StockEvent[]>();
  for (const entry of marketplace.stock) {
    const warehouse = regionOf.get(entry.warehouseId);
    if (warehouse === undefined) {
      throw InvalidOptionsError.format(
        'marketplace.stock',
        `must name warehouses of marketplace.warehouses (got ${JSON.stringify(entry.warehouseId)} for ${entry.sku})`,
      );
    }
    let events = bySku.get(entry.sku);
    if (events === undefined) bySku.set(entry.sku, (events = []));
    events.push({
      type: STOCK_LEVEL_SET,
      data: {
        sku: entry.sku,
        warehouseId: entry.warehouseId,
        vendorId: warehouse.vendorId,
        region: warehouse.region,
        onHand: entry.onHand,
        source: 'seed',
      },
    });
  }

  const missing: [string, StockEvent[]][] = [];
  for (const [sku, events] of bySku) {
    if ((await store.streamVersion(stockStreamId(sku))) < 0) missing.push([sku, events]);
  }
  const units: Promise<boolean>[] = [];
  for (const [sku, events] of missing) {
    const streamId = stockStreamId(sku);
    const envelopes: Envelope[] = stockLevelChanges(initialStockState(), events).map((level) =>
      createEnvelope(
        { type: StockLevelChanged.type, data: level, partitionKey: sku, correlationId: sku, subject: sku },
        { source: INVENTORY_SOURCE, now },
      ),
    );
    for (const envelope of envelopes) messages.validate(envelope.type, envelope.data);
    // Issued in the same tick: one group commit, each SKU still succeeding or failing on its own.
    units.push(
      store
        .commit({
          appends: [
            {
              streamId,
              events: events.map(toNewEvent),
              expectedVersion: 'no_stream',
            },
          ],
          messages: envelopes,
        })
        .then(
          (result) => result.appends[0]?.written ?? false,
          (error: unknown) => {
            if (isConcurrencyError(error)) return false;
            throw error;
          },
        ),
    );
  }
  const seeded = await Promise.all(units);
  return seeded.filter(Boolean).length;
}
