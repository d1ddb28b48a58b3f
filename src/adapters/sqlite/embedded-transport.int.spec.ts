import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { createSqliteOutbox, type SqliteOutbox } from './sqlite-outbox.ts';
import {
  describeTransportContract,
  randomType,
  randomWord,
  sleep,
  testMessage,
  waitFor,
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

describe('embedded transport', () => {
  let harness: EmbeddedHarness | undefined;

  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
  });

  function outboxSeqs(outbox: SqliteOutbox): number[] {
    return outbox.readAfter(0, 10_000).map((r) => r.seq);
  }

  it('keeps the nack count across a reopen', async () => {
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
    await subscribe(harness.transport, (delivery) => delivery.nack(60_000));
    await harness.transport.publish([testMessage(type, 'k')]);
    await waitFor(() => counts.length === 1, 'the first delivery');

    let transport = await harness.reopen();
    // The restart stands in for the delay; the count goes on from the saved nack.
    await subscribe(transport, (delivery) => delivery.nack(10));
    await waitFor(() => counts.length === 3, 'the delivery after the reopen and its retry');

    transport = await harness.reopen();
    await subscribe(transport, (delivery) => delivery.ack());
    await waitFor(() => counts.length === 4, 'the delivery after the second reopen');
    expect(counts).toEqual([1, 2, 3, 4]);

    transport = await harness.reopen();
    await subscribe(transport, (delivery) => delivery.ack());
    await sleep(200);
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
    let slowSeen = 0;
    await transport.subscribe({
      group: slow,
      types: [type],
      onDelivery: (delivery) => {
        if ((delivery.message.data as { i: number }).i < 3) delivery.ack();
        slowSeen++;
      },
    });
    const messages = Array.from({ length: 10 }, (_, i) => testMessage(type, 'k', { i }));
    await transport.publish([testMessage(otherType, 'k'), ...messages.slice(0, 5)]);
    await transport.publish([testMessage(otherType, 'k'), ...messages.slice(5)]);
    await waitFor(() => slowSeen === 10, 'the slow group to see everything');
    const seqs = outboxSeqs(harness.outbox);
    expect(seqs).toHaveLength(12);
    // seqs[0] is the other type's message, seqs[1..3] the three messages the slow group acked.
    const slowFloor = seqs[3]!;

    await waitFor(
      () => outboxSeqs(harness!.outbox)[0] === slowFloor + 1,
      'the rows below the slow floor to go',
    );
    await sleep(200);
    expect(outboxSeqs(harness.outbox)).toEqual(seqs.filter((seq) => seq > slowFloor));
  });

  it('keeps every row while no group is known, and while a known group is stopped', async () => {
    harness = await openEmbedded({ pruneIntervalMs: 10 });
    const { transport } = harness;
    const type = randomType();
    await transport.publish([testMessage(type, 'a'), testMessage(type, 'b')]);
    await sleep(150);
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
    await waitFor(() => seen === 2, 'the stopped group to take the first two');
    await subscription.stop();
    await waitFor(() => outboxSeqs(harness!.outbox).length === 0, 'the acked rows to be pruned');

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
    await waitFor(() => activeSeen === 1, 'the active group');
    await sleep(150);
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
    await waitFor(() => seen === 40, 'every message');
    await sleep(50);

    const transport = await harness.crash();
    const again: number[] = [];
    await transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        again.push((delivery.message.data as { i: number }).i);
        delivery.ack();
      },
    });
    const unacked = messages.map((_, i) => i).filter((i) => i >= 10 && i % 3 === 0);
    await waitFor(() => unacked.every((i) => again.includes(i)), 'the unacked messages');
    await sleep(100);
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
    await waitFor(() => acked === 500, 'every ack');
    await sleep(50);
    const after = harness.database.stats();
    // One publish, then one offset save for all the acks.
    expect(after.writes - before.writes).toBeLessThanOrEqual(3);
    const floor = harness.database.db.prepare('SELECT floor FROM bus_groups WHERE name = ?').get(group) as {
      floor: number;
    };
    expect(floor.floor).toBe(harness.outbox.head());
  });

  it('loses and reorders nothing when groups fall behind and switch between live records and history', async () => {
    // No pruning: the late group, new to the bus, must find the whole history still retained.
    harness = await openEmbedded({ maxBuffered: 50, pruneIntervalMs: 0 });
    const { transport } = harness;
    const type = randomType();
    const keys = 30;
    const total = 3_000;
    const received = new Map<string, number[][]>();
    const subscribe = async (group: string) => {
      const perKey: number[][] = Array.from({ length: keys }, () => []);
      received.set(group, perKey);
      await transport.subscribe({
        group,
        types: [type],
        onDelivery: (delivery) => {
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
    await waitFor(
      () => count(early) >= total && count(late) >= total,
      'both groups to get everything',
      30_000,
    );
    await sleep(100);
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
    await waitFor(() => held.length + byB.length === messages.length, 'every message once');
    expect(held.length).toBeGreaterThan(0);

    await copyA.stop();
    const heldIds = held.map((d) => d.message.id);
    await waitFor(() => byB.length === messages.length, 'the held messages to reach the other copy');
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
    await transport.subscribe({
      group,
      types: [type],
      onDelivery: (delivery) => {
        again++;
        delivery.ack();
      },
    });
    await sleep(200);
    expect(again).toBe(0);
    expect(new Set(byB).size).toBe(messages.length);
  });

  it('rejects invalid options with one message listing every problem', () => {
    const database = openSqliteDatabase({ filename: ':memory:' });
    const outbox = createSqliteOutbox(database);
    expect(() => createEmbeddedTransport({ database, outbox, partitions: 0, pruneIntervalMs: -1 })).toThrow(
      /partitions must be an integer from 1 to 4096.*pruneIntervalMs must be a number >= 0/,
    );
    void database.close();
  });
});
