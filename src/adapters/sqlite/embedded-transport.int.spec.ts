import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../kernel/envelope.ts';
import { InvalidOptionsError } from '../../kernel/errors.ts';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { createSqliteOutbox, type SqliteOutbox } from './sqlite-outbox.ts';
import {
  describeTransportContract,
  randomType,
  randomWord,
  testMessage,
  type TransportHarness,
} from '../../messaging/testing/transport-contract.ts';
import type { Delivery, Transport } from '../../messaging/transport.ts';
import { createEmbeddedTransport, type EmbeddedTransportOptions } from './embedded-transport.ts';

interface EmbeddedHarness extends TransportHarness {
  database: SqliteDatabase;
  outbox: SqliteOutbox;
  /** Closes the database under a running transport, as a crash would, and opens a new one. */
  crash(): Promise<Transport>;
}

async function openEmbedded(options: Partial<EmbeddedTransportOptions> = {}): Promise<EmbeddedHarness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-bus-'));
  const filename = path.join(dir, 'bus.sqlite');
  const open = async () => {
    const database = openSqliteDatabase({ filename });
    const outbox = createSqliteOutbox(database);
    const transport = createEmbeddedTransport({ pruneIntervalMs: 50, ...options, database, outbox });
    await transport.start();
    return { database, outbox, transport };
  };
  let current = await open();
  const harness: EmbeddedHarness = {
    transport: current.transport,
    database: current.database,
    outbox: current.outbox,
    async reopen() {
      await current.transport.close();
      await current.database.close();
      current = await open();
      Object.assign(harness, current);
      return current.transport;
    },
    async crash() {
      // No transport.close(): offsets are only what the lazy saves wrote.
      await current.database.close();
      current = await open();
      Object.assign(harness, current);
      return current.transport;
    },
    async cleanup() {
      await current.transport.close();
      await current.database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

describeTransportContract('embedded (SQLite)', () => openEmbedded());

/** Deliveries are in-process callbacks: look often, and give a loaded machine time. */
const WAIT = { timeout: 10_000, interval: 5 };

/**
 * One marker message per key, published after the messages under test: a group has been handed
 * every earlier message of those keys' partitions once it has all the markers (in-partition order),
 * so an absence check waits for them instead of sleeping.
 */
function markersFor(type: string, keys: readonly string[]): Envelope[] {
  return [...new Set(keys)].map((key) => testMessage(type, key, { marker: true }));
}

function isMarker(message: Envelope): boolean {
  return (message.data as { marker?: boolean } | null)?.marker === true;
}

/** Every write queued before it (offset saves, nack rows, prunes) has committed once this resolves. */
function flushed(database: SqliteDatabase): Promise<void> {
  return database.write(() => undefined);
}

describe('embedded transport', () => {
  let harness: EmbeddedHarness | undefined;

  afterEach(async () => {
    vi.useRealTimers();
    await harness?.cleanup();
    harness = undefined;
  });

  function outboxSeqs(outbox: SqliteOutbox): number[] {
    return outbox.readAfter(0, 10_000).map((r) => r.seq);
  }

  it('keeps the nack of a fractional delay (backoff with jitter) across a reopen', async () => {
    harness = await openEmbedded();
    const type = randomType();
    const group = randomWord();
    const counts: number[] = [];
    const subscribe = (transport: Transport, decide: (delivery: Delivery) => void) =>
      transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          counts.push(delivery.deliveryCount);
          decide(delivery);
        },
      });
    await subscribe(harness.transport, (delivery) => delivery.nack(60_000.37));
    await harness.transport.publish([testMessage(type, 'k')]);
    await vi.waitFor(() => expect(counts).toHaveLength(1), WAIT);
    await vi.waitFor(
      () =>
        expect(harness!.database.db.prepare('SELECT COUNT(*) AS n FROM bus_nacks').get()).toEqual({ n: 1 }),
      WAIT,
    );

    const transport = await harness.reopen();
    await subscribe(transport, (delivery) => delivery.ack());
    await vi.waitFor(() => expect(counts).toHaveLength(2), WAIT);
    expect(counts).toEqual([1, 2]);
  });

  it('keeps the nack count across a reopen', async () => {
    harness = await openEmbedded();
    const type = randomType();
    const group = randomWord();
    const counts: number[] = [];
    const markers: Envelope[] = [];
    const subscribe = (transport: Transport, decide: (delivery: Delivery) => void) =>
      transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          if (isMarker(delivery.message)) {
            markers.push(delivery.message);
            delivery.ack();
            return;
          }
          counts.push(delivery.deliveryCount);
          decide(delivery);
        },
      });
    await subscribe(harness.transport, (delivery) => delivery.nack(60_000));
    await harness.transport.publish([testMessage(type, 'k')]);
    await vi.waitFor(() => expect(counts).toHaveLength(1), WAIT);

    let transport = await harness.reopen();
    // The restart stands in for the delay; the count goes on from the saved nack.
    await subscribe(transport, (delivery) => delivery.nack(10));
    await vi.waitFor(() => expect(counts).toHaveLength(3), WAIT);

    transport = await harness.reopen();
    await subscribe(transport, (delivery) => delivery.ack());
    await vi.waitFor(() => expect(counts).toHaveLength(4), WAIT);
    expect(counts).toEqual([1, 2, 3, 4]);

    transport = await harness.reopen();
    await subscribe(transport, (delivery) => delivery.ack());
    // The acked message would come again before a later message of its key.
    await transport.publish(markersFor(type, ['k']));
    await vi.waitFor(() => expect(markers).toHaveLength(1), WAIT);
    expect(counts).toHaveLength(4);
    expect(harness.database.db.prepare('SELECT COUNT(*) AS n FROM bus_nacks').get()).toEqual({ n: 0 });
  });

  it('prunes only the outbox rows every known group has passed', async () => {
    harness = await openEmbedded({ pruneIntervalMs: 20 });
    const { transport } = harness;
    const [type, otherType] = [randomType(), randomType()];
    const [fast, slow, other] = [randomWord(), randomWord(), randomWord()];
    const ack = (delivery: Delivery) => delivery.ack();
    await transport.subscribe({ group: fast, types: [type], onDelivery: ack });
    await transport.subscribe({ group: other, types: [otherType], onDelivery: ack });
    // The slow group acks the first three messages of its type, and holds the rest.
    const held: Delivery[] = [];
    await transport.subscribe({
      group: slow,
      types: [type],
      onDelivery: (delivery) => {
        if ((delivery.message.data as { i: number }).i < 3) delivery.ack();
        else held.push(delivery);
      },
    });
    const messages = Array.from({ length: 10 }, (_, i) => testMessage(type, 'k', { i }));
    await transport.publish([testMessage(otherType, 'k'), ...messages.slice(0, 5)]);
    await transport.publish([testMessage(otherType, 'k'), ...messages.slice(5)]);
    await vi.waitFor(() => expect(held).toHaveLength(7), WAIT);
    const seqs = outboxSeqs(harness.outbox);
    expect(seqs).toHaveLength(12);
    // seqs[0] is the other type's message, seqs[1..3] the three messages the slow group acked.
    const slowFloor = seqs[3]!;

    await vi.waitFor(() => expect(outboxSeqs(harness!.outbox)[0]).toBe(slowFloor + 1), WAIT);
    expect(outboxSeqs(harness.outbox)).toEqual(seqs.filter((seq) => seq > slowFloor));
    // The slow group acks one more: pruning follows its floor by that one row, and only that one
    // (the rows above the floor were kept by every earlier prune too).
    held[0]!.ack();
    const nextFloor = seqs[4]!;
    await vi.waitFor(() => expect(outboxSeqs(harness!.outbox)[0]).toBe(nextFloor + 1), WAIT);
    expect(outboxSeqs(harness.outbox)).toEqual(seqs.filter((seq) => seq > nextFloor));
  });

  it('keeps every row while no group is known, and while a known group is stopped', async () => {
    // The prune timer runs when the test says: "nothing was pruned" is then a number of prune rounds.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    harness = await openEmbedded({ pruneIntervalMs: 10 });
    const { transport, database } = harness;
    const pruneRounds = async (rounds: number) => {
      vi.advanceTimersByTime(rounds * 10);
      await flushed(database);
    };
    const type = randomType();
    await transport.publish([testMessage(type, 'a'), testMessage(type, 'b')]);
    await pruneRounds(15);
    expect(outboxSeqs(harness.outbox)).toHaveLength(2);

    const stopped = randomWord();
    let seen = 0;
    const subscription = await transport.subscribe({
      group: stopped,
      types: [type],
      onDelivery: (delivery) => {
        seen++;
        delivery.ack();
      },
    });
    await vi.waitFor(() => expect(seen).toBe(2), WAIT);
    await subscription.stop();
    await vi.waitFor(async () => {
      await pruneRounds(1);
      expect(outboxSeqs(harness!.outbox)).toHaveLength(0);
    }, WAIT);

    const active = randomWord();
    let activeSeen = 0;
    await transport.subscribe({
      group: active,
      types: [type],
      onDelivery: (delivery) => {
        activeSeen++;
        delivery.ack();
      },
    });
    await transport.publish([testMessage(type, 'c')]);
    await vi.waitFor(() => expect(activeSeen).toBe(1), WAIT);
    // The active group's floor is saved (its ack's write has committed); the stopped one's is below 'c'.
    await flushed(database);
    await pruneRounds(15);
    expect(outboxSeqs(harness.outbox)).toHaveLength(1);
  });

  it('delivers every unacked message again after a crash', async () => {
    harness = await openEmbedded();
    const type = randomType();
    const group = randomWord();
    const messages = Array.from({ length: 40 }, (_, i) => testMessage(type, `k${i % 5}`, { i }));
    let seen = 0;
    await harness.transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        seen++;
        const { i } = delivery.message.data as { i: number };
        if (i < 10 || i % 3 !== 0) delivery.ack();
      },
    });
    await harness.transport.publish(messages);
    await vi.waitFor(() => expect(seen).toBe(40), WAIT);
    // The lazy offset save queued by the acks has committed.
    await flushed(harness.database);

    const transport = await harness.crash();
    const again: number[] = [];
    const markersSeen: Envelope[] = [];
    await transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        if (isMarker(delivery.message)) markersSeen.push(delivery.message);
        else again.push((delivery.message.data as { i: number }).i);
        delivery.ack();
      },
    });
    const markers = markersFor(
      type,
      messages.map((m) => m.partitionkey),
    );
    await transport.publish(markers);
    const unacked = messages.map((_, i) => i).filter((i) => i >= 10 && i % 3 === 0);
    await vi.waitFor(() => expect(markersSeen).toHaveLength(markers.length), WAIT);
    expect(again).toEqual(expect.arrayContaining(unacked));
    // Everything below the lowest unacked message was behind the saved floor: not delivered again.
    expect(Math.min(...again)).toBe(12);
    expect(new Set(again).size).toBe(again.length);
  });

  it('saves offsets lazily: acks share group commits instead of writing one row each', async () => {
    harness = await openEmbedded({ pruneIntervalMs: 0 });
    const type = randomType();
    const group = randomWord();
    let acked = 0;
    await harness.transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        acked++;
        delivery.ack();
      },
    });
    const before = harness.database.stats();
    await harness.transport.publish(Array.from({ length: 500 }, (_, i) => testMessage(type, `k${i}`)));
    await vi.waitFor(() => expect(acked).toBe(500), WAIT);
    const floor = () =>
      (
        harness!.database.db.prepare('SELECT floor FROM bus_groups WHERE name = ?').get(group) as {
          floor: number;
        }
      ).floor;
    await expect.poll(floor, WAIT).toBe(harness.outbox.head());
    const after = harness.database.stats();
    // One publish, then one offset save for all the acks.
    expect(after.writes - before.writes).toBeLessThanOrEqual(3);
  });

  it('loses and reorders nothing when groups fall behind and switch between live records and history', async () => {
    // No pruning: the late group, new to the bus, must find the whole history still retained.
    harness = await openEmbedded({ maxBuffered: 50, pruneIntervalMs: 0 });
    const { transport } = harness;
    const type = randomType();
    const keys = 30;
    const total = 3_000;
    const received = new Map<string, number[][]>();
    const markersSeen = new Map<string, number>();
    const subscribe = async (group: string) => {
      const perKey: number[][] = Array.from({ length: keys }, () => []);
      received.set(group, perKey);
      markersSeen.set(group, 0);
      await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
          if (isMarker(delivery.message)) {
            markersSeen.set(group, markersSeen.get(group)! + 1);
            delivery.ack();
            return;
          }
          const { k, n } = delivery.message.data as { k: number; n: number };
          perKey[k]!.push(n);
          setTimeout(() => delivery.ack(), Math.floor(Math.random() * 2));
        },
      });
    };
    const [early, late] = [randomWord(), randomWord()];
    await subscribe(early);
    // Batches of 200 overflow the buffer of 50 at once: the groups keep dropping to history reads.
    for (let from = 0; from < total; from += 200) {
      const batch = Array.from({ length: 200 }, (_, i) => {
        const n = from + i;
        return testMessage(type, `k${n % keys}`, { k: n % keys, n });
      });
      await transport.publish(batch);
      // The late group joins with history behind it while commits keep coming.
      if (from === 1_000) await subscribe(late);
    }

    const count = (group: string) => received.get(group)!.reduce((sum, list) => sum + list.length, 0);
    // After every message of every key: a group has all it will get once it has these.
    const markers = markersFor(
      type,
      Array.from({ length: keys }, (_, k) => `k${k}`),
    );
    await transport.publish(markers);
    await vi.waitFor(
      () => {
        expect(markersSeen.get(early)).toBe(markers.length);
        expect(markersSeen.get(late)).toBe(markers.length);
      },
      { ...WAIT, timeout: 30_000 },
    );
    for (const group of [early, late]) {
      expect(count(group)).toBe(total);
      received.get(group)!.forEach((list, k) => {
        const expected = Array.from({ length: total / keys }, (_, i) => k + i * keys);
        expect(list, `${group} key ${k}`).toEqual(expected);
      });
    }
  });

  it('hands the unacked deliveries of a stopped copy to the remaining copy, in order', async () => {
    harness = await openEmbedded();
    const type = randomType();
    const group = randomWord();
    const held: Delivery[] = [];
    const byB: string[] = [];
    const copyA = await harness.transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => void held.push(delivery),
    });
    await harness.transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        byB.push(delivery.message.id);
        delivery.ack();
      },
    });
    const messages = Array.from({ length: 60 }, (_, i) => testMessage(type, `k${i % 12}`, { i }));
    await harness.transport.publish(messages);
    await vi.waitFor(() => expect(held.length + byB.length).toBe(messages.length), WAIT);
    expect(held.length).toBeGreaterThan(0);

    await copyA.stop();
    const heldIds = held.map((d) => d.message.id);
    await vi.waitFor(() => expect(byB).toHaveLength(messages.length), WAIT);
    // Each key's messages reach the remaining copy in publish order.
    const order = new Map(messages.map((m, i) => [m.id, i]));
    const handedOver = byB.filter((id) => heldIds.includes(id)).map((id) => order.get(id)!);
    for (let k = 0; k < 12; k++) {
      const ofKey = handedOver.filter((i) => i % 12 === k);
      expect(ofKey).toEqual([...ofKey].sort((x, y) => x - y));
    }
    // A stopped copy's late acks count for nothing.
    for (const delivery of held) delivery.ack();

    const transport = await harness.reopen();
    let again = 0;
    let markersSeen = 0;
    await transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        if (isMarker(delivery.message)) markersSeen++;
        else again++;
        delivery.ack();
      },
    });
    const markers = markersFor(
      type,
      messages.map((m) => m.partitionkey),
    );
    await transport.publish(markers);
    await vi.waitFor(() => expect(markersSeen).toBe(markers.length), WAIT);
    expect(again).toBe(0);
    expect(new Set(byB).size).toBe(messages.length);
  });

  it('rejects invalid options with one message listing every problem', () => {
    const database = openSqliteDatabase({ filename: ':memory:' });
    const outbox = createSqliteOutbox(database);
    const create = () => createEmbeddedTransport({ database, outbox, partitions: 0, pruneIntervalMs: -1 });
    expect(create).toThrow(InvalidOptionsError);
    expect(create).toThrow(
      /partitions must be an integer from 1 to 4096[^]*pruneIntervalMs must be a number >= 0/,
    );
    void database.close();
  });
});
