import { describe, expect, it } from 'vitest';
import { REGIONS } from '../../kernel/region.ts';
import { DEMO_MARKETPLACE } from './demo-marketplace.ts';

const { vendors, warehouses, products, stock } = DEMO_MARKETPLACE;

describe('the demo marketplace', () => {
  it('has six vendors and 36 SKUs with unique ids', () => {
    expect(vendors).toHaveLength(6);
    expect(products).toHaveLength(36);
    expect(new Set(products.map((p) => p.sku)).size).toBe(36);
    expect(new Set(vendors.map((v) => v.vendorId)).size).toBe(6);
  });

  it('prices everything in USD, in positive integer cents, sold by a known vendor', () => {
    const vendorIds = new Set(vendors.map((v) => v.vendorId));
    for (const product of products) {
      expect(product.currency).toBe('USD');
      expect(Number.isInteger(product.unitPrice) && product.unitPrice > 0, product.sku).toBe(true);
      expect(vendorIds.has(product.vendorId), product.sku).toBe(true);
      expect(product.name.length).toBeGreaterThan(0);
    }
  });

  it('has warehouses in every region, and vendors with warehouses in two or three regions', () => {
    expect(new Set(warehouses.map((w) => w.region))).toEqual(new Set(REGIONS));
    const regionsPerVendor = vendors.map((v) => warehouses.filter((w) => w.vendorId === v.vendorId).length);
    expect(regionsPerVendor.filter((n) => n >= 2).length).toBeGreaterThanOrEqual(3);
    expect(regionsPerVendor).toContain(3);
  });

  it('stocks every SKU in every warehouse of its vendor, and nowhere else', () => {
    for (const product of products) {
      const expected = warehouses
        .filter((w) => w.vendorId === product.vendorId)
        .map((w) => w.warehouseId)
        .sort();
      const stocked = stock.filter((s) => s.sku === product.sku);
      expect(stocked.map((s) => s.warehouseId).sort(), product.sku).toEqual(expected);
      for (const entry of stocked) expect(Number.isInteger(entry.onHand) && entry.onHand > 0).toBe(true);
    }
  });

  it('cannot be changed by a caller', () => {
    expect(Object.isFrozen(products)).toBe(true);
    expect(Object.isFrozen(products[0])).toBe(true);
  });
});
