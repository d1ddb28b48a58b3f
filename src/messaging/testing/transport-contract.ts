import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEnvelope, partitionOf, type Envelope } from '../../kernel/envelope.ts';
import type { Delivery, Transport, TransportSubscription } from '../transport.ts';

/**
 * What an adapter's spec gives the contract suite. Each call of `setup` starts from a fresh, isolated
 * bus (a new file, a new namespace), and the suite uses random group and type names anyway.
 */
export interface TransportHarness {
  /** A started transport. */
  transport: Transport;
  /** Closes the transport gracefully and opens a new, started one on the same data. */
  reopen(): Promise<Transport>;
  /** Closes whatever is open and removes what `setup` created. */
  cleanup(): Promise<void>;
}

/** Random lowercase letters: valid in group names, message types and broker subjects. */
export function randomWord(length = 10): string {
  const bytes = randomBytes(length);
  let word = '';
  for (const byte of bytes) word += String.fromCharCode(97 + (byte % 26));
  return word;
}

export function randomType(): string {
  return `${randomWord()}.Ping`;
}

export function testMessage(type: string, key: string, data: unknown = {}): Envelope {
  return createEnvelope(
    { type, data, partitionKey: key, correlationId: key },
    { source: 'orderflow/contract-test' },
  );
}

interface Received {
  delivery: Delivery;
  subscription: string;
  at: number;
}

/** Subscribes and records every delivery; `onDelivery` decides about ack (default: ack at once). */
async function record(
  transport: Transport,
  group: string,
  types: readonly string[],
  options: { label?: string; maxInFlight?: number; onDelivery?: (delivery: Delivery) => void } = {},
  into: Received[] = [],
): Promise<{ received: Received[]; subscription: TransportSubscription }> {
  const label = options.label ?? group;
  const subscription = await transport.subscribe({
    group,
    types,
    ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    onDelivery: (delivery) => {
      into.push({ delivery, subscription: label, at: Date.now() });
      if (options.onDelivery !== undefined) options.onDelivery(delivery);
      else delivery.ack();
    },
  });
  return { received: into, subscription };
}

/** How `expect.poll` waits here: deliveries are in-process callbacks, so look often. */
const POLL = { timeout: 10_000, interval: 5 };

function idsOf(received: readonly Received[]): string[] {
  return received.map((r) => r.delivery.message.id);
}

function countBy<T>(items: readonly T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

/**
 * One message per key, published after the messages under test: a group has received every earlier
 * message of those keys' partitions once it has all of these (in-partition order), so an absence
 * check waits for them instead of sleeping.
 */
function markersFor(type: string, keys: Iterable<string>): Envelope[] {
  return [...new Set(keys)].map((key) => testMessage(type, key, { marker: true }));
}

function hasAll(received: readonly Received[], messages: readonly Envelope[]): boolean {
  const ids = new Set(idsOf(received));
  return messages.every((message) => ids.has(message.id));
}

/** Keys whose messages land in distinct partitions (`count` of them, count <= partitions). */
function keysInDistinctPartitions(partitions: number, count: number): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < count; i++) {
    const key = `key-${i}`;
    const partition = partitionOf(key, partitions);
    if (!byPartition.has(partition)) byPartition.set(partition, key);
  }
  return [...byPartition.values()];
}

/**
 * The behaviour every Transport adapter keeps (see the port's doc comment). Written against the port
 * only, so the embedded bus and the broker adapters run the same suite.
 */
