import type { StoredEvent } from '../../../event-store/index.ts';
import { PRODUCT_LISTED, type ProductListedData } from '../messages.ts';

/** A product on sale, as other contexts see it. Prices are integer minor units of `currency`. */
export interface Product {
  readonly sku: string;
  readonly vendorId: string;
  readonly name: string;
  readonly unitPrice: number;
  readonly currency: string;
}

/** Read access to the products on sale; the orders context prices orders through it. */
export interface CatalogLookup {
  get(sku: string): Product | undefined;
}

export interface Catalog extends CatalogLookup {
  /** Every product, in listing order. */
  list(): readonly Product[];
}

/** Folds the catalog stream into an in-memory catalog; held for the life of the process. */
export function catalogFromEvents(events: readonly Pick<StoredEvent, 'type' | 'data'>[]): Catalog {
  const bySku = new Map<string, Product>();
  for (const event of events) {
    if (event.type !== PRODUCT_LISTED) continue;
    const data = event.data as ProductListedData;
    bySku.set(data.sku, Object.freeze({ ...data }));
  }
  const products = Object.freeze([...bySku.values()]);
  return {
    get: (sku) => bySku.get(sku),
    list: () => products,
  };
}
