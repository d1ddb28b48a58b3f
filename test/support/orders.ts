import { randomUUID } from 'node:crypto';
import type { PlaceOrder } from '../../src/contexts/orders/domain/place-order.ts';

/** The body of POST /v1/orders: the PlaceOrder command (DESIGN.md §4). Prices never come from the client. */
export type OrderRequest = PlaceOrder;

/** The address every fixture order ships to unless a test gives its own. */
export const SHIPPING_ADDRESS: OrderRequest['shippingAddress'] = {
  name: 'Ada Lovelace',
  line1: '1 Analytical St',
  city: 'London',
  postalCode: 'N1 9GU',
  country: 'GB',
};

/**
 * The one order fixture: a valid order for the demo catalog (two lines, 150.50 USD, EU, paid with
 * `tok_visa`), with `overrides` laid over it field by field. A body the API must refuse is this plus
 * a spread of the bad fields (`{ ...orderBody(), region: 'MARS' }`; `undefined` leaves a field out
 * of the JSON).
 */
export function orderBody(overrides: Partial<OrderRequest> = {}): OrderRequest {
  return {
    customerId: 'cust-e2e',
    region: 'EU',
    currency: 'USD',
    items: [
      { sku: 'KC-KETTLE-GS', quantity: 2 },
      { sku: 'PT-INK-BLUE', quantity: 1 },
    ],
    shippingAddress: { ...SHIPPING_ADDRESS },
    paymentMethod: { token: 'tok_visa' },
    ...overrides,
  };
}

export function newKey(): string {
  return `e2e-${randomUUID()}`;
}

export async function postOrder(
  baseUrl: string,
  body: unknown,
  /** null: no Idempotency-Key header at all. */
  key: string | null = newKey(),
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/v1/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key !== null ? { 'idempotency-key': key } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
