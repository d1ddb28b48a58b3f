/**
 * Throughput of the NATS transport: publish → consume → ack, one group, on the local server.
 *
 *   node bin/run-ts.mjs bench/micro-nats.ts [messages] [batch] [keys]
 *
 * Prints one JSON line per maxInFlight setting. Streams of the run's namespace are deleted at the end.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createEnvelope, type Envelope } from '../src/kernel/envelope.ts';
import { createNatsTransport } from '../src/adapters/nats/nats-transport.ts';

const servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const total = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 500);
const keys = Number(process.argv[4] ?? 1_000);

async function run(maxInFlight: number): Promise<void> {
  const namespace = `bench-${Date.now().toString(36)}`;
  const transport = createNatsTransport({ servers, namespace });
  await transport.start();
  const type = 'bench.Ping';
  let acked = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await transport.subscribe({
    group: 'bench',
    types: [type],
    maxInFlight,
    onDelivery: (delivery) => {
      delivery.ack();
      if (++acked === total) done();
    },
  });
  const messages: Envelope[] = Array.from({ length: total }, (_, i) =>
    createEnvelope(
      { type, data: { i, sku: 'sku-1', quantity: 2 }, correlationId: `order-${i % keys}` },
      { source: 'orderflow/bench' },
    ),
  );
  const started = performance.now();
  let publishedAt = 0;
  for (let from = 0; from < total; from += batch) await transport.publish(messages.slice(from, from + batch));
  publishedAt = performance.now();
  await finished;
  const ended = performance.now();
  await transport.close();
  console.log(
    JSON.stringify({
      maxInFlight,
      messages: total,
      batch,
      keys,
      partitions: transport.partitions,
      publishPerSec: Math.round(total / ((publishedAt - started) / 1000)),
      endToEndPerSec: Math.round(total / ((ended - started) / 1000)),
      durationS: Number(((ended - started) / 1000).toFixed(2)),
    }),
  );
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names())
    if (name.startsWith(`${namespace}_`)) await jsm.streams.delete(name);
  await nc.close();
}

for (const maxInFlight of [256, 1]) await run(maxInFlight);
