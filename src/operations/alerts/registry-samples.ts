import type { Registry } from 'prom-client';
import type { Sample } from './sample-history.ts';

/**
 * A prom-client registry as one scrape: counters and gauges by name, histograms and summaries as
 * their `_bucket` (with `le`) / quantile, `_sum` and `_count` series. Label values are printed the
 * way the text exposition prints them (`le="0.25"`, `le="+Inf"`), so selectors match both.
 */
export async function samplesOfRegistry(registry: Registry): Promise<Sample[]> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.flatMap((metric) =>
    metric.values.map((entry) => ({
      name: (entry as { metricName?: string }).metricName ?? metric.name,
      labels: Object.fromEntries(
        Object.entries(entry.labels)
          .filter(([, value]) => value !== undefined)
          .map(([label, value]) => [label, String(value)]),
      ),
      value: entry.value,
    })),
  );
}
