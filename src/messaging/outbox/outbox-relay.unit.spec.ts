import { describe, expect, it } from 'vitest';
import { createEnvelope, type Envelope } from '../../kernel/envelope.ts';
import type { Transport } from '../transport.ts';
import { createOutboxRelay } from './outbox-relay.ts';
import type { OutboxRecord, OutboxStore } from './outbox-store.ts';

function message(n: number): Envelope {
  return createEnvelope(
    { type: 'orders.Test', data: { n }, correlationId: `order-${n % 3}` },
    { source: 'orderflow/test' },
  );
}

/** An in-memory outbox with a lead that tests hand around. */
function memoryOutbox(options: { lead?: () => boolean } = {}) {
  const rows: (OutboxRecord & { published: boolean; publishedAt?: number })[] = [];
  const listeners = new Set<() => void>();
  let failMarks = 0;
  let lastSeq = 0;
  const outbox: OutboxStore = {
    async fetchUnpublished(limit) {
      return rows
        .filter((r) => !r.published)
        .slice(0, limit)
        .map(({ seq, message, targetGroup }) => ({ seq, message, targetGroup }));
    },
    async markPublished(seqs) {
      if (failMarks > 0) {
        failMarks -= 1;
        throw new Error('database went away');
      }
      for (const row of rows) {
        if (seqs.includes(row.seq)) {
          row.published = true;
          row.publishedAt = Date.now();
        }
      }
    },
    async prunePublished(before, limit) {
      const old = rows.filter((r) => r.published && r.publishedAt! < before.getTime()).slice(0, limit);
      for (const row of old) rows.splice(rows.indexOf(row), 1);
      return old.length;
    },
    onAvailable(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ...(options.lead !== undefined ? { tryLead: async () => options.lead!() } : {}),
  };
  return {
    outbox,
    insert(messages: Envelope[], targetGroup: string | null = null) {
      for (const m of messages) rows.push({ seq: ++lastSeq, message: m, targetGroup, published: false });
      for (const listener of listeners) listener();
    },
    failNextMarks(n: number) {
      failMarks = n;
    },
    unpublished: () => rows.filter((r) => !r.published).length,
    size: () => rows.length,
  };
}

function recordingTransport() {
  const published: { group?: string; id: string }[] = [];
  const transport: Transport = {
    partitions: 1,
    async start() {},
    async publish(messages) {
      for (const m of messages) published.push({ id: m.id });
    },
    async redeliver(group, m) {
      published.push({ group, id: m.id });
    },
    async subscribe() {
      throw new Error('not used');
    },
    async consumerLag() {
      return {};
    },
    async close() {},
  };
  return { transport, published };
}

const POLL = { timeout: 3_000, interval: 5 };

describe('outbox relay', () => {
  it('publishes in seq order, in batches, marks them, and wakes on onAvailable (not on the poll)', async () => {
    const box = memoryOutbox();
    const { transport, published } = recordingTransport();
    const relay = createOutboxRelay({ outbox: box.outbox, transport, batchSize: 3, pollIntervalMs: 60_000 });
    const first = [1, 2, 3, 4, 5, 6, 7].map(message);
    box.insert(first);
    await relay.start();
    await expect.poll(() => box.unpublished(), POLL).toBe(0);
    expect(published.map((p) => p.id)).toEqual(first.map((m) => m.id));
    // Woken by a notification long before the 60 s poll.
    const later = [8, 9].map(message);
    box.insert(later);
    await expect.poll(() => box.unpublished(), POLL).toBe(0);
    expect(published.map((p) => p.id)).toEqual([...first, ...later].map((m) => m.id));
    await relay.stop();
  });

  it('sends a redrive row to its one group, in its place', async () => {
    const box = memoryOutbox();
    const { transport, published } = recordingTransport();
    const relay = createOutboxRelay({ outbox: box.outbox, transport, pollIntervalMs: 60_000 });
    const [a, b, c] = [1, 2, 3].map(message);
    box.insert([a!]);
    box.insert([b!], 'inventory');
    box.insert([c!]);
    await relay.start();
    await expect.poll(() => box.unpublished(), POLL).toBe(0);
    expect(published).toEqual([{ id: a!.id }, { group: 'inventory', id: b!.id }, { id: c!.id }]);
    await relay.stop();
  });

  it('publishes again what it could not mark (at least once), after reporting the error', async () => {
    const box = memoryOutbox();
    const { transport, published } = recordingTransport();
    const errors: Error[] = [];
    const relay = createOutboxRelay({
      outbox: box.outbox,
      transport,
      pollIntervalMs: 60_000,
      retryDelayMs: 10,
      onError: (error) => errors.push(error),
    });
    const m = message(1);
    box.failNextMarks(1);
    box.insert([m]);
    await relay.start();
    await expect.poll(() => box.unpublished(), POLL).toBe(0);
    expect(published.map((p) => p.id)).toEqual([m.id, m.id]);
    expect(errors.map((e) => e.message)).toEqual(['database went away']);
    await relay.stop();
  });

  it('stays on standby while another process leads, and takes over when the lead is free', async () => {
    let free = false;
    let refused = 0;
    const box = memoryOutbox({
      lead: () => {
        if (!free) refused++;
        return free;
      },
    });
    const { transport, published } = recordingTransport();
    const relay = createOutboxRelay({
      outbox: box.outbox,
      transport,
      pollIntervalMs: 60_000,
      standbyRetryMs: 20,
    });
    box.insert([message(1)]);
    await relay.start();
    // Refused twice: the relay has finished a whole standby round after the first refusal.
    await expect.poll(() => refused, POLL).toBeGreaterThanOrEqual(2);
    expect(published).toHaveLength(0);
    expect(relay.leading).toBe(false);
    free = true;
    await expect.poll(() => box.unpublished(), POLL).toBe(0);
    expect(relay.leading).toBe(true);
    await relay.stop();
  });

  it('prunes the rows it published once their retention has passed, never the unpublished ones', async () => {
    const memory = memoryOutbox();
    const { transport, published } = recordingTransport();
    const relay = createOutboxRelay({
      outbox: memory.outbox,
      transport,
      pollIntervalMs: 20,
      retentionMs: 100,
      pruneEveryMs: 0,
    });
    await relay.start();
    try {
      memory.insert([message(1), message(2), message(3)]);
      await expect.poll(() => published.length, POLL).toBe(3);
      expect(memory.size()).toBe(3);
      // Pruned once their retention has passed.
      await expect.poll(() => memory.size(), POLL).toBe(0);
      memory.insert([message(4)]);
      await expect.poll(() => published.length, POLL).toBe(4);
    } finally {
      await relay.stop();
    }
  });

  it('stops promptly, even on standby or between polls', async () => {
    let refused = 0;
    const box = memoryOutbox({
      lead: () => {
        refused++;
        return false;
      },
    });
    const relay = createOutboxRelay({
      outbox: box.outbox,
      transport: recordingTransport().transport,
      standbyRetryMs: 60_000,
    });
    await relay.start();
    // On standby: it asked for the lead and was refused.
    await expect.poll(() => refused, POLL).toBeGreaterThan(0);
    const started = Date.now();
    await relay.stop();
    expect(Date.now() - started).toBeLessThan(500);
  });
});
