import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AggregateLoader, EventStore } from '../../event-store/index.ts';
import { createAdminAuth, problemResponse, type HttpServer } from '../../kernel/http/index.ts';
import { createEnvelope, type MessageCatalog } from '../../messaging/index.ts';
import { AppError, ERROR_CODES, ValidationError, isConcurrencyError } from '../../kernel/errors.ts';
import type { CatalogLookup, DemoMarketplace } from '../catalog/index.ts';
import { decideSetLevel, type SetStockLevel } from './domain/decide.ts';
import { StockLevelChanged } from './messages.ts';
import { inventoryView, stockLevelChanges, stockStreamId, type StockState } from './domain/stock.ts';
import { toNewEvent } from './handlers.ts';
import { INVENTORY_SOURCE } from './seed-stock.ts';
import { createVendorAuth, vendorKey } from './vendor-keys.ts';

const RegionSchema = Type.Union([Type.Literal('NA'), Type.Literal('EU'), Type.Literal('APAC')]);

export const InventoryViewSchema = Type.Object({
  sku: Type.String(),
  onHand: Type.Integer({ description: 'Units in every warehouse' }),
  reserved: Type.Integer({ description: 'Units held for orders (not yet dispatched)' }),
  available: Type.Integer({ description: 'onHand − reserved: what can still be ordered' }),
  warehouses: Type.Array(
    Type.Object({
      warehouseId: Type.String(),
      vendorId: Type.String(),
      region: RegionSchema,
      onHand: Type.Integer(),
      reserved: Type.Integer(),
      available: Type.Integer(),
    }),
  ),
});

export const SetStockBodySchema = Type.Object(
  {
    warehouseId: Type.String({ minLength: 1, maxLength: 200, description: 'One of the vendor’s warehouses' }),
    onHand: Type.Integer({
      minimum: 0,
      maximum: 1_000_000_000,
      description: 'Units on hand in that warehouse; not below the units reserved there',
    }),
  },
  { additionalProperties: false },
);
export type SetStockBody = Static<typeof SetStockBodySchema>;

export const VendorKeySchema = Type.Object({
  vendorId: Type.String(),
  key: Type.String({ description: 'The vendor’s bearer key for PUT /v1/vendors/{vendorId}/stock/{sku}' }),
});

const SkuParam = Type.String({ minLength: 1, maxLength: 200, description: 'The SKU, e.g. KC-KETTLE-GS' });
const VendorParam = Type.String({ minLength: 1, maxLength: 200, description: 'The vendor id, e.g. kettle' });

const Unauthorized = {
  401: problemResponse('No bearer key (send Authorization: Bearer <key>)'),
  403: problemResponse('The key is neither the admin key nor this vendor’s key'),
};

/** Attempts of a vendor update that keeps meeting concurrent reservations on the same stream. */
const MAX_SET_ATTEMPTS = 10;

export interface InventoryHttpOptions {
  store: EventStore;
  /** Shared with the inventory's handlers. */
  loader: AggregateLoader<StockState>;
  messages: MessageCatalog;
  catalog: CatalogLookup;
  marketplace: Pick<DemoMarketplace, 'vendors' | 'warehouses'>;
  adminKey: string;
  now?: () => Date;
}

