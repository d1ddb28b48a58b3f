import type { Region } from '../../kernel/region.ts';

/**
 * The demo marketplace seeded on first start (DESIGN.md §6): six vendors, 36 SKUs priced in USD
 * (integer minor units: cents), warehouses in NA, EU and APAC, and the initial stock of every SKU in
 * every warehouse of its vendor. The catalog context lists the products; the inventory context loads
 * the stock from here.
 */

export interface DemoVendor {
  readonly vendorId: string;
  readonly name: string;
}

export interface DemoWarehouse {
  readonly warehouseId: string;
  readonly vendorId: string;
  readonly region: Region;
  readonly name: string;
}

export interface DemoProduct {
  readonly sku: string;
  readonly vendorId: string;
  readonly name: string;
  /** Integer minor units of `currency` (cents). */
  readonly unitPrice: number;
  readonly currency: string;
}

export interface DemoStock {
  readonly warehouseId: string;
  readonly sku: string;
  readonly onHand: number;
}

export interface DemoMarketplace {
  readonly vendors: readonly DemoVendor[];
  readonly warehouses: readonly DemoWarehouse[];
  readonly products: readonly DemoProduct[];
  readonly stock: readonly DemoStock[];
}

const CURRENCY = 'USD';

interface VendorSeed {
  vendorId: string;
  name: string;
  /** Regions the vendor has a warehouse in; the warehouse id is `wh-<vendor>-<region>`. */
  regions: readonly Region[];
  /** sku, name, price in cents, units on hand per region (in the vendor's regions' order). */
  products: readonly (readonly [sku: string, name: string, unitPrice: number, onHand: readonly number[]])[];
}

const VENDORS: readonly VendorSeed[] = [
  {
    vendorId: 'northwind',
    name: 'Northwind Outfitters',
    regions: ['NA', 'EU'],
    products: [
      ['NW-TENT-2P', 'Two-person trekking tent', 18900, [40, 25]],
      ['NW-BAG-35L', '35 L hiking backpack', 8950, [120, 80]],
      ['NW-SLEEP-0C', 'Sleeping bag, comfort 0 °C', 12900, [60, 45]],
      ['NW-HEADLAMP', 'Rechargeable headlamp', 3499, [300, 200]],
      ['NW-BOTTLE-1L', 'Insulated bottle, 1 L', 2999, [500, 350]],
      ['NW-POLES', 'Carbon trekking poles (pair)', 7450, [90, 70]],
    ],
  },
  {
    vendorId: 'kettle',
    name: 'Kettle & Co.',
    regions: ['NA', 'EU', 'APAC'],
    products: [
      ['KC-KETTLE-GS', 'Gooseneck kettle', 6900, [150, 100, 80]],
      ['KC-GRINDER', 'Burr coffee grinder', 11900, [70, 50, 40]],
      ['KC-PRESS-8C', 'French press, 8 cups', 3450, [220, 160, 120]],
      ['KC-MUG-SET4', 'Stoneware mugs (set of 4)', 3900, [260, 180, 140]],
      ['KC-SCALE', 'Brewing scale with timer', 4999, [110, 90, 60]],
      ['KC-FILTERS', 'Paper filters (100)', 799, [1000, 800, 600]],
    ],
  },
  {
    vendorId: 'lumen',
    name: 'Lumen Electronics',
    regions: ['APAC', 'NA'],
    products: [
      ['LU-EARBUDS', 'Wireless earbuds', 12999, [200, 150]],
      ['LU-CHARGER-65', '65 W USB-C charger', 3999, [400, 300]],
      ['LU-CABLE-2M', 'Braided USB-C cable, 2 m', 1499, [900, 700]],
      ['LU-SPEAKER', 'Portable speaker', 8999, [120, 90]],
      ['LU-POWERBANK', '20,000 mAh power bank', 4999, [250, 180]],
      ['LU-WATCH', 'Fitness watch', 19999, [30, 20]],
    ],
  },
  {
    vendorId: 'papertrail',
    name: 'Paper Trail Stationery',
    regions: ['EU'],
    products: [
      ['PT-NOTEBOOK-A5', 'Dotted notebook, A5', 1850, [600]],
      ['PT-FOUNTAIN', 'Fountain pen, fine nib', 4500, [140]],
      ['PT-INK-BLUE', 'Ink bottle, blue-black', 1250, [300]],
      ['PT-PLANNER', 'Weekly planner', 2400, [220]],
      ['PT-PENCILS-12', 'Graphite pencils (12)', 990, [450]],
      ['PT-WASHI', 'Washi tape set', 1100, [380]],
    ],
  },
  {
    vendorId: 'pebble',
    name: 'Pebble Toys',
    regions: ['NA'],
    products: [
      ['PB-BLOCKS-100', 'Wooden blocks (100)', 3999, [180]],
      ['PB-PUZZLE-500', 'Jigsaw puzzle, 500 pieces', 1999, [260]],
      ['PB-KITE', 'Delta kite', 2499, [90]],
      ['PB-ROBOT-KIT', 'Build-your-own robot kit', 5999, [50]],
      ['PB-CRAYONS-24', 'Beeswax crayons (24)', 1299, [400]],
      ['PB-PLUSH-FOX', 'Plush fox', 2199, [150]],
    ],
  },
  {
    vendorId: 'verdant',
    name: 'Verdant Home & Garden',
    regions: ['EU', 'APAC'],
    products: [
      ['VD-PLANTER-L', 'Ceramic planter, large', 4900, [90, 60]],
      ['VD-SHEARS', 'Pruning shears', 2750, [160, 120]],
      ['VD-SEEDS-HERB', 'Herb seed collection', 1450, [500, 400]],
      ['VD-CAN-5L', 'Watering can, 5 L', 3200, [110, 80]],
      ['VD-GLOVES', 'Gardening gloves', 1599, [300, 240]],
      ['VD-LANTERN', 'Solar lantern', 3650, [140, 100]],
    ],
  },
];

function build(): DemoMarketplace {
  const vendors: DemoVendor[] = [];
  const warehouses: DemoWarehouse[] = [];
  const products: DemoProduct[] = [];
  const stock: DemoStock[] = [];
  // Frozen as built: the seed is shared by every context and must not be changed by one of them.
  for (const vendor of VENDORS) {
    vendors.push(Object.freeze({ vendorId: vendor.vendorId, name: vendor.name }));
    const warehouseIds = vendor.regions.map((region) => {
      const warehouseId = `wh-${vendor.vendorId}-${region.toLowerCase()}`;
      warehouses.push(
        Object.freeze({ warehouseId, vendorId: vendor.vendorId, region, name: `${vendor.name} ${region}` }),
      );
      return warehouseId;
    });
    for (const [sku, name, unitPrice, onHand] of vendor.products) {
      products.push(Object.freeze({ sku, vendorId: vendor.vendorId, name, unitPrice, currency: CURRENCY }));
      warehouseIds.forEach((warehouseId, i) =>
        stock.push(Object.freeze({ warehouseId, sku, onHand: onHand[i] ?? 0 })),
      );
    }
  }
  return Object.freeze({
    vendors: Object.freeze(vendors),
    warehouses: Object.freeze(warehouses),
    products: Object.freeze(products),
    stock: Object.freeze(stock),
  });
}

export const DEMO_MARKETPLACE: DemoMarketplace = build();
