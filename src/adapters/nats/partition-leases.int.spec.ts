import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { deleteStreams } from '../../../test/support/distributed.ts';
import { SERVICE_URLS, serviceAvailable } from '../../../test/support/services.ts';
import { randomType, randomWord, testMessage } from '../../messaging/testing/transport-contract.ts';
import type { Delivery, Transport } from '../../messaging/transport.ts';
import { createNatsTransport } from './nats-transport.ts';

import { createPartitionLeases, type LeaseHolder, type PartitionLeases } from './partition-leases.ts';

/**
 * Partition leases (DESIGN.md §8): copies of a group in different processes (here: different
 * connections) split the partitions, a dead copy's partitions go to the living within the TTL, and a
 * key's messages are handled by one copy at a time, in publish order, while copies come and go.
 */

const available = await serviceAvailable('nats');
const PARTITIONS = 16;

describe.runIf(available)('partition leases on JetStream KV', () => {
  const namespace = `lease-${randomWord(10)}`;
  const connections: NatsConnection[] = [];
  const leaseSets: PartitionLeases[] = [];

  /** A copy as another process would run it: its own connection and lease manager. */
  async function copy(group: string, ttlMs: number) {
    const nc = await connect({ servers: SERVICE_URLS.nats });
    connections.push(nc);
    const kv = await new Kvm(jetstream(nc)).create(`${namespace}_leases`, { ttl: ttlMs, history: 1 });
    const leases = createPartitionLeases({ kv, partitions: PARTITIONS, ttlMs, onError: () => undefined });
    leaseSets.push(leases);
    const pulling = new Set<number>();
    const holder: LeaseHolder = {
      group,
      owner: randomWord(12),
      acquired: async (partition) => void pulling.add(partition),
      released: async (partition) => void pulling.delete(partition),
    };
    await leases.join(holder);
    return { holder, leases, pulling, nc };
  }

  afterAll(async () => {
    await Promise.all(leaseSets.map((leases) => leases.close()));
    await Promise.all(connections.map((nc) => nc.close()));
    await deleteStreams(namespace);
  });

  it('splits the partitions evenly and without overlap between the copies of a group', async () => {
    const group = randomWord();
    const a = await copy(group, 3_000);
    expect(a.leases.owned(a.holder)).toHaveLength(PARTITIONS);
    const b = await copy(group, 3_000);
    // Waits for the partitions to be split 8/8.
    await vi.waitUntil(() => a.pulling.size === PARTITIONS / 2 && b.pulling.size === PARTITIONS / 2, {
      timeout: 8_000,
      interval: 5,
    });
    const union = new Set([...a.pulling, ...b.pulling]);
    expect(union.size).toBe(PARTITIONS);
    // Another group's leases are its own business.
    const other = await copy(randomWord(), 3_000);
    expect(other.pulling.size).toBe(PARTITIONS);
  });

  it('gives the partitions of a copy that died to the living within the lease TTL', async () => {
    const group = randomWord();
    const ttlMs = 1_500;
    const a = await copy(group, ttlMs);
    const b = await copy(group, ttlMs);
    // Waits for the split.
    await vi.waitUntil(() => a.pulling.size === PARTITIONS / 2 && b.pulling.size === PARTITIONS / 2, {
      timeout: 8_000,
      interval: 5,
    });
    // A crash: the copy stops renewing and never says goodbye (no leave).
    await a.leases.close();
    a.nc.close().catch(() => undefined);
    const died = Date.now();
    // Waits for the survivor to hold every partition.
    await vi.waitUntil(() => b.pulling.size === PARTITIONS, { timeout: 10_000, interval: 5 });
    // Not before the dead copy's leases aged out, and not long after.
    expect(Date.now() - died).toBeGreaterThanOrEqual(ttlMs / 3);
    expect(Date.now() - died).toBeLessThan(ttlMs * 3 + 2_000);
  });

  it('fences a copy that cannot renew: it stops pulling before another copy may take over', async () => {
    const group = randomWord();
    const ttlMs = 1_500;
    const a = await copy(group, ttlMs);
    expect(a.pulling.size).toBe(PARTITIONS);
    // Somebody else's write wins the compare-and-set (as after the lease aged out and was taken).
    const nc = await connect({ servers: SERVICE_URLS.nats });
    connections.push(nc);
    const kv = await new Kvm(jetstream(nc)).open(`${namespace}_leases`);
    await kv.put(`l.${group}.p3`, 'intruder');
    // Waits for the copy to give up partition 3.
    await vi.waitUntil(() => !a.pulling.has(3), { timeout: 5_000, interval: 5 });
    expect(a.pulling.size).toBe(PARTITIONS - 1);
  });
});

