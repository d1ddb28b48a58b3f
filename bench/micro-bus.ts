// Micro-benchmark of the embedded bus end to end: outbox → embedded transport → consumer → commit.
// Run: node bin/run-ts.mjs bench/micro-bus.ts [messages]
// Prints a readable line to stderr and, last on stdout, one JSON object.
import { Type } from '@sinclair/typebox';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../src/adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../src/adapters/sqlite/sqlite-outbox.ts';
import { createConsumer, type Consumer } from '../src/messaging/consumer.ts';
import { createSqliteDeadLetterStore } from '../src/adapters/sqlite/sqlite-dead-letter-store.ts';
import type { HandlerContext } from '../src/messaging/handler.ts';
import { createEnvelope, type Envelope } from '../src/kernel/envelope.ts';
import { defineMessage, MessageCatalog } from '../src/messaging/message-catalog.ts';
import { createEmbeddedTransport } from '../src/adapters/sqlite/embedded-transport.ts';

const MESSAGES = Number(process.argv[2] ?? 100_000);
const KEYS = 1_000;
const BATCH = 500;
const CONCURRENT_BATCHES = 4;

const Ping = defineMessage({
  type: 'bench.Ping',
  kind: 'command',
  schema: Type.Object({ n: Type.Integer() }),
  description: 'benchmark input',
});
const Pong = defineMessage({
  type: 'bench.Pong',
  kind: 'event',
  schema: Type.Object({ n: Type.Integer() }),
  description: 'benchmark second hop',
});
const catalog = new MessageCatalog().register(Ping, Pong);

interface RunResult {
  seconds: number;
  commits: number;
  writes: number;
}

async function run(twoHop: boolean): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-bus-'));
  const database = openSqliteDatabase({ filename: path.join(dir, 'bench.sqlite'), synchronous: 'FULL' });
  const outbox = createSqliteOutbox(database);
  const store = createSqliteEventStore({ database, outbox });
  const deadLetters = createSqliteDeadLetterStore({ database });
  const transport = createEmbeddedTransport({ database, outbox });
  await transport.start();

  let handled = 0;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const observer = {
    handled: (group: string) => {
      if (group === 'bench-last' && ++handled === MESSAGES) finished();
    },
  };
  const common = { transport, store, deadLetters, catalog, source: 'orderflow/bench', observer };
  const consumers: Consumer[] = [
    createConsumer({
      ...common,
      group: {
        group: twoHop ? 'bench-first' : 'bench-last',
        handlers: {
          [Ping.type]: (message: Envelope<{ n: number }>, context: HandlerContext) => {
            if (twoHop) context.send({ type: Pong.type, data: { n: message.data.n } });
          },
        },
      },
    }),
  ];
  if (twoHop) {
    consumers.push(
      createConsumer({ ...common, group: { group: 'bench-last', handlers: { [Pong.type]: () => {} } } }),
    );
  }
  for (const consumer of consumers) await consumer.start();

  const before = database.stats();
  const started = performance.now();
  let next = 0;
  async function publisher(): Promise<void> {
    while (next < MESSAGES) {
      const from = next;
      const to = Math.min(MESSAGES, from + BATCH);
      next = to;
      const batch: Envelope[] = [];
      for (let n = from; n < to; n++) {
        const key = `order-${n % KEYS}`;
        batch.push(
          createEnvelope({ type: Ping.type, data: { n }, correlationId: key }, { source: 'orderflow/bench' }),
        );
      }
      await store.commit({ messages: batch });
    }
  }
  await Promise.all(Array.from({ length: CONCURRENT_BATCHES }, publisher));
  await done;
  const seconds = (performance.now() - started) / 1000;
  const after = database.stats();

  for (const consumer of consumers) await consumer.stop();
  await transport.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { seconds, commits: after.commits - before.commits, writes: after.writes - before.writes };
}

const oneHop = await run(false);
const twoHop = await run(true);
const messagesPerSec = Math.round(MESSAGES / oneHop.seconds);
const twoHopMessagesPerSec = Math.round(MESSAGES / twoHop.seconds);
process.stderr.write(
  `bus: ${MESSAGES} messages over ${KEYS} keys, synchronous=FULL: ` +
    `one hop ${messagesPerSec} msg/s (${oneHop.seconds.toFixed(2)} s, ${oneHop.commits} commits, ` +
    `${(oneHop.writes / oneHop.commits).toFixed(0)} writes/commit); ` +
    `two hops ${twoHopMessagesPerSec} msg/s (${twoHop.seconds.toFixed(2)} s, ${twoHop.commits} commits)\n`,
);
console.log(
  JSON.stringify({
    benchmark: 'bus',
    messages: MESSAGES,
    messagesPerSec,
    twoHopMessagesPerSec,
    commits: oneHop.commits,
    twoHopCommits: twoHop.commits,
    synchronous: 'FULL',
  }),
);
