// The catalog context's public surface: products, the demo marketplace seed, routes.
export { catalogFromEvents, type Catalog, type CatalogLookup, type Product } from './domain/catalog.ts';
export { CATALOG_STREAM, PRODUCT_LISTED, ProductListedData, productListedEventId } from './messages.ts';
export {
  DEMO_MARKETPLACE,
  type DemoMarketplace,
  type DemoProduct,
  type DemoStock,
  type DemoVendor,
  type DemoWarehouse,
} from './demo-marketplace.ts';
export { seedCatalog } from './seed-catalog.ts';
export { registerCatalogHttp } from './http.ts';
