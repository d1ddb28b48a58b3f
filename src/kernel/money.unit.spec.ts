import { describe, expect, it } from 'vitest';
import { toMajorUnits } from './money.ts';

describe('toMajorUnits', () => {
  it('turns cents into the shortest decimal', () => {
    expect(toMajorUnits(1999, 'USD')).toBe(19.99);
    expect(JSON.stringify(toMajorUnits(1099 * 3, 'USD'))).toBe('32.97');
    expect(toMajorUnits(0, 'USD')).toBe(0);
  });

  it('knows currencies without minor units, and with three decimals', () => {
    expect(toMajorUnits(1500, 'JPY')).toBe(1500);
    expect(toMajorUnits(1500, 'KWD')).toBe(1.5);
  });
});