/** GET /v1/inventory/{sku}, PUT /v1/vendors/{vendorId}/stock/{sku}, GET /v1/admin/vendors/{vendorId}/key. */
export function registerInventoryHttp(app: HttpServer, options: InventoryHttpOptions): void {
  const { store, loader, messages, catalog, marketplace, adminKey } = options;
  const now = options.now ?? (() => new Date());
  const vendors = new Set(marketplace.vendors.map((v) => v.vendorId));
  const warehouses = new Map(marketplace.warehouses.map((w) => [w.warehouseId, w]));
  const authorizeVendor = createVendorAuth(adminKey, [...vendors]);
  const authorizeAdmin = createAdminAuth(adminKey);
  const queues = new Map<string, Promise<void>>();

  function vendorNotFound(vendorId: string): AppError {
    return new AppError(ERROR_CODES.VENDOR_NOT_FOUND, `there is no vendor ${JSON.stringify(vendorId)}`);
  }

  app.get(
    '/v1/inventory/:sku',
    {
      schema: {
        tags: ['inventory'],
        summary: 'Stock of a SKU, in total and per warehouse',
        description:
          'available = onHand − reserved; a reservation holds units from the order until dispatch or release.',
        params: Type.Object({ sku: SkuParam }),
        response: { 200: InventoryViewSchema, 404: problemResponse('The inventory has no such SKU') },
      },
    },
    async (request) => {
      const { sku } = request.params;
      const { state, version } = await loader.load(stockStreamId(sku));
      if (version < 0) {
        throw new AppError(ERROR_CODES.SKU_NOT_FOUND, `the inventory has no SKU ${JSON.stringify(sku)}`);
      }
      return inventoryView(sku, state);
    },
  );

  app.put(
    '/v1/vendors/:vendorId/stock/:sku',
    {
      // Before the body is read: no key, no answer about the body.
      onRequest: async (request: FastifyRequest) => {
        const { vendorId } = request.params as { vendorId: string };
        authorizeVendor(request.headers.authorization, vendorId);
      },
      schema: {
        tags: ['inventory'],
        summary: 'A vendor sets its stock of a SKU in one of its warehouses',
        description: [
          'Authorized by the vendor’s own key or the admin key (`Authorization: Bearer <key>`).',
          'onHand cannot go below the units reserved in the warehouse (409, nothing changes).',
          'Answers the SKU’s inventory after the change.',
        ].join(' '),
        security: [{ adminKey: [] }],
        params: Type.Object({ vendorId: VendorParam, sku: SkuParam }),
        body: SetStockBodySchema,
        response: {
          200: InventoryViewSchema,
          ...Unauthorized,
          404: problemResponse('No such vendor (VENDOR_NOT_FOUND) or SKU (SKU_NOT_FOUND)'),
          409: problemResponse('onHand below the units reserved in the warehouse (STOCK_BELOW_RESERVED)'),
          422: problemResponse(
            'Invalid body, a SKU the vendor does not sell, or a warehouse not the vendor’s',
          ),
        },
      },
    },
    async (request) => {
      const { vendorId, sku } = request.params;
      const { warehouseId, onHand } = request.body;
      if (!vendors.has(vendorId)) throw vendorNotFound(vendorId);
      const product = catalog.get(sku);
      if (product === undefined) {
        throw new AppError(ERROR_CODES.SKU_NOT_FOUND, `the catalog has no SKU ${JSON.stringify(sku)}`);
      }
      if (product.vendorId !== vendorId) {
        throw new ValidationError(`${sku} is not sold by vendor ${vendorId}`, [
          { pointer: '/sku', detail: `path parameter: is sold by another vendor, not by ${vendorId}` },
        ]);
      }
      const warehouse = warehouses.get(warehouseId);
      if (warehouse?.vendorId !== vendorId) {
        throw new ValidationError(`warehouse ${warehouseId} is not a warehouse of vendor ${vendorId}`, [
          { pointer: '/warehouseId', detail: `is not a warehouse of vendor ${vendorId}` },
        ]);
      }

      const streamId = stockStreamId(sku);
      // One update of a stream at a time in this process: concurrent updates would only beat each
      // other's expected version. Conflicts left are with the consumer (or another process): retried.
      await serialized(streamId, () =>
        setLevel(streamId, { sku, warehouseId, vendorId, region: warehouse.region, onHand }),
      );
      return inventoryView(sku, (await loader.load(streamId)).state);
    },
  );

  async function setLevel(streamId: string, command: Omit<SetStockLevel, 'source'>): Promise<void> {
    const { sku, warehouseId } = command;
    for (let attempt = 1; ; attempt++) {
      const { state, version } = await loader.load(streamId);
      const result = decideSetLevel(state, { ...command, source: 'vendor' });
      if (result.kind === 'refusal') {
        throw new AppError(ERROR_CODES.STOCK_BELOW_RESERVED, result.message, {
          details: { reserved: result.reserved ?? 0, warehouseId },
        });
      }
      if (result.events.length === 0) return;
      const envelopes = stockLevelChanges(state, result.events).map((level) =>
        createEnvelope(
          { type: StockLevelChanged.type, data: level, partitionKey: sku, correlationId: sku, subject: sku },
          { source: INVENTORY_SOURCE, now },
        ),
      );
      for (const envelope of envelopes) messages.validate(envelope.type, envelope.data);
      try {
        await store.commit({
          appends: [{ streamId, events: result.events.map(toNewEvent), expectedVersion: version }],
          messages: envelopes,
        });
        return;
      } catch (error) {
        // The inventory's consumer wrote the stream meanwhile: decide again on what it wrote, at
        // once. Waiting would lose every time to a consumer with a backlog on this SKU (a flash
        // sale), which queues its next write as soon as its last one commits.
        if (!isConcurrencyError(error) || attempt >= MAX_SET_ATTEMPTS) throw error;
      }
    }
  }

  /** Runs `task` after every task queued before it for the same key. */
  function serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return result;
  }

  app.get(
    '/v1/admin/vendors/:vendorId/key',
    {
      onRequest: authorizeAdmin,
      schema: {
        tags: ['admin'],
        summary: 'The vendor’s key for the vendor API, for an operator to hand out',
        description:
          'Derived from the admin key: the same in every process; changing the admin key changes every vendor key.',
        security: [{ adminKey: [] }],
        params: Type.Object({ vendorId: VendorParam }),
        response: {
          200: VendorKeySchema,
          401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
          403: problemResponse('Wrong admin key'),
          404: problemResponse('No such vendor'),
        },
      },
    },
    async (request) => {
      const { vendorId } = request.params;
      if (!vendors.has(vendorId)) throw vendorNotFound(vendorId);
      return { vendorId, key: vendorKey(adminKey, vendorId) };
    },
  );
}