describe.runIf(available)('per-key order across copies of a group in several processes', () => {
  const namespace = `order-${randomWord(10)}`;
  const transports: Transport[] = [];

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((transport) => transport.close().catch(() => undefined)));
    await deleteStreams(namespace);
  });

  async function process(): Promise<Transport> {
    const transport = createNatsTransport({
      servers: SERVICE_URLS.nats,
      namespace,
      leaseTtlMs: 1_500,
      fetchExpiresMs: 1_000,
      onError: () => undefined,
    });
    await transport.start();
    transports.push(transport);
    return transport;
  }

  it('handles each key one message at a time, in publish order, while copies join and leave', async () => {
    const type = randomType();
    const group = randomWord();
    const KEYS = 24;
    const PER_KEY = 30;
    /** Per key, the `n` of each acked message, in ack order, and who handled it. */
    const acked = new Map<string, number[]>();
    const handlers = new Map<string, Set<string>>();
    const inHandler = new Map<string, string>();
    let overlaps = 0;

    /** A copy that handles its deliveries one at a time per key, like the consumer core. */
    async function subscribeCopy(name: string) {
      const transport = await process();
      const queues = new Map<string, Delivery[]>();
      const run = async (key: string) => {
        const queue = queues.get(key)!;
        while (queue.length > 0) {
          const delivery = queue[0]!;
          const holder = inHandler.get(key);
          if (holder !== undefined && holder !== name) overlaps++;
          inHandler.set(key, name);
          await sleep(1 + Math.floor(Math.random() * 3));
          inHandler.delete(key);
          const { n } = delivery.message.data as { n: number };
          const list = acked.get(key) ?? [];
          // Only the first ack of each n counts; a handed-back message may come again (at least once).
          if (!list.includes(n)) list.push(n);
          acked.set(key, list);
          handlers.set(key, (handlers.get(key) ?? new Set()).add(name));
          delivery.ack();
          queue.shift();
        }
        queues.delete(key);
      };
      const subscription = await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          const key = delivery.message.partitionkey;
          const queue = queues.get(key);
          if (queue !== undefined) queue.push(delivery);
          else {
            queues.set(key, [delivery]);
            void run(key);
          }
        },
        onPartitionRevoked: () => undefined,
      });
      return { transport, subscription };
    }

    const publisher = await process();
    const first = await subscribeCopy('a');
    let sent = 0;
    const publishing = (async () => {
      for (let n = 0; n < PER_KEY; n++) {
        await publisher.publish(Array.from({ length: KEYS }, (_, k) => testMessage(type, `key-${k}`, { n })));
        sent += KEYS;
        await sleep(60);
      }
    })();
    await sleep(400);
    await subscribeCopy('b');
    await sleep(600);
    const c = await subscribeCopy('c');
    await sleep(600);
    // One copy leaves gracefully mid-stream, its partitions go to the others.
    await first.subscription.stop();
    await sleep(400);
    await c.transport.close();
    await publishing;

    // Waits for every message to be handled.
    await vi.waitUntil(() => [...acked.values()].reduce((sum, list) => sum + list.length, 0) === sent, {
      timeout: 20_000,
      interval: 5,
    });
    for (let k = 0; k < KEYS; k++) {
      expect(acked.get(`key-${k}`)).toEqual(Array.from({ length: PER_KEY }, (_, n) => n));
    }
    expect(overlaps).toBe(0);
    // The copies shared the keys: several copies handled some key over the run.
    expect([...handlers.values()].some((names) => names.size > 1)).toBe(true);
  }, 60_000);
});
