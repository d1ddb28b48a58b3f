import { describe, expect, it } from 'vitest';
import { extrapolatedRate } from './extrapolated-rate.ts';

const s = (seconds: number, value: number) => ({ at: seconds * 1000, value });

describe('extrapolatedRate (Prometheus 2.42)', () => {
  it('needs two samples', () => {
    expect(extrapolatedRate([s(10, 5)], 0, 60_000, false)).toBeUndefined();
  });

  it('extrapolates to both edges when the samples are within 1.1 average intervals of them', () => {
    // 20 over 120 s of samples, 30 s to the start and 0 to the end of a 150 s window: 20 × 150 / 120.
    const points = [s(180, 30), s(240, 40), s(300, 50)];
    expect(extrapolatedRate(points, 150_000, 300_000, false)).toBe(25);
    expect(extrapolatedRate(points, 150_000, 300_000, true)).toBe(25 / 150);
  });

  it('extrapolates half an interval when an edge is farther than 1.1 intervals', () => {
    // Samples 60 s apart; the start is 100 s away (> 66 s), the end 70 s away (> 66 s).
    const points = [s(100, 10), s(160, 12), s(220, 14)];
    expect(extrapolatedRate(points, 0, 290_000, false)).toBeCloseTo((4 * (120 + 30 + 30)) / 120, 12);
    // 65 s to the end is within 1.1 × 60 s: all of it.
    expect(extrapolatedRate(points, 0, 285_000, false)).toBeCloseTo((4 * (120 + 30 + 65)) / 120, 12);
  });

  it('counts a drop as a counter reset', () => {
    // 5 → 10 → 2 → 8: 8 − 5 + 10.
    expect(extrapolatedRate([s(0, 5), s(60, 10), s(120, 2), s(180, 8)], 0, 180_000, false)).toBe(13);
  });

  it('does not extrapolate below the counter zero point', () => {
    // Without the clamp: 20 × (120 + 30 + 0) / 120 = 25; the counter started at 0 with the first sample.
    expect(extrapolatedRate([s(0, 0), s(60, 10), s(120, 20)], -3_480_000, 120_000, false)).toBe(20);
    // From 10 at 10 a minute, zero is 60 s before the first sample (the start is 3540 s before):
    // within 1.1 intervals, so extrapolated all the way to it, 20 × 180 / 120.
    expect(extrapolatedRate([s(0, 10), s(60, 20), s(120, 30)], -3_540_000, 120_000, false)).toBe(30);
  });
});
