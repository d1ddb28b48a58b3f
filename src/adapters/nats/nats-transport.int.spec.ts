import { afterEach, describe, expect, it, vi } from 'vitest';
import { deleteStreams } from '../../../test/support/distributed.ts';
import { SERVICE_URLS, serviceAvailable } from '../../../test/support/services.ts';
import { createEnvelope, partitionOf, type Envelope } from '../../kernel/envelope.ts';
import {
  describeTransportContract,
  randomType,
  randomWord,
  testMessage,
  type TransportHarness,
} from '../../messaging/testing/transport-contract.ts';
import type { Delivery, Transport } from '../../messaging/transport.ts';
import { createNatsTransport, type NatsTransportOptions } from './nats-transport.ts';

const available = await serviceAvailable('nats');

export async function openNats(options: Partial<NatsTransportOptions> = {}): Promise<TransportHarness> {
  const servers = options.servers ?? SERVICE_URLS.nats;
  const namespace = options.namespace ?? `test-${randomWord(12)}`;
  const open = async () => {
    // Short fetches: each test stops its subscriptions, which waits for the fetch in flight to end.
    const transport = createNatsTransport({ fetchExpiresMs: 2_000, ...options, servers, namespace });
    await transport.start();
    return transport;
  };
  let current = await open();
  const harness: TransportHarness = {
    transport: current,
    async reopen() {
      await current.close();
      current = await open();
      harness.transport = current;
      return current;
    },
    async cleanup() {
      await current.close();
      await deleteStreams(namespace, servers);
    },
  };
  return harness;
}

describe.runIf(available)('NATS JetStream transport', () => {
  describeTransportContract('NATS JetStream', () => openNats());

  describe('adapter', () => {
    let harness: TransportHarness | undefined;

    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    function collect(transport: Transport, group: string, types: string[], into: Delivery[]) {
      return transport.subscribe({
        group,
        types,
        onDelivery: (delivery) => {
          into.push(delivery);
          delivery.ack();
        },
      });
    }

    it('drops a second publish of the same id within the duplicate window (Nats-Msg-Id)', async () => {
      harness = await openNats();
      const { transport } = harness;
      const type = randomType();
      const received: Delivery[] = [];
      await collect(transport, randomWord(), [type], received);
      const message = testMessage(type, 'k', { n: 1 });
      await transport.publish([message]);
      await transport.publish([message]);
      await transport.publish([message, testMessage(type, 'k', { n: 2 })]);
      // A marker on the same key comes after every copy: once it is in, no duplicate can follow.
      await transport.publish([testMessage(type, 'k', { n: 3 })]);
      await expect
        .poll(() => received.map((d) => (d.message.data as { n: number }).n), {
          timeout: 10_000,
          interval: 5,
        })
        .toContain(3);
      expect(received.map((d) => (d.message.data as { n: number }).n)).toEqual([1, 2, 3]);
    });

    it('carries every envelope attribute and the data unchanged', async () => {
      harness = await openNats();
      const { transport } = harness;
      const type = randomType();
      const cause = testMessage(type, 'order-7');
      const full: Envelope = createEnvelope(
        {
          type,
          data: { text: 'Grüße, 東京 "quoted"\n', list: [1, 2.5, null, true], nested: { a: { b: 'c' } } },
          partitionKey: 'sku-42',
          subject: 'order-7',
          id: `id-${randomWord()}`,
        },
        { source: 'orderflow/contract-test', now: () => new Date('2026-01-02T03:04:05.678Z') },
        cause,
      );
      const minimal = testMessage(type, 'k', null);
      const received: Delivery[] = [];
      await collect(transport, randomWord(), [type], received);
      await transport.publish([full, minimal]);
      // Waits for both messages.
      await vi.waitUntil(() => received.length === 2, { timeout: 10_000, interval: 5 });
      const byId = new Map(received.map((d) => [d.message.id, d.message]));
      expect(byId.get(full.id)).toEqual(full);
      expect(byId.get(minimal.id)).toEqual(minimal);
      expect(Object.keys(byId.get(full.id)!).sort()).toEqual(Object.keys(full).sort());
      expect(received.find((d) => d.message.id === full.id)!.partition).toBe(
        partitionOf('sku-42', transport.partitions),
      );
    });

    it("reports the lag of groups another process subscribed, and only its own namespace's", async () => {
      const namespace = `test-${randomWord(12)}`;
      harness = await openNats({ namespace });
      const type = randomType();
      const group = randomWord();
      const held: Delivery[] = [];
      await harness.transport.subscribe({ group, types: [type], onDelivery: (d) => void held.push(d) });
      await harness.transport.publish([testMessage(type, 'a'), testMessage(type, 'b')]);
      await expect.poll(() => held.length, { timeout: 10_000, interval: 5 }).toBe(2);

      // The operations role alone: it subscribes to nothing and still sees the group.
      const observer = createNatsTransport({ servers: SERVICE_URLS.nats, namespace: namespace });
      // Namespaces sharing a prefix keep apart.
      const neighbour = createNatsTransport({
        servers: SERVICE_URLS.nats,
        namespace: `${namespace}_x`,
        fetchExpiresMs: 1_000,
      });
      await observer.start();
      await neighbour.start();
      try {
        await neighbour.subscribe({ group: 'other', types: [type], onDelivery: () => undefined });
        await neighbour.publish([testMessage(type, 'c')]);
        expect(await observer.consumerLag()).toEqual({ [group]: 2 });
        await expect
          .poll(() => neighbour.consumerLag(), { timeout: 10_000, interval: 50 })
          .toEqual({ other: 1 });
        for (const delivery of held) delivery.ack();
        await expect
          .poll(() => observer.consumerLag(), { timeout: 10_000, interval: 50 })
          .toEqual({ [group]: 0 });
      } finally {
        await observer.close();
        await neighbour.close();
        await deleteStreams(`${namespace}_x`);
      }
    });

    it('rejects invalid options with one message listing every problem', () => {
      expect(() =>
        createNatsTransport({
          servers: '',
          namespace: 'a.b',
          partitions: 0,
          ackWaitMs: -1,
          fetchExpiresMs: 500,
        }),
      ).toThrow(
        /invalid NATS transport options:\n {2}- servers must name[^]*namespace must be[^]*partitions must be[^]*ackWaitMs must be[^]*fetchExpiresMs/,
      );
    });
  });
});
