import type { PriceTable, RegionPrice } from './price-table.ts';

/** This deployment's measured usage since the process started. */
export interface MeasuredUsage {
  /** CPU seconds the process used (user + system). */
  cpuSeconds: number;
  /** Size of the store now. */
  storageBytes: number;
  /** Time since the process started. */
  elapsedMs: number;
}

const GB = 1024 ** 3;
const MONTH_MS = 30 * 24 * 3_600_000;

/**
 * Estimated cost per order, per price currency. Each region's share of the usage (its share of the
 * orders) is priced at that region's prices; a currency's figure is the cost of its regions' shares
 * divided by their orders. With one currency (the built-in table) that is the whole usage priced at
 * the order-weighted average of the regions' prices, divided by every order. Storage is charged for the elapsed time (GB × GB-month price ×
 * elapsed / 30 days). No orders: no figure.
 */
export function estimateCostPerOrder(
  usage: MeasuredUsage,
  prices: PriceTable,
  ordersByRegion: readonly { region: string; count: number }[],
): { currency: string; amount: number }[] {
  const orders = ordersByRegion.reduce((sum, { count }) => sum + count, 0);
  if (orders === 0) return [];
  const cpuHours = usage.cpuSeconds / 3600;
  const storageGbMonths = (usage.storageBytes / GB) * (usage.elapsedMs / MONTH_MS);
  const byCurrency = new Map<string, { cost: number; orders: number }>();
  for (const { region, count } of ordersByRegion) {
    const price: RegionPrice | undefined = (prices as Record<string, RegionPrice>)[region];
    if (price === undefined || count === 0) continue;
    // This region's share of the usage, at its prices.
    const cost = (count / orders) * (cpuHours * price.coreHour + storageGbMonths * price.storageGbMonth);
    const sum = byCurrency.get(price.currency) ?? { cost: 0, orders: 0 };
    byCurrency.set(price.currency, { cost: sum.cost + cost, orders: sum.orders + count });
  }
  return [...byCurrency].map(([currency, sum]) => ({ currency, amount: sum.cost / sum.orders }));
}
