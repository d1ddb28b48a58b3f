import { randomUUID } from 'node:crypto';

/**
 * `orderflow start --demo-traffic`: a steady trickle of varied orders through the real HTTP API, so
 * that a new user sees orders move through every state on the dashboard: mostly good payments, some
 * declined, risky and slow ones, an occasional two-vendor order, an occasional out-of-stock line,
 * and now and then a customer who cancels.
 */
export interface DemoTrafficOptions {
  /** The API's base URL. */
  baseUrl: string;
  /**
   * Pause between two orders.
   * @default 2000
   */
  intervalMs?: number;
  onError?: (error: Error) => void;
  random?: () => number;
}

export interface DemoTraffic {
  stop(): Promise<void>;
}

const REGIONS = [
  {
    region: 'NA',
    address: {
      name: 'Jordan Lee',
      line1: '500 Market St',
      city: 'San Francisco',
      postalCode: '94105',
      country: 'US',
    },
  },
  {
    region: 'EU',
    address: {
      name: 'Ada Lovelace',
      line1: '1 Analytical St',
      city: 'London',
      postalCode: 'N1 9GU',
      country: 'GB',
    },
  },
  {
    region: 'APAC',
    address: {
      name: 'Aiko Tanaka',
      line1: '1-1 Marunouchi',
      city: 'Tokyo',
      postalCode: '100-0005',
      country: 'JP',
    },
  },
] as const;

export function startDemoTraffic(options: DemoTrafficOptions): DemoTraffic {
  const intervalMs = options.intervalMs ?? 2_000;
  const random = options.random ?? Math.random;
  let skus: { sku: string; vendorId: string }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  let n = 0;

  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  async function placeOne(): Promise<void> {
    if (skus.length === 0) {
      const response = await fetch(`${options.baseUrl}/v1/catalog`);
      skus = ((await response.json()) as { items: { sku: string; vendorId: string }[] }).items;
    }
    n++;
    const where = pick(REGIONS);
    const first = pick(skus);
    const items = [{ sku: first.sku, quantity: 1 + Math.floor(random() * 2) }];
    if (random() < 0.3) {
      const second = pick(skus.filter((s) => s.vendorId !== first.vendorId));
      items.push({ sku: second.sku, quantity: 1 });
    }
    const roll = random();
    const token =
      roll < 0.8 ? 'tok_visa' : roll < 0.88 ? 'tok_declined' : roll < 0.94 ? 'tok_risky' : 'tok_timeout';
    const customerId = `demo-${Math.floor(random() * 500)}`;
    const response = await fetch(`${options.baseUrl}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `demo-${randomUUID()}` },
      body: JSON.stringify({
        customerId,
        region: where.region,
        currency: 'USD',
        items,
        shippingAddress: where.address,
        paymentMethod: { token: `${token}.${customerId}-${n}` },
      }),
    });
    const order = (await response.json()) as { id?: string };
    if (order.id !== undefined && random() < 0.08) {
      // Some customers change their mind a moment later.
      setTimeout(() => {
        if (!stopped)
          void fetch(`${options.baseUrl}/v1/orders/${order.id}/cancel`, { method: 'POST' }).catch(
            () => undefined,
          );
      }, intervalMs / 2).unref();
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = placeOne()
        .catch((error: unknown) =>
          options.onError?.(error instanceof Error ? error : new Error(String(error))),
        )
        .finally(() => {
          inFlight = undefined;
          schedule();
        });
    }, intervalMs);
  }

  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
    },
  };
}
