import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../kernel/http/index.ts';
import type { Catalog } from './domain/catalog.ts';
import { toMajorUnits } from '../../kernel/money.ts';

export const CatalogItemSchema = Type.Object({
  sku: Type.String(),
  vendorId: Type.String(),
  name: Type.String(),
  price: Type.Number({
    description:
      'Unit price as a decimal number in the major unit of `currency` (19.99 = 19 dollars 99 cents)',
  }),
  currency: Type.String({ description: 'ISO 4217 code' }),
});

export const CatalogResponseSchema = Type.Object({ items: Type.Array(CatalogItemSchema) });

/** GET /v1/catalog: the products on sale. */
export function registerCatalogHttp(app: HttpServer, options: { catalog: Catalog }): void {
  // The catalog does not change while the process runs: build the answer once.
  const body = {
    items: options.catalog.list().map((product) => ({
      sku: product.sku,
      vendorId: product.vendorId,
      name: product.name,
      price: toMajorUnits(product.unitPrice, product.currency),
      currency: product.currency,
    })),
  };
  app.get(
    '/v1/catalog',
    {
      schema: {
        tags: ['catalog'],
        summary: 'The products on sale',
        description:
          'Prices are decimal numbers in the major unit of their currency (19.99), as everywhere in this API.',
        response: { 200: CatalogResponseSchema },
      },
    },
    async () => body,
  );
}
