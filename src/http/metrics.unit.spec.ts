import { describe, expect, it } from 'vitest';
import { createMetrics, registerRelayMetrics, registerStoreMetrics } from './metrics.ts';

describe('the store and relay tallies', () => {
  it('are counters that follow the tally since start', async () => {
    const metrics = createMetrics({ collectDefaults: false });
    const tally = { commits: 3, writes: 10, rounds: 1, messages: 4 };
    registerStoreMetrics(metrics, () => tally);
    registerRelayMetrics(metrics, () => tally);
    const read = async () =>
      Object.fromEntries(
        (await metrics.registry.getMetricsAsJSON())
          .filter((metric) => /^orderflow_(store|outbox)_/.test(metric.name))
          .map((metric) => [metric.name, { type: metric.type, value: metric.values[0]?.value }]),
      );
    expect(await read()).toEqual({
      orderflow_store_commits_total: { type: 'counter', value: 3 },
      orderflow_store_writes_total: { type: 'counter', value: 10 },
      orderflow_outbox_relay_rounds_total: { type: 'counter', value: 1 },
      orderflow_outbox_relayed_messages_total: { type: 'counter', value: 4 },
    });
    Object.assign(tally, { commits: 5, writes: 17, rounds: 2, messages: 9 });
    expect(await read()).toMatchObject({
      orderflow_store_commits_total: { value: 5 },
      orderflow_store_writes_total: { value: 17 },
      orderflow_outbox_relay_rounds_total: { value: 2 },
      orderflow_outbox_relayed_messages_total: { value: 9 },
    });
    expect(await metrics.registry.metrics()).toContain('# TYPE orderflow_store_commits_total counter');
  });
});
