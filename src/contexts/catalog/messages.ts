import { Type, type Static } from '@sinclair/typebox';

/** The catalog's own stream: one `ProductListed` per SKU. */
export const CATALOG_STREAM = 'catalog';

export const PRODUCT_LISTED = 'ProductListed';

export const ProductListedData = Type.Object(
  {
    sku: Type.String({ minLength: 1 }),
    vendorId: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    /** Integer minor units of `currency`. */
    unitPrice: Type.Integer({ minimum: 0 }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);
export type ProductListedData = Static<typeof ProductListedData>;

/** Deterministic, so that listing a product again (a restart, two processes seeding) stores nothing new. */
export function productListedEventId(sku: string): string {
  return `catalog:${PRODUCT_LISTED}:${sku}`;
}
