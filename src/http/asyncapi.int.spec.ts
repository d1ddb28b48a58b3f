import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULFILLMENT_MESSAGES } from '../contexts/fulfillment/index.ts';
import { INVENTORY_MESSAGES } from '../contexts/inventory/index.ts';
import { NOTIFICATION_MESSAGES } from '../contexts/notifications/index.ts';
import { ORDER_MESSAGES } from '../contexts/orders/index.ts';
import { PAYMENT_MESSAGES } from '../contexts/payments/index.ts';
import { OPERATIONS_MESSAGES } from '../operations/index.ts';
import { SAGA_MESSAGES } from '../sagas/index.ts';
import { removeDir, startTestApp, type TestApp } from '../../test/support/test-app.ts';

interface AsyncApiDocument {
  asyncapi: string;
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  operations: Record<string, { action: string; channel: { $ref: string }; messages: { $ref: string }[] }>;
  components: {
    messages: Record<
      string,
      { name: string; summary: string; payload: { required?: string[] }; headers: unknown }
    >;
  };
}

/** Follows a local `#/a/b/c` reference. */
function resolve(document: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document);
}

describe('GET /asyncapi.json', () => {
  let test: TestApp;
  let document: AsyncApiDocument;
  beforeAll(async () => {
    test = await startTestApp();
    const response = await fetch(`${test.url}/asyncapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as AsyncApiDocument;
  });
  afterAll(async () => {
    await test.app.stop();
    removeDir(test.dataDir);
  });

  it('is an AsyncAPI 3.0 document of every message type the contexts, the saga and operations define', () => {
    expect(document.asyncapi).toBe('3.0.0');
    const defined = [
      ...ORDER_MESSAGES,
      ...INVENTORY_MESSAGES,
      ...PAYMENT_MESSAGES,
      ...FULFILLMENT_MESSAGES,
      ...NOTIFICATION_MESSAGES,
      ...SAGA_MESSAGES,
      ...OPERATIONS_MESSAGES,
    ].map((definition) => definition.type);
    expect(Object.keys(document.components.messages).sort()).toEqual([...new Set(defined)].sort());
  });

  it("gives each message its payload schema and a channel on its context's subjects", () => {
    const placed = document.components.messages['orders.OrderPlaced']!;
    expect(placed.payload.required).toEqual(
      expect.arrayContaining(['orderId', 'customerId', 'items', 'total']),
    );
    expect(placed.summary.length).toBeGreaterThan(10);
    expect(document.channels.inventory!.address).toBe('{namespace}.inventory.p{partition}');
    expect(resolve(document, document.channels.inventory!.messages.StockReserved!.$ref)).toBe(
      document.components.messages['inventory.StockReserved'],
    );
  });

  it('has operations whose references all resolve', () => {
    for (const operation of Object.values(document.operations)) {
      expect(operation.action).toBe('send');
      expect(resolve(document, operation.channel.$ref)).toBeDefined();
      for (const message of operation.messages)
        expect(resolve(document, message.$ref), message.$ref).toBeDefined();
    }
  });
});
