import type { Catalog, DemoMarketplace } from '../catalog/index.ts';
import type { ContextModule, ModuleDependencies } from '../../messaging/index.ts';
import { createAggregateLoader } from '../../event-store/index.ts';
import { INVENTORY_MESSAGES } from './messages.ts';
import { evolveStock, initialStockState, type StockState } from './domain/stock.ts';
import { inventoryHandlers } from './handlers.ts';
import { registerInventoryHttp } from './http.ts';
import { seedStock } from './seed-stock.ts';

/**
 * The inventory context: stock per SKU and warehouse, reservations for the order saga, the vendor
 * stock API. Its processes (role `inventory`) seed the marketplace's stock on first start and run
 * the `inventory` consumer group; the `api` role serves its routes. One aggregate loader serves both,
 * so a hot SKU's stream is folded once per process.
 */
export interface InventoryModuleDependencies extends ModuleDependencies {
  readonly catalog: Catalog;
  /** The stock seeded on first start, and the vendors and warehouses that may be stocked. */
  readonly marketplace: DemoMarketplace;
}

export function createInventoryModule(deps: InventoryModuleDependencies): ContextModule {
  const loader = createAggregateLoader<StockState>({
    store: deps.store,
    initial: initialStockState,
    evolve: evolveStock,
  });
  return {
    name: 'inventory',
    role: 'inventory',
    messages: INVENTORY_MESSAGES,
    handlerGroups: [inventoryHandlers({ loader })],
    registerHttp(http) {
      registerInventoryHttp(http, {
        store: deps.store,
        loader,
        messages: deps.messages,
        catalog: deps.catalog,
        marketplace: deps.marketplace,
        adminKey: deps.adminKey,
        now: deps.now,
      });
    },
    async start() {
      const seeded = await seedStock({
        store: deps.store,
        marketplace: deps.marketplace,
        messages: deps.messages,
        now: deps.now,
      });
      if (seeded > 0) deps.logger.info({ skus: seeded }, 'inventory: initial stock seeded');
    },
  };
}
