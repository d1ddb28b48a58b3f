import { afterEach, describe, expect, it, vi } from 'vitest';
import { SERVICE_URLS, serviceAvailable } from '../../../test/support/services.ts';
import { createOutboxRelay, type OutboxRelay } from '../../messaging/outbox/outbox-relay.ts';
import { randomType, randomWord, testMessage } from '../../messaging/testing/transport-contract.ts';
import type { Envelope } from '../../kernel/envelope.ts';
import type { Transport } from '../../messaging/transport.ts';
import { createNatsTransport } from '../nats/nats-transport.ts';
import { deleteStreams } from '../../../test/support/distributed.ts';
import { createPostgresEventStore } from './postgres-event-store.ts';
import { createPostgresOutbox, type PostgresOutbox } from './postgres-outbox.ts';
import { dropSchema, POSTGRES_URL, randomSchema } from '../../../test/support/postgres.ts';

const available = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

describe.runIf(available)('PostgreSQL outbox + relay to JetStream', () => {
  let schema: string;
  let namespace: string;
  const cleanups: (() => Promise<void>)[] = [];

  async function setup() {
    schema = randomSchema();
    namespace = `test-${randomWord(12)}`;
    const store = createPostgresEventStore({ url: POSTGRES_URL, schema });
    await store.start();
    const transport = createNatsTransport({ servers: SERVICE_URLS.nats, namespace, partitions: 4 });
    await transport.start();
    const outbox = () => {
      const o = createPostgresOutbox({ url: POSTGRES_URL, schema });
      cleanups.push(() => o.close());
      return o;
    };
    const first = outbox();
    await first.start();
    cleanups.push(async () => {
      await transport.close();
      await store.close();
      await dropSchema(schema);
      await deleteStreams(namespace);
    });
    return { store, transport, outbox, first };
  }

  /** The relay's rounds and the broker are real: give them time, look often. */
  const WAIT = { timeout: 10_000, interval: 5 };

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function collect(transport: Transport, type: string, group = 'g') {
    const received: Envelope[] = [];
    await transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        received.push(delivery.message);
        delivery.ack();
      },
    });
    return received;
  }

  function startRelay(
    outbox: PostgresOutbox,
    transport: Transport,
    extra: Partial<Parameters<typeof createOutboxRelay>[0]> = {},
  ): OutboxRelay {
    const relay = createOutboxRelay({ outbox, transport, standbyRetryMs: 100, retryDelayMs: 50, ...extra });
    cleanups.push(() => relay.stop());
    return relay;
  }

  it('relays committed messages in order per key, woken by NOTIFY, and marks them published', async () => {
    const { store, transport, first } = await setup();
    const type = randomType();
    const received = await collect(transport, type);
    const relay = startRelay(first, transport, { pollIntervalMs: 60_000 });
    await relay.start();
    await vi.waitFor(() => expect(relay.leading).toBe(true), WAIT);
    const sent: Envelope[] = [];
    // Several concurrent committers, each with its own key in order.
    await Promise.all(
      ['a', 'b', 'c'].map(async (key) => {
        for (let n = 0; n < 20; n++) {
          const m = testMessage(type, key, { n });
          sent.push(m);
          await store.commit({ messages: [m] });
        }
      }),
    );
    // Woken by NOTIFY: the 60 s safety poll would be far too late.
    await vi.waitFor(() => expect(received).toHaveLength(sent.length), WAIT);
    for (const key of ['a', 'b', 'c']) {
      const order = received.filter((m) => m.partitionkey === key).map((m) => (m.data as { n: number }).n);
      expect(order).toEqual([...Array(20).keys()]);
    }
    await expect.poll(async () => (await first.fetchUnpublished(10)).length, WAIT).toBe(0);
  });

  it('prunes published rows past their retention, oldest first, and never an unpublished one', async () => {
    const { store, first } = await setup();
    const type = randomType();
    await store.commit({ messages: [1, 2, 3].map((n) => testMessage(type, 'k', { n })) });
    expect(await first.tryLead()).toBe(true);
    const published = await first.fetchUnpublished(10);
    expect(published).toHaveLength(3);
    await first.markPublished(published.map((r) => r.seq));
    await store.commit({ messages: [testMessage(type, 'k', { n: 4 })] });

    // Within their retention: kept.
    expect(await first.prunePublished(new Date(Date.now() - 60_000), 10)).toBe(0);
    // Past it: deleted, in batches of the limit.
    const later = new Date(Date.now() + 60_000);
    expect(await first.prunePublished(later, 2)).toBe(2);
    expect(await first.prunePublished(later, 2)).toBe(1);
    expect(await first.prunePublished(later, 2)).toBe(0);
    // The unpublished row is still there for the relay.
    const left = await first.fetchUnpublished(10);
    expect(left.map((r) => (r.message.data as { n: number }).n)).toEqual([4]);
  });

  it('has one leader per schema; a standby takes over when the leader goes', async () => {
    const { store, transport, outbox, first } = await setup();
    const second = outbox();
    expect(await first.tryLead()).toBe(true);
    expect(await second.tryLead()).toBe(false);
    expect(await first.tryLead()).toBe(true);

    const type = randomType();
    const received = await collect(transport, type);
    const leader = startRelay(first, transport);
    const standby = startRelay(second, transport);
    await leader.start();
    await standby.start();
    await store.commit({ messages: [testMessage(type, 'k', { n: 1 })] });
    await vi.waitFor(() => expect(received).toHaveLength(1), WAIT);
    expect(leader.leading).toBe(true);
    expect(standby.leading).toBe(false);

    await leader.stop();
    await store.commit({ messages: [testMessage(type, 'k', { n: 2 })] });
    await vi.waitFor(() => expect(received).toHaveLength(2), WAIT);
    expect(standby.leading).toBe(true);
  });

  it('publishes again after a crash between publish and mark; JetStream and the group see it once', async () => {
    const { store, transport, first } = await setup();
    const type = randomType();
    const received = await collect(transport, type);
    const m = testMessage(type, 'k', { n: 1 });
    await store.commit({ messages: [m] });
    let publishes = 0;
    let crashed = false;
    const crashing: PostgresOutbox = {
      ...first,
      async markPublished(seqs) {
        if (!crashed) {
          crashed = true;
          throw new Error('crash before mark');
        }
        return first.markPublished(seqs);
      },
    };
    const relay = startRelay(crashing, transport, {
      onPublished: () => (publishes += 1),
    });
    await relay.start();
    await vi.waitFor(() => expect(publishes).toBe(1), WAIT);
    expect(crashed).toBe(true);
    // A later message of the same key comes after any second copy of m.
    const marker = testMessage(type, 'k', { marker: true });
    await store.commit({ messages: [marker] });
    await vi.waitFor(() => expect(received.map((r) => r.id)).toContain(marker.id), WAIT);
    expect(received.map((r) => r.id)).toEqual([m.id, marker.id]);
  });

  it('relays timers released by releaseDueMessages (the trigger covers every insert)', async () => {
    const { store, transport, first } = await setup();
    const type = randomType();
    const received = await collect(transport, type);
    const relay = startRelay(first, transport, { pollIntervalMs: 60_000 });
    await relay.start();
    await vi.waitFor(() => expect(relay.leading).toBe(true), WAIT);
    const m = testMessage(type, 'k');
    const dueAt = Date.now() + 50;
    await store.commit({ schedule: [{ message: m, dueAt }] });
    // Released as at its due time (the clock is an argument): no need to wait for it.
    expect(await store.releaseDueMessages(dueAt)).toEqual({ released: 1, nextDueAt: null });
    await vi.waitFor(() => expect(received.map((r) => r.id)).toEqual([m.id]), WAIT);
  });
});
