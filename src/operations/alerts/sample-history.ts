import type { AlertRule, Selector } from './alert-rule.ts';
import { matchesSelector } from './selector.ts';

/** One value of one series, as a scrape gives it. */
export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** A sample of a range or instant selection: `at` in ms. */
export interface Point {
  at: number;
  value: number;
}

/** Prometheus's default lookback: an instant selector sees a series' latest sample up to 5 minutes old. */
export const LOOKBACK_MS = 5 * 60_000;

/** What a SampleHistory must keep for `rules`: their longest window plus the lookback. */
export function requiredRetentionMs(rules: readonly AlertRule[]): number {
  const windows = rules.flatMap(({ condition }) =>
    condition.kind === 'threshold'
      ? [condition.fn?.windowMs ?? 0]
      : condition.windows.flatMap((window) => [window.longMs, window.shortMs]),
  );
  return Math.max(0, ...windows) + LOOKBACK_MS;
}

interface Series {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** In time order; `stale` marks where the series stopped (Prometheus's staleness marker). */
  points: { at: number; value: number; stale: boolean }[];
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((label) => [label, labels[label]]);
  return JSON.stringify([name, pairs]);
}

/**
 * The samples the alert rules are evaluated on, kept in memory like a small Prometheus head block.
 * `record` is one scrape; a series missing from it goes stale at once, as a series that vanishes
 * from a Prometheus scrape does. Samples older than `retentionMs` before the newest scrape are
 * dropped (keep at least the longest window plus LOOKBACK_MS: `requiredRetentionMs(rules)`). A
 * sample not later than its series' last one is ignored, as Prometheus refuses out-of-order samples.
 */
export class SampleHistory {
  readonly #retentionMs: number;
  readonly #series = new Map<string, Series>();

  constructor(options: { retentionMs: number }) {
    this.#retentionMs = options.retentionMs;
  }

  /** One scrape at `atMs`: every sample, and a staleness marker for each series that is missing. */
  record(atMs: number, samples: readonly Sample[]): void {
    const seen = new Set<string>();
    for (const sample of samples)
      seen.add(this.#append(atMs, sample.name, sample.labels, sample.value, false));
    for (const [key, series] of this.#series) {
      if (!seen.has(key) && series.points.at(-1)?.stale === false)
        series.points.push({ at: atMs, value: NaN, stale: true });
    }
    this.prune(atMs);
  }

  /** One sample of one series, implying nothing of the others (backfills, tests). */
  add(atMs: number, sample: Sample): void {
    this.#append(atMs, sample.name, sample.labels, sample.value, false);
  }

  /** A staleness marker: from `atMs` the series is absent from instant selections. */
  markStale(atMs: number, series: { name: string; labels: Readonly<Record<string, string>> }): void {
    this.#append(atMs, series.name, series.labels, NaN, true);
  }

  /** Drops what is older than the retention before `nowMs`, and series left empty. */
  prune(nowMs: number): void {
    const oldest = nowMs - this.#retentionMs;
    for (const [key, series] of this.#series) {
      const keep = series.points.findIndex((point) => point.at >= oldest);
      if (keep === -1) this.#series.delete(key);
      else if (keep > 0) series.points.splice(0, keep);
    }
  }

  /**
   * The instant vector of `selector` at `atMs`: each matching series' latest sample at or before
   * `atMs` and at most LOOKBACK_MS old (both ends included, Prometheus 2.x); a series whose latest
   * sample is a staleness marker is absent.
   */
  instant(selector: Selector, atMs: number): number[] {
    const values: number[] = [];
    for (const series of this.#matching(selector)) {
      let latest: Series['points'][number] | undefined;
      for (const point of series.points) {
        if (point.at > atMs) break;
        latest = point;
      }
      if (latest !== undefined && !latest.stale && latest.at >= atMs - LOOKBACK_MS) values.push(latest.value);
    }
    return values;
  }

  /**
   * The range vector `selector[windowMs]` at `atMs`: per matching series, its samples with a time in
   * [atMs − windowMs, atMs] (both ends included in Prometheus 2.x; 3.0 excludes the start),
   * staleness markers left out. Series without a sample there are left out.
   */
  range(selector: Selector, atMs: number, windowMs: number): Point[][] {
    const ranges: Point[][] = [];
    for (const series of this.#matching(selector)) {
      const points = series.points
        .filter((point) => !point.stale && point.at >= atMs - windowMs && point.at <= atMs)
        .map(({ at, value }) => ({ at, value }));
      if (points.length > 0) ranges.push(points);
    }
    return ranges;
  }

  #matching(selector: Selector): Series[] {
    return [...this.#series.values()].filter((series) =>
      matchesSelector(selector, series.name, series.labels),
    );
  }

  #append(
    atMs: number,
    name: string,
    labels: Readonly<Record<string, string>>,
    value: number,
    stale: boolean,
  ): string {
    const key = seriesKey(name, labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { name, labels: { ...labels }, points: [] };
      this.#series.set(key, series);
    }
    const last = series.points.at(-1);
    if (last === undefined || atMs > last.at) series.points.push({ at: atMs, value, stale });
    return key;
  }
}