export function describeTransportContract(name: string, setup: () => Promise<TransportHarness>): void {
  describe(`Transport contract: ${name}`, () => {
    let harness: TransportHarness;
    let transport: Transport;

    beforeEach(async () => {
      harness = await setup();
      transport = harness.transport;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    it('gives each message of a command type to exactly one copy of its group', async () => {
      const type = randomType();
      const group = randomWord();
      const received: Received[] = [];
      await record(transport, group, [type], { label: 'a' }, received);
      await record(transport, group, [type], { label: 'b' }, received);
      // In waves: a transport that shares a group by partition (leases) needs a few seconds to hand
      // half of them to the copy that joined second. Bounded: at most 150 waves (about 15 s).
      const messages: Envelope[] = [];
      const tookPart = () => new Set(received.map((r) => r.subscription)).size === 2;
      for (let wave = 0; wave < 150 && (wave < 10 || !tookPart()); wave++) {
        const batch = Array.from({ length: 20 }, (_, i) =>
          testMessage(type, `order-${wave}-${i}`, { wave, i }),
        );
        messages.push(...batch);
        await transport.publish(batch);
        await delay(100);
      }
      const markers = markersFor(type, keysInDistinctPartitions(transport.partitions, transport.partitions));
      await transport.publish(markers);

      // Generous: under a loaded machine a broker may strand a delivery until its ack timeout.
      await expect
        .poll(() => hasAll(received, [...messages, ...markers]), { timeout: 25_000, interval: 5 })
        .toBe(true);
      const counts = countBy(idsOf(received));
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      expect(counts.size).toBe(messages.length + markers.length);
      // Both copies took part: the group's work is shared, not duplicated.
      const bySubscription = countBy(received.map((r) => r.subscription));
      expect(bySubscription.get('a') ?? 0).toBeGreaterThan(0);
      expect(bySubscription.get('b') ?? 0).toBeGreaterThan(0);
    }, 60_000);

    it('gives every message of an event type to every subscribed group', async () => {
      const type = randomType();
      const [first, second] = [randomWord(), randomWord()];
      const a = await record(transport, first, [type]);
      const b = await record(transport, second, [type]);
      const messages = Array.from({ length: 50 }, (_, i) => testMessage(type, `order-${i % 7}`, { i }));
      await transport.publish(messages.slice(0, 25));
      await transport.publish(messages.slice(25));
      const markers = markersFor(
        type,
        messages.map((m) => m.partitionkey),
      );
      await transport.publish(markers);

      const expected = [...messages, ...markers].map((m) => m.id).sort();
      await expect.poll(() => hasAll(a.received, [...messages, ...markers]), POLL).toBe(true);
      await expect.poll(() => hasAll(b.received, [...messages, ...markers]), POLL).toBe(true);
      expect(idsOf(a.received).sort()).toEqual(expected);
      expect(idsOf(b.received).sort()).toEqual(expected);
    });

    it('does not give a group messages of types it did not subscribe to', async () => {
      const [wanted, other] = [randomType(), randomType()];
      const group = randomWord();
      const { received } = await record(transport, group, [wanted]);
      // The wanted message is the marker: same key, published after the other one.
      const marker = testMessage(wanted, 'k', { n: 1 });
      await transport.publish([testMessage(other, 'k'), marker]);
      await expect.poll(() => hasAll(received, [marker]), POLL).toBe(true);
      expect(received.map((r) => r.delivery.message.type)).toEqual([wanted]);
    });

    it('keeps what is published while a group is stopped, and gives it to the group when it is back', async () => {
      const type = randomType();
      const group = randomWord();
      const first = await record(transport, group, [type]);
      const before = testMessage(type, 'k', { n: 0 });
      await transport.publish([before]);
      await expect.poll(() => first.received.length, POLL).toBe(1);
      await first.subscription.stop();

      const whileStopped = [testMessage(type, 'k', { n: 1 }), testMessage(type, 'other', { n: 2 })];
      await transport.publish(whileStopped);

      const again = await record(transport, group, [type]);
      await expect.poll(() => again.received.length, POLL).toBe(2);
      // The group has had them (each goes to one copy): the stopped copy got none.
      expect(first.received).toHaveLength(1);

      // The same holds across a restart of the bus.
      await again.subscription.stop();
      const whileDown = testMessage(type, 'k', { n: 3 });
      await transport.publish([whileDown]);
      transport = await harness.reopen();
      const afterReopen = await record(transport, group, [type]);
      const markers = markersFor(type, ['k', 'other']);
      await transport.publish(markers);
      await expect.poll(() => hasAll(afterReopen.received, [whileDown, ...markers]), POLL).toBe(true);

      expect(first.received).toHaveLength(1);
      expect(idsOf(again.received).sort()).toEqual(whileStopped.map((m) => m.id).sort());
      expect(idsOf(afterReopen.received).sort()).toEqual([whileDown, ...markers].map((m) => m.id).sort());
    });

    it('counts per group the messages published to it and not yet acked (consumer lag)', async () => {
      const type = randomType();
      const [group, other] = [randomWord(), randomWord()];
      const lagOf = async (name: string) => (await transport.consumerLag())[name];
      const LAG_POLL = { timeout: 10_000, interval: 50 };
      await (await record(transport, group, [type])).subscription.stop();
      await record(transport, other, [type]);
      const messages = Array.from({ length: 5 }, (_, i) => testMessage(type, `order-${i}`, { i }));
      await transport.publish(messages);

      // A stopped group owes what was published while it was away; a group that keeps up owes nothing.
      await expect.poll(() => lagOf(group), LAG_POLL).toBe(messages.length);
      await expect.poll(() => lagOf(other), LAG_POLL).toBe(0);

      // Delivered and held unacked still counts; acked, it does not.
      const held: Delivery[] = [];
      await record(transport, group, [type], { onDelivery: (delivery) => void held.push(delivery) });
      await expect.poll(() => held.length, POLL).toBe(messages.length);
      expect(await lagOf(group)).toBe(messages.length);
      for (const delivery of held) delivery.ack();
      await expect.poll(() => lagOf(group), LAG_POLL).toBe(0);
    });

    it('delivers the messages of one key in publish order while different keys overlap', async () => {
      const type = randomType();
      const group = randomWord();
      const keys = Array.from({ length: 20 }, (_, i) => `order-${i}`);
      const perKey = 50;
      const arrivals = new Map<string, number[]>(keys.map((k) => [k, []]));
      const inFlightKeys = new Map<string, number>();
      let maxConcurrentKeys = 0;
      let handled = 0;
      await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          const { partitionkey: key, data } = delivery.message as Envelope<{ n: number }>;
          arrivals.get(key)!.push(data.n);
          inFlightKeys.set(key, (inFlightKeys.get(key) ?? 0) + 1);
          maxConcurrentKeys = Math.max(maxConcurrentKeys, inFlightKeys.size);
          setTimeout(
            () => {
              const left = inFlightKeys.get(key)! - 1;
              if (left === 0) inFlightKeys.delete(key);
              else inFlightKeys.set(key, left);
              handled++;
              delivery.ack();
            },
            Math.floor(Math.random() * 4),
          );
        },
      });
      for (let n = 0; n < perKey; n += 10) {
        const batch: Envelope[] = [];
        for (let m = n; m < n + 10; m++) for (const key of keys) batch.push(testMessage(type, key, { n: m }));
        await transport.publish(batch);
      }

      await expect.poll(() => handled, { timeout: 20_000, interval: 5 }).toBe(keys.length * perKey);
      const inOrder = Array.from({ length: perKey }, (_, n) => n);
      for (const key of keys) expect(arrivals.get(key), key).toEqual(inOrder);
      expect(maxConcurrentKeys).toBeGreaterThan(1);
    });

    it('delivers a nacked message again after at least the delay, with a higher delivery count', async () => {
      const type = randomType();
      const group = randomWord();
      const times: number[] = [];
      const { received } = await record(transport, group, [type], {
        onDelivery: (delivery) => {
          times.push(Date.now());
          if (delivery.deliveryCount === 1) delivery.nack(250);
          else delivery.ack();
        },
      });
      const message = testMessage(type, 'k');
      await transport.publish([message]);

      await expect.poll(() => received.length, POLL).toBe(2);
      // No marker: a redelivery may come behind later messages of its partition, so only time (more
      // than the nack delay) shows no third delivery follows.
      await delay(300);
      expect(received).toHaveLength(2);
      expect(received.map((r) => r.delivery.message.id)).toEqual([message.id, message.id]);
      expect(received.map((r) => r.delivery.deliveryCount)).toEqual([1, 2]);
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(250);
    });

    it('redelivers unacked messages after a graceful reopen, and never acked ones', async () => {
      const type = randomType();
      const group = randomWord();
      const messages = Array.from({ length: 20 }, (_, i) => testMessage(type, `order-${i % 3}`, { i }));
      const first = await record(transport, group, [type], {
        onDelivery: (delivery) => {
          if ((delivery.message.data as { i: number }).i % 2 === 0) delivery.ack();
        },
      });
      await transport.publish(messages);
      await expect.poll(() => first.received.length, POLL).toBe(messages.length);
      const keys = messages.map((m) => m.partitionkey);

      transport = await harness.reopen();
      const second = await record(transport, group, [type]);
      const unacked = messages.filter((_, i) => i % 2 === 1);
      // Handed out again at the restart, the unacked come ahead of messages published after it.
      const markers = markersFor(type, keys);
      await transport.publish(markers);
      await expect.poll(() => hasAll(second.received, [...unacked, ...markers]), POLL).toBe(true);
      expect(idsOf(second.received).sort()).toEqual([...unacked, ...markers].map((m) => m.id).sort());

      // Acked after the reopen: gone for good. One fresh message per key is the marker.
      transport = await harness.reopen();
      const third = await record(transport, group, [type]);
      const fresh = [...new Set(keys)].map((key, n) => testMessage(type, key, { i: 99 + n }));
      await transport.publish(fresh);
      await expect.poll(() => hasAll(third.received, fresh), POLL).toBe(true);
      const freshIs = third.received.map((r) => (r.delivery.message.data as { i: number }).i);
      expect(freshIs.sort((x, y) => x - y)).toEqual(fresh.map((_, n) => 99 + n));
    });

    it('redelivers a message to one group only', async () => {
      const type = randomType();
      const [target, bystander] = [randomWord(), randomWord()];
      const a = await record(transport, target, [type]);
      const b = await record(transport, bystander, [type]);
      const message = testMessage(type, 'order-1', { n: 1 });
      await transport.publish([message]);
      await expect.poll(() => [a.received.length, b.received.length], POLL).toEqual([1, 1]);

      await transport.redeliver(target, message);
      // A later message of the same key: once a group has it, it has passed the redelivery.
      const marker = testMessage(type, 'order-1', { n: 2 });
      await transport.publish([marker]);
      await expect.poll(() => hasAll(a.received, [marker]) && hasAll(b.received, [marker]), POLL).toBe(true);
      expect(idsOf(a.received)).toEqual([message.id, message.id, marker.id]);
      expect(idsOf(b.received)).toEqual([message.id, marker.id]);
    });

    it('gives the unacked deliveries of a stopped copy to the remaining copy of its group', async () => {
      const type = randomType();
      const group = randomWord();
      const held: Delivery[] = [];
      const byRemaining: string[] = [];
      const stopping = await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => void held.push(delivery),
      });
      await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          byRemaining.push(delivery.message.id);
          delivery.ack();
        },
      });
      const messages = Array.from({ length: 120 }, (_, i) => testMessage(type, `order-${i % 12}`, { i }));
      await transport.publish(messages);
      await expect.poll(() => held.length + byRemaining.length, POLL).toBeGreaterThanOrEqual(messages.length);
      expect(held.length).toBeGreaterThan(0);

      await stopping.stop();
      // Acks of a stopped copy come too late; they must not throw (nor lose the handed-back message).
      for (const delivery of held) delivery.ack();
      await expect.poll(() => new Set(byRemaining).size, POLL).toBe(messages.length);
      expect(new Set(byRemaining)).toEqual(new Set(messages.map((m) => m.id)));
    });

    it('pauses a partition at maxInFlight unacked deliveries while other partitions go on', async () => {
      const type = randomType();
      const group = randomWord();
      const [busyKey, otherKey] = keysInDistinctPartitions(transport.partitions, 2) as [string, string];
      const maxInFlight = 5;
      const unacked: Delivery[] = [];
      const busyOrder: number[] = [];
      let maxUnacked = 0;
      let others = 0;
      await transport.subscribe({
        group,
        types: [type],
        maxInFlight,
        onDelivery: (delivery) => {
          if (delivery.message.partitionkey === otherKey) {
            others++;
            delivery.ack();
            return;
          }
          busyOrder.push((delivery.message.data as { i: number }).i);
          unacked.push(delivery);
          maxUnacked = Math.max(maxUnacked, unacked.length);
        },
      });
      const busy = Array.from({ length: 30 }, (_, i) => testMessage(type, busyKey, { i }));
      await transport.publish(busy);
      await expect.poll(() => busyOrder.length, POLL).toBe(maxInFlight);
      // No marker: the paused partition's next message is itself what must not come; only time shows it.
      await delay(200);
      expect(busyOrder).toHaveLength(maxInFlight);

      // Another partition is not held up by the paused one.
      await transport.publish([testMessage(type, otherKey, { i: -1 })]);
      await expect.poll(() => others, POLL).toBe(1);
      expect(busyOrder).toHaveLength(maxInFlight);

      unacked.shift()!.ack();
      await expect.poll(() => busyOrder.length, POLL).toBe(maxInFlight + 1);
      // No marker, as above: only time shows the window let exactly one more through.
      await delay(100);
      expect(busyOrder).toHaveLength(maxInFlight + 1);

      while (busyOrder.length < busy.length || unacked.length > 0) {
        await expect.poll(() => unacked.length, POLL).toBeGreaterThan(0);
        // Ack from the middle too: the window is about the count, not the order of acks.
        unacked.splice(Math.floor(Math.random() * unacked.length), 1)[0]!.ack();
      }
      expect(maxUnacked).toBe(maxInFlight);
      expect(busyOrder).toEqual(busy.map((_, i) => i));
    });
  });
}
