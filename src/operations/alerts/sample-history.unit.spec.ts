import { describe, expect, it } from 'vitest';
import { BUILT_IN_RULES } from './built-in-rules.ts';
import { LOOKBACK_MS, requiredRetentionMs, SampleHistory } from './sample-history.ts';
import { parseSelector } from './selector.ts';

const lag = parseSelector('lag');
const sample = (value: number, group = 'a') => ({ name: 'lag', labels: { group }, value });

describe('SampleHistory', () => {
  it('sees the latest sample within the lookback, both ends included', () => {
    const history = new SampleHistory({ retentionMs: 3_600_000 });
    history.add(0, sample(1));
    history.add(60_000, sample(2));
    expect(history.instant(lag, 30_000)).toEqual([1]);
    expect(history.instant(lag, 60_000 + LOOKBACK_MS)).toEqual([2]);
    expect(history.instant(lag, 60_001 + LOOKBACK_MS)).toEqual([]);
    expect(history.instant(lag, -1)).toEqual([]);
  });

  it('treats a series missing from a scrape as stale: absent at once, left out of ranges', () => {
    const history = new SampleHistory({ retentionMs: 3_600_000 });
    history.record(0, [sample(1, 'a'), sample(5, 'b')]);
    history.record(60_000, [sample(2, 'a')]);
    expect(history.instant(lag, 60_000)).toEqual([2]);
    history.record(120_000, [sample(3, 'a'), sample(6, 'b')]);
    expect(history.instant(lag, 120_000).sort()).toEqual([3, 6]);
    expect(history.range(lag, 120_000, 120_000).map((points) => points.map((p) => p.value))).toEqual([
      [1, 2, 3],
      [5, 6],
    ]);
  });

  it('selects ranges with both ends included, ignores out-of-order samples and prunes past the retention', () => {
    const history = new SampleHistory({ retentionMs: 120_000 });
    for (const at of [0, 60_000, 120_000]) history.record(at, [sample(at / 60_000)]);
    history.add(90_000, sample(99));
    expect(history.range(lag, 120_000, 60_000)[0]!.map((p) => p.at)).toEqual([60_000, 120_000]);
    history.record(180_000, [sample(3)]);
    expect(history.range(lag, 180_000, 600_000)[0]!.map((p) => p.value)).toEqual([1, 2, 3]);
    history.record(400_000, []);
    expect(history.range(lag, 400_000, 600_000)).toEqual([]);
  });

  it('knows the retention the built-in rules need: 6 h plus the lookback', () => {
    expect(requiredRetentionMs(BUILT_IN_RULES)).toBe(6 * 3_600_000 + LOOKBACK_MS);
  });
});
