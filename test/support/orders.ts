import { randomUUID } from 'node:crypto';

/** A valid order body for the demo catalog (DESIGN.md §4); override any field. */
export function orderBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    customerId: 'cust-e2e',
    region: 'EU',
    currency: 'USD',
    items: [
      { sku: 'KC-KETTLE-GS', quantity: 2 },
      { sku: 'PT-INK-BLUE', quantity: 1 },
    ],
    shippingAddress: {
      name: 'Ada Lovelace',
      line1: '1 Analytical St',
      city: 'London',
      postalCode: 'N1 9GU',
      country: 'GB',
    },
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
