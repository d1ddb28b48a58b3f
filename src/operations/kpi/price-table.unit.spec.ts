import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from '../../kernel/errors.ts';
import { estimateCostPerOrder } from './cost-per-order.ts';
import { DEFAULT_PRICE_TABLE, loadPriceTable, parsePriceTable } from './price-table.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-prices-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, text);
  return target;
}

describe('loadPriceTable', () => {
  it('is the built-in table without a file', async () => {
    expect(await loadPriceTable()).toBe(DEFAULT_PRICE_TABLE);
  });

  it('replaces the built-in table region by region (YAML or JSON)', async () => {
    const yaml = file('prices.yaml', 'EU:\n  coreHour: 0.07\n  storageGbMonth: 0.1\n  currency: EUR\n');
    expect(await loadPriceTable({ file: yaml })).toEqual({
      ...DEFAULT_PRICE_TABLE,
      EU: { coreHour: 0.07, storageGbMonth: 0.1, currency: 'EUR' },
    });
    const json = file(
      'prices.json',
      JSON.stringify({ NA: { coreHour: 1, storageGbMonth: 2, currency: 'CAD' } }),
    );
    expect((await loadPriceTable({ file: json })).NA).toEqual({
      coreHour: 1,
      storageGbMonth: 2,
      currency: 'CAD',
    });
  });

  it('lists every problem of a wrong file, under ORDERFLOW_PRICE_TABLE', async () => {
    const wrong = file(
      'wrong.yaml',
      'MARS: {}\nEU:\n  coreHour: -1\n  currency: euro\n  extra: 1\nAPAC: 3\n',
    );
    const error: unknown = await loadPriceTable({ file: wrong }).catch((e: unknown) => e);
    expect(isInvalidOptionsError(error)).toBe(true);
    expect((error as Error).message).toMatch(/^invalid ORDERFLOW_PRICE_TABLE:/);
    expect((error as { problems: string[] }).problems).toEqual([
      'MARS is not a region (expected one of NA, EU, APAC)',
      'EU.coreHour must be a number >= 0 (got -1)',
      'EU.storageGbMonth must be a number >= 0 (got nothing)',
      'EU.currency must be an ISO 4217 code, e.g. USD (got "euro")',
      'EU.extra is not a price table field (expected coreHour, storageGbMonth, currency)',
      'APAC must be a mapping of coreHour, storageGbMonth, currency (got 3)',
    ]);
    await expect(loadPriceTable({ file: path.join(dir, 'missing.yaml') })).rejects.toThrow(/cannot be read/);
    expect(() => parsePriceTable([1])).toThrow(/must be a mapping of region/);
  });
});

describe('estimateCostPerOrder', () => {
  it('prices CPU and storage at the order-weighted regions, per order', () => {
    const usage = { cpuSeconds: 7200, storageBytes: 10 * 1024 ** 3, elapsedMs: 15 * 86_400_000 };
    const [cost] = estimateCostPerOrder(usage, DEFAULT_PRICE_TABLE, [
      { region: 'NA', count: 3 },
      { region: 'EU', count: 1 },
    ]);
    // 2 core-hours and 10 GB for half a month, three quarters at NA prices, one at EU's, ÷ 4 orders.
    const na = 2 * 0.048 + 10 * 0.5 * 0.08;
    const eu = 2 * 0.0535 + 10 * 0.5 * 0.088;
    expect(cost!.currency).toBe('USD');
    expect(cost!.amount).toBeCloseTo((0.75 * na + 0.25 * eu) / 4, 10);
    expect(estimateCostPerOrder(usage, DEFAULT_PRICE_TABLE, [])).toEqual([]);
  });
});
