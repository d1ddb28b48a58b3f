import type { EventStore, NewEvent } from '../../event-store/index.ts';
import { catalogFromEvents, type Catalog } from './domain/catalog.ts';
import { CATALOG_STREAM, PRODUCT_LISTED, productListedEventId, type ProductListedData } from './messages.ts';

/**
 * Lists every product of `products` that the catalog stream does not have yet, then loads the
 * catalog into memory. Event ids are deterministic, so a restart, or two processes seeding at once,
 * never lists a product twice: the store skips ids it already has.
 */
export async function seedCatalog(
  store: EventStore,
  products: readonly ProductListedData[],
): Promise<Catalog> {
  const existing = await store.readStream(CATALOG_STREAM);
  const listed = new Set(existing.map((event) => (event.data as ProductListedData).sku));
  const missing: NewEvent<ProductListedData>[] = products
    .filter((product) => !listed.has(product.sku))
    .map((product) => ({
      id: productListedEventId(product.sku),
      type: PRODUCT_LISTED,
      data: {
        sku: product.sku,
        vendorId: product.vendorId,
        name: product.name,
        unitPrice: product.unitPrice,
        currency: product.currency,
      },
    }));
  if (missing.length === 0) return catalogFromEvents(existing);
  await store.append(CATALOG_STREAM, missing, { expectedVersion: 'any' });
  return catalogFromEvents(await store.readStream(CATALOG_STREAM));
}
