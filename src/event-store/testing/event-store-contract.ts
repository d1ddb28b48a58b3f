import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../kernel/envelope.ts';
import { ConcurrencyError, isConcurrencyError } from '../../kernel/errors.ts';
import type {
  CommittedEvent,
  EventStore,
  NewEvent,
  StoredEvent,
  SubscriptionContext,
} from '../event-store.ts';

/** How long `vi.waitFor` / `expect.poll` wait here, and how often they look. */
const WAIT = { timeout: 5_000, interval: 5 };

/** What an adapter's spec hands the contract suite, once per test. */
export interface EventStoreHarness {
  store: EventStore;
  /** Closes the current store gracefully and opens a new one on the same data. */
  reopen(): Promise<EventStore>;
  /** Closes whatever store is current and removes its data. */
  cleanup(): Promise<void>;
}

/**
 * The behaviour every EventStore adapter must show, written against the port only. Tests use their
 * own random stream ids and event types, so they also hold on a database shared with other suites.
 */
export function describeEventStoreContract(name: string, setup: () => Promise<EventStoreHarness>): void {
  describe(`EventStore contract: ${name}`, () => {
    let harness: EventStoreHarness;
    let store: EventStore;

    beforeEach(async () => {
      harness = await setup();
      store = harness.store;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    async function reopen(): Promise<void> {
      store = await harness.reopen();
    }

    describe('append and expected versions', () => {
      it('numbers a new stream from version 0 and reads it back as written', async () => {
        const streamId = newStreamId();
        const metadata = { correlationId: randomUUID(), causationId: 'cause-1', tenant: 'eu-1' };
        const result = await store.append(
          streamId,
          [
            { type: 'Created', data: { n: 1, nested: { list: [1, 'two', null] } }, metadata },
            { type: 'Renamed', data: { name: 'é ☃' } },
          ],
          { expectedVersion: 'no_stream' },
        );
        expect(result.nextVersion).toBe(1);
        expect(result.written).toBe(true);

        const events = await store.readStream(streamId);
        expect(events.map((event) => [event.streamId, event.version, event.type])).toEqual([
          [streamId, 0, 'Created'],
          [streamId, 1, 'Renamed'],
        ]);
        expect(events[0]?.data).toEqual({ n: 1, nested: { list: [1, 'two', null] } });
        expect(events[0]?.metadata).toEqual(metadata);
        expect(events[1]?.metadata).toEqual({});
        expect(events[1]?.position).toBe(result.lastPosition);
        expect(events[0]?.position).toBeLessThan(events[1]?.position ?? 0);
        for (const event of events) {
          expect(event.id).toMatch(/.+/);
          expect(new Date(event.time).toISOString()).toBe(event.time);
        }
        expect(new Set(events.map((event) => event.id)).size).toBe(2);
        expect(await store.streamVersion(streamId)).toBe(1);
      });

      it('reports a stream that was never written at version -1', async () => {
        const streamId = newStreamId();
        expect(await store.streamVersion(streamId)).toBe(-1);
        expect(await store.readStream(streamId)).toEqual([]);
      });

      it("'any' appends whether or not the stream exists", async () => {
        const streamId = newStreamId();
        await store.append(streamId, [event('A')], { expectedVersion: 'any' });
        const result = await store.append(streamId, [event('B')]);
        expect(result.nextVersion).toBe(1);
        expect(await store.streamVersion(streamId)).toBe(1);
      });

      it("'no_stream' succeeds on a new stream and conflicts once it exists", async () => {
        const streamId = newStreamId();
        await store.append(streamId, [event('A')], { expectedVersion: 'no_stream' });
        await expectConflict(
          store.append(streamId, [event('B')], { expectedVersion: 'no_stream' }),
          streamId,
          0,
        );
        expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(['A']);
      });

      it("'stream_exists' conflicts on a new stream and succeeds once it exists", async () => {
        const streamId = newStreamId();
        await expectConflict(
          store.append(streamId, [event('A')], { expectedVersion: 'stream_exists' }),
          streamId,
          -1,
        );
        expect(await store.streamVersion(streamId)).toBe(-1);
        await store.append(streamId, [event('A')]);
        const result = await store.append(streamId, [event('B')], { expectedVersion: 'stream_exists' });
        expect(result.nextVersion).toBe(1);
      });

      it('a number succeeds only when it is the current version', async () => {
        const streamId = newStreamId();
        await expectConflict(store.append(streamId, [event('A')], { expectedVersion: 0 }), streamId, -1);
        await store.append(streamId, [event('A')], { expectedVersion: -1 });
        await store.append(streamId, [event('B'), event('C')], { expectedVersion: 0 });
        const ids = (await store.readStream(streamId)).map((e) => e.id);
        for (const stale of [0, 1, 3]) {
          await expectConflict(store.append(streamId, [event('X')], { expectedVersion: stale }), streamId, 2);
        }
        expect((await store.readStream(streamId)).map((e) => e.id)).toEqual(ids);
        const result = await store.append(streamId, [event('D')], { expectedVersion: 2 });
        expect(result.nextVersion).toBe(3);
      });

      it('a conflicting append writes none of its events, not even new ids', async () => {
        const streamId = newStreamId();
        await store.append(streamId, [event('A')]);
        const ids = [randomUUID(), randomUUID()];
        await expectConflict(
          store.append(streamId, [event('B', ids[0]), event('C', ids[1])], { expectedVersion: 'no_stream' }),
          streamId,
          0,
        );
        // The same ids are still free: appending them for real stores both.
        const result = await store.append(streamId, [event('B', ids[0]), event('C', ids[1])], {
          expectedVersion: 0,
        });
        expect(result).toMatchObject({ nextVersion: 2, written: true });
      });

      it('lets exactly one of 20 writers racing on the same expected version win', async () => {
        const streamId = newStreamId();
        await store.append(streamId, [event('Start')]);
        for (const expectedVersion of [0, 1, 2]) {
          const attempts = await Promise.allSettled(
            Array.from({ length: 20 }, (_, writer) =>
              store.append(streamId, [event(`W${writer}`)], { expectedVersion }),
            ),
          );
          const won = attempts.filter((attempt) => attempt.status === 'fulfilled');
          const lost = attempts.filter((attempt) => attempt.status === 'rejected');
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(19);
          for (const attempt of lost) expect(isConcurrencyError(attempt.reason)).toBe(true);
        }
        const versions = (await store.readStream(streamId)).map((e) => e.version);
        expect(versions).toEqual([0, 1, 2, 3]);
      });

      it('keeps a stream gapless when writers retry on conflict', async () => {
        const streamId = newStreamId();
        const writers = 8;
        const perWriter = 4;
        let conflicts = 0;
        await Promise.all(
          Array.from({ length: writers }, async (_, writer) => {
            for (let n = 0; n < perWriter;) {
              const version = await store.streamVersion(streamId);
              try {
                await store.append(streamId, [event('Step', undefined, { writer, n })], {
                  expectedVersion: version,
                });
                n++;
              } catch (error) {
                if (!isConcurrencyError(error)) throw error;
                conflicts++;
              }
            }
          }),
        );
        const events = await store.readStream(streamId);
        expect(events.map((e) => e.version)).toEqual(
          Array.from({ length: writers * perWriter }, (_, i) => i),
        );
        // Every writer's steps are there once, in its own order.
        for (let writer = 0; writer < writers; writer++) {
          const steps = events
            .map((e) => e.data as { writer: number; n: number })
            .filter((d) => d.writer === writer);
          expect(steps.map((d) => d.n)).toEqual(Array.from({ length: perWriter }, (_, i) => i));
        }
        expect(conflicts).toBeGreaterThan(0);
      });
    });

    describe('idempotent appends', () => {
      it('stores an event id once and lets the retried append succeed', async () => {
        const streamId = newStreamId();
        const id = randomUUID();
        const first = await store.append(streamId, [event('Placed', id)], { expectedVersion: 'no_stream' });
        expect(first.written).toBe(true);
        // The retry's expected version no longer matches, yet it must succeed as a no-op.
        const retry = await store.append(streamId, [event('Placed', id)], { expectedVersion: 'no_stream' });
        expect(retry).toEqual({
          nextVersion: first.nextVersion,
          lastPosition: first.lastPosition,
          written: false,
        });
        expect(await store.readStream(streamId)).toHaveLength(1);
      });

      it('skips the stored events of an append and writes the new ones', async () => {
        const streamId = newStreamId();
        const [a, b] = [randomUUID(), randomUUID()];
        await store.append(streamId, [event('A', a)]);
        const result = await store.append(streamId, [event('A', a), event('B', b)], { expectedVersion: 0 });
        expect(result).toMatchObject({ nextVersion: 1, written: true });
        expect((await store.readStream(streamId)).map((e) => e.id)).toEqual([a, b]);
      });

      it('stores an id repeated within one append once', async () => {
        const streamId = newStreamId();
        const id = randomUUID();
        await store.append(streamId, [event('A', id), event('A', id)]);
        expect((await store.readStream(streamId)).map((e) => e.id)).toEqual([id]);
      });
    });

    describe('reads', () => {
      it('reads a stream from a version, at most maxCount events', async () => {
        const streamId = newStreamId();
        await store.append(
          streamId,
          Array.from({ length: 10 }, (_, i) => event(`E${i}`)),
        );
        const page = await store.readStream(streamId, { fromVersion: 3, maxCount: 4 });
        expect(page.map((e) => e.version)).toEqual([3, 4, 5, 6]);
        expect(page.map((e) => e.type)).toEqual(['E3', 'E4', 'E5', 'E6']);
        expect((await store.readStream(streamId, { fromVersion: 8 })).map((e) => e.version)).toEqual([8, 9]);
        expect(await store.readStream(streamId, { fromVersion: 10 })).toEqual([]);
      });

      it('reads all streams in global order after a position, with maxCount and types', async () => {
        const [s1, s2] = [newStreamId(), newStreamId()];
        const [typeA, typeB] = [`A-${randomUUID()}`, `B-${randomUUID()}`];
        const before = await store.headPosition();
        await store.append(s1, [event(typeA, undefined, 1)]);
        await store.append(s2, [event(typeB, undefined, 2)]);
        await store.append(s1, [event(typeB, undefined, 3), event(typeA, undefined, 4)]);
        const head = await store.headPosition();

        const all = (await store.readAll({ after: before })).filter(
          (e) => e.streamId === s1 || e.streamId === s2,
        );
        expect(all.map((e) => e.data)).toEqual([1, 2, 3, 4]);
        expect(isStrictlyIncreasing(all.map((e) => e.position))).toBe(true);
        // Other writers may share the store: the head is at least our last event.
        expect(all.at(-1)?.position ?? Infinity).toBeLessThanOrEqual(head);

        const ofA = await store.readAll({ after: before, types: [typeA] });
        expect(ofA.map((e) => e.data)).toEqual([1, 4]);
        const ofBoth = await store.readAll({ after: before, types: [typeA, typeB], maxCount: 3 });
        expect(ofBoth.map((e) => e.data)).toEqual([1, 2, 3]);

        const afterSecond = await store.readAll({ after: ofBoth[1]?.position ?? 0, types: [typeA, typeB] });
        expect(afterSecond.map((e) => e.data)).toEqual([3, 4]);

        const page = await store.readAll({ after: before, maxCount: 2 });
        expect(page).toHaveLength(2);
        expect(page.every((e) => e.position > before)).toBe(true);
        expect(await store.readAll({ after: head, types: [typeA, typeB] })).toEqual([]);
      });

      it('reads the events correlated with one id across streams, in global order', async () => {
        const orderId = randomUUID();
        const other = randomUUID();
        const [orders, payments] = [newStreamId(), newStreamId()];
        await store.append(orders, [event('OrderPlaced', undefined, 1, { correlationId: orderId })]);
        await store.append(payments, [event('PaymentAuthorized', undefined, 2, { correlationId: orderId })]);
        await store.append(payments, [event('PaymentAuthorized', undefined, 3, { correlationId: other })]);
        await store.append(orders, [event('OrderConfirmed', undefined, 4, { correlationId: orderId })]);
        await store.append(orders, [event('Untagged', undefined, 5)]);

        const trail = await store.readCorrelated(orderId);
        expect(trail.map((e) => [e.streamId, e.type, e.data])).toEqual([
          [orders, 'OrderPlaced', 1],
          [payments, 'PaymentAuthorized', 2],
          [orders, 'OrderConfirmed', 4],
        ]);
        expect(isStrictlyIncreasing(trail.map((e) => e.position))).toBe(true);
        expect(await store.readCorrelated(randomUUID())).toEqual([]);
      });

      it('gives later commits higher positions, whatever the stream', async () => {
        const streams = Array.from({ length: 5 }, () => newStreamId());
        const positions: number[] = [];
        for (let i = 0; i < 10; i++) {
          positions.push((await store.append(streams[i % 5] ?? '', [event('Tick')])).lastPosition);
        }
        expect(isStrictlyIncreasing(positions)).toBe(true);
        expect(await store.headPosition()).toBeGreaterThanOrEqual(positions.at(-1) ?? 0);
      });
    });

    describe('units of work', () => {
      it('commits appends to several streams, messages, an inbox mark and a checkpoint together', async () => {
        const [s1, s2] = [newStreamId(), newStreamId()];
        const consumer = `consumer-${randomUUID()}`;
        const messageId = randomUUID();
        const subscriptionId = `sub-${randomUUID()}`;
        const result = await store.commit({
          appends: [
            { streamId: s1, events: [event('A'), event('B')], expectedVersion: 'no_stream' },
            { streamId: s2, events: [event('C')] },
          ],
          messages: [message(s1)],
          inbox: { consumer, messageId },
          checkpoint: { subscriptionId, position: 42 },
        });
        expect(result.duplicate).toBe(false);
        expect(result.appends.map((a) => [a.nextVersion, a.written])).toEqual([
          [1, true],
          [0, true],
        ]);
        expect(await store.streamVersion(s1)).toBe(1);
        expect(await store.streamVersion(s2)).toBe(0);
        expect(await store.isHandled(consumer, messageId)).toBe(true);
        expect(await store.isHandled(consumer, randomUUID())).toBe(false);
        expect(await store.isHandled(`other-${randomUUID()}`, messageId)).toBe(false);
        expect(await store.readCheckpoint(subscriptionId)).toBe(42);
      });

      it('is all-or-nothing: one failing append leaves no trace of the unit', async () => {
        const [s1, s2] = [newStreamId(), newStreamId()];
        const consumer = `consumer-${randomUUID()}`;
        const messageId = randomUUID();
        const subscriptionId = `sub-${randomUUID()}`;
        await store.append(s2, [event('Existing')]);

        await expect(
          store.commit({
            appends: [
              { streamId: s1, events: [event('A')], expectedVersion: 'no_stream' },
              { streamId: s2, events: [event('B')], expectedVersion: 'no_stream' },
            ],
            messages: [message(s1)],
            inbox: { consumer, messageId },
            checkpoint: { subscriptionId, position: 7 },
          }),
        ).rejects.toBeInstanceOf(ConcurrencyError);

        expect(await store.streamVersion(s1)).toBe(-1);
        expect(await store.streamVersion(s2)).toBe(0);
        expect(await store.isHandled(consumer, messageId)).toBe(false);
        expect(await store.readCheckpoint(subscriptionId)).toBe(-1);

        // Handling the message again after the failure works: the mark was not kept.
        const retry = await store.commit({
          appends: [{ streamId: s1, events: [event('A')], expectedVersion: 'no_stream' }],
          inbox: { consumer, messageId },
        });
        expect(retry.duplicate).toBe(false);
        expect(await store.isHandled(consumer, messageId)).toBe(true);
      });

      it('skips a unit whose inbox mark is already recorded, writing nothing', async () => {
        const [s1, s2] = [newStreamId(), newStreamId()];
        const inbox = { consumer: `consumer-${randomUUID()}`, messageId: randomUUID() };
        const subscriptionId = `sub-${randomUUID()}`;
        await store.commit({ appends: [{ streamId: s1, events: [event('A')] }], inbox });

        const again = await store.commit({
          appends: [
            { streamId: s1, events: [event('A again')] },
            { streamId: s2, events: [event('B')] },
          ],
          messages: [message(s1)],
          inbox,
          checkpoint: { subscriptionId, position: 9 },
        });
        expect(again).toEqual({ duplicate: true, appends: [] });
        expect((await store.readStream(s1)).map((e) => e.type)).toEqual(['A']);
        expect(await store.streamVersion(s2)).toBe(-1);
        expect(await store.readCheckpoint(subscriptionId)).toBe(-1);
      });

      it('lets one of two concurrent units with the same inbox mark through', async () => {
        const streams = [newStreamId(), newStreamId()];
        const inbox = { consumer: `consumer-${randomUUID()}`, messageId: randomUUID() };
        const results = await Promise.all(
          streams.map((streamId) => store.commit({ appends: [{ streamId, events: [event('A')] }], inbox })),
        );
        expect(results.map((r) => r.duplicate).sort()).toEqual([false, true]);
        const versions = await Promise.all(streams.map((streamId) => store.streamVersion(streamId)));
        expect(versions.sort()).toEqual([-1, 0]);
      });

      it('moves a checkpoint to the last position committed for it', async () => {
        const subscriptionId = `sub-${randomUUID()}`;
        expect(await store.readCheckpoint(subscriptionId)).toBe(-1);
        await store.commit({ checkpoint: { subscriptionId, position: 5 } });
        await store.commit({ checkpoint: { subscriptionId, position: 11 } });
        expect(await store.readCheckpoint(subscriptionId)).toBe(11);
      });
    });

    describe('catch-up subscriptions', () => {
      it('delivers history, then live events, in global order', async () => {
        const type = `Ticked-${randomUUID()}`;
        const [s1, s2] = [newStreamId(), newStreamId()];
        for (let i = 0; i < 6; i++) await store.append(i % 2 === 0 ? s1 : s2, [event(type, undefined, i)]);
        const seen: StoredEvent[] = [];
        const subscription = store.subscribe({
          subscriptionId: `sub-${randomUUID()}`,
          types: [type],
          batchSize: 4,
          handler: (events) => {
            seen.push(...events);
          },
        });
        await subscription.caughtUp();
        expect(seen.map((e) => e.data)).toEqual([0, 1, 2, 3, 4, 5]);

        await store.append(s2, [
          event(type, undefined, 6),
          event('Other', undefined, 'skip'),
          event(type, undefined, 7),
        ]);
        await store.append(s1, [event(type, undefined, 8)]);
        await subscription.caughtUp();
        expect(seen.map((e) => e.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expect(isStrictlyIncreasing(seen.map((e) => e.position))).toBe(true);
        await subscription.stop();
      });

      it('wakes for new events without being asked', async () => {
        const type = `Live-${randomUUID()}`;
        const received = deferred<StoredEvent>();
        const subscription = store.subscribe({
          subscriptionId: `sub-${randomUUID()}`,
          types: [type],
          handler: (events) => {
            if (events[0] !== undefined) received.resolve(events[0]);
          },
        });
        await subscription.caughtUp();
        const streamId = newStreamId();
        await store.append(streamId, [event(type, undefined, 'hello')]);
        const first = await received.promise;
        expect([first.streamId, first.data]).toEqual([streamId, 'hello']);
        await subscription.stop();
      });

      it('commits the handler effects with the checkpoint', async () => {
        const type = `Source-${randomUUID()}`;
        const source = newStreamId();
        const effects = newStreamId();
        const subscriptionId = `sub-${randomUUID()}`;
        await store.append(source, [event(type, undefined, 1), event(type, undefined, 2)]);
        const subscription = store.subscribe({
          subscriptionId,
          types: [type],
          handler: (events, context) => addEffects(events, context, effects),
        });
        await subscription.caughtUp();
        await subscription.stop();
        const sourceEvents = await store.readStream(source);
        expect((await store.readStream(effects)).map((e) => e.data)).toEqual(
          sourceEvents.map((e) => ({ source: e.data, sourceId: e.id })),
        );
        expect(await store.readCheckpoint(subscriptionId)).toBeGreaterThanOrEqual(
          sourceEvents[1]?.position ?? Infinity,
        );
      });

      it('handles every event exactly once across a restart', async () => {
        const type = `Work-${randomUUID()}`;
        const source = newStreamId();
        const effects = newStreamId();
        const subscriptionId = `sub-${randomUUID()}`;
        const total = 30;
        for (let i = 0; i < total; i += 5) {
          await store.append(
            source,
            Array.from({ length: 5 }, (_, k) => event(type, undefined, i + k)),
          );
        }
        const handled: unknown[] = [];
        const partDone = deferred<void>();
        const first = store.subscribe({
          subscriptionId,
          types: [type],
          batchSize: 4,
          handler: (events, context) => {
            handled.push(...events.map((e) => e.data));
            addEffects(events, context, effects);
            if (handled.length >= 12) partDone.resolve();
          },
        });
        await partDone.promise;
        // Reopening closes the store gracefully, which stops the subscription after its batch.
        await reopen();
        const handledBeforeRestart = handled.length;
        expect(handledBeforeRestart).toBeLessThan(total);
        expect(first.subscriptionId).toBe(subscriptionId);

        const second = store.subscribe({
          subscriptionId,
          types: [type],
          batchSize: 4,
          handler: (events, context) => {
            handled.push(...events.map((e) => e.data));
            addEffects(events, context, effects);
          },
        });
        await second.caughtUp();
        await second.stop();

        const expected = Array.from({ length: total }, (_, i) => i);
        expect(handled).toEqual(expected);
        // Effects carry random ids, so a double handling would show as a second effect.
        const effectSources = (await store.readStream(effects)).map(
          (e) => (e.data as { source: number }).source,
        );
        expect(effectSources).toEqual(expected);
      });

      it('keeps its checkpoint across a reopen and does not deliver handled events again', async () => {
        const type = `Kept-${randomUUID()}`;
        const streamId = newStreamId();
        const subscriptionId = `sub-${randomUUID()}`;
        await store.append(streamId, [event(type, undefined, 1), event(type, undefined, 2)]);
        const before: unknown[] = [];
        const first = store.subscribe({
          subscriptionId,
          types: [type],
          handler: (events) => void before.push(...events.map((e) => e.data)),
        });
        await first.caughtUp();
        await first.stop();
        const checkpoint = await store.readCheckpoint(subscriptionId);
        const lastPosition = (await store.readStream(streamId))[1]?.position ?? Infinity;
        expect(checkpoint).toBeGreaterThanOrEqual(lastPosition);
        expect(before).toEqual([1, 2]);

        await reopen();
        expect(await store.readCheckpoint(subscriptionId)).toBe(checkpoint);
        await store.append(streamId, [event(type, undefined, 3)]);
        const after: unknown[] = [];
        const second = store.subscribe({
          subscriptionId,
          types: [type],
          handler: (events) => void after.push(...events.map((e) => e.data)),
        });
        await second.caughtUp();
        await second.stop();
        expect(after).toEqual([3]);
      });

      it('advances its checkpoint over events of other types', async () => {
        const wanted = `Wanted-${randomUUID()}`;
        const subscriptionId = `sub-${randomUUID()}`;
        const streamId = newStreamId();
        await store.append(streamId, [event(wanted), event(`Unwanted-${randomUUID()}`)]);
        const calls: number[] = [];
        const subscription = store.subscribe({
          subscriptionId,
          types: [wanted],
          handler: (events) => void calls.push(events.length),
        });
        await subscription.caughtUp();
        await subscription.stop();
        expect(calls).toEqual([1]);
        expect(await store.readCheckpoint(subscriptionId)).toBeGreaterThanOrEqual(
          (await store.readStream(streamId))[1]?.position ?? Infinity,
        );
      });

      it('retries a failing batch without skipping events or keeping the failed effects', async () => {
        const type = `Flaky-${randomUUID()}`;
        const source = newStreamId();
        const effects = newStreamId();
        await store.append(source, [event(type, undefined, 1), event(type, undefined, 2)]);
        const errors: Error[] = [];
        const deliveries: unknown[][] = [];
        const subscription = store.subscribe({
          subscriptionId: `sub-${randomUUID()}`,
          types: [type],
          handler: (events, context) => {
            deliveries.push(events.map((e) => e.data));
            addEffects(events, context, effects);
            if (deliveries.length <= 2) throw new Error(`boom ${deliveries.length}`);
          },
          onError: (error) => errors.push(error),
        });
        await subscription.caughtUp();
        await subscription.stop();
        expect(errors.map((e) => e.message)).toEqual(['boom 1', 'boom 2']);
        expect(deliveries).toEqual([
          [1, 2],
          [1, 2],
          [1, 2],
        ]);
        expect((await store.readStream(effects)).map((e) => (e.data as { source: number }).source)).toEqual([
          1, 2,
        ]);
      });

      it('stops after the batch in hand and commits its checkpoint', async () => {
        const type = `Slow-${randomUUID()}`;
        const subscriptionId = `sub-${randomUUID()}`;
        const streamId = newStreamId();
        await store.append(streamId, [
          event(type, undefined, 1),
          event(type, undefined, 2),
          event(type, undefined, 3),
        ]);
        const held = heldHandler();
        const subscription = store.subscribe({
          subscriptionId,
          types: [type],
          batchSize: 1,
          handler: held.handler,
        });
        await held.entered;
        const stopped = subscription.stop();
        held.release();
        await stopped;
        expect(held.seen).toEqual([1]);
        expect(await store.readCheckpoint(subscriptionId)).toBe(
          (await store.readStream(streamId))[0]?.position,
        );
      });

      it('rejects caughtUp() once stopped: pending waits when the loop ends, new ones at once', async () => {
        const type = `Left-${randomUUID()}`;
        const streamId = newStreamId();
        await store.append(streamId, [event(type, undefined, 1), event(type, undefined, 2)]);
        const held = heldHandler();
        const subscription = store.subscribe({
          subscriptionId: `sub-${randomUUID()}`,
          types: [type],
          batchSize: 1,
          handler: held.handler,
        });
        await held.entered;
        const pending = expect(subscription.caughtUp()).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
        const stopped = subscription.stop();
        held.release();
        await stopped;
        await pending;
        await expect(subscription.caughtUp()).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
      });

      it('runs one subscription per id at a time in a process, and frees the id when it stops', async () => {
        const subscriptionId = `sub-${randomUUID()}`;
        const first = store.subscribe({ subscriptionId, handler: () => undefined });
        expect(() => store.subscribe({ subscriptionId, handler: () => undefined })).toThrow(
          /already running/,
        );
        await first.stop();
        const second = store.subscribe({ subscriptionId, handler: () => undefined });
        await second.stop();
      });

      it('refuses a batchSize that is not a positive integer, leaving the id free', async () => {
        const subscriptionId = `sub-${randomUUID()}`;
        for (const batchSize of [0, -1, 1.5]) {
          expect(() => store.subscribe({ subscriptionId, batchSize, handler: () => undefined })).toThrow(
            expect.objectContaining({ code: 'CONFIG_INVALID' }),
          );
        }
        const subscription = store.subscribe({ subscriptionId, batchSize: 1, handler: () => undefined });
        await subscription.caughtUp();
        await subscription.stop();
      });

      it('keeps going when its onError callback throws', async () => {
        const type = `Failing-${randomUUID()}`;
        await store.append(newStreamId(), [event(type, undefined, 1)]);
        let calls = 0;
        const subscription = store.subscribe({
          subscriptionId: `sub-${randomUUID()}`,
          types: [type],
          handler: () => {
            calls++;
            if (calls === 1) throw new Error('handler failed');
          },
          onError: () => {
            throw new Error('onError failed too');
          },
        });
        await subscription.caughtUp();
        await subscription.stop();
        expect(calls).toBe(2);
      });

      it('is stopped by close() after the batch in hand, whose checkpoint commits; then the store refuses calls', async () => {
        const type = `Closing-${randomUUID()}`;
        const subscriptionId = `sub-${randomUUID()}`;
        const streamId = newStreamId();
        await store.append(streamId, [event(type, undefined, 1), event(type, undefined, 2)]);
        const [firstPosition] = (await store.readStream(streamId)).map((e) => e.position);
        const held = heldHandler();
        store.subscribe({ subscriptionId, types: [type], batchSize: 1, handler: held.handler });
        await held.entered;
        const closed = store.close();
        held.release();
        await closed;
        expect(held.seen).toEqual([1]);
        await expect(store.readStream(streamId)).rejects.toMatchObject({ code: 'STORE_CLOSED' });
        await expect(store.append(streamId, [event(type)])).rejects.toMatchObject({ code: 'STORE_CLOSED' });
        expect(() => store.subscribe({ subscriptionId, handler: () => undefined })).toThrow(
          expect.objectContaining({ code: 'STORE_CLOSED' }),
        );
        // A second close is harmless.
        await store.close();

        await reopen();
        expect(await store.readCheckpoint(subscriptionId)).toBe(firstPosition);
      });
    });

    describe('scheduled messages (durable timers)', () => {
      it('keeps a timer until it is due, releases it once, and sends a due-now one straight out', async () => {
        const now = Date.now();
        const later = now + 3_600_000;
        const scheduled: number[] = [];
        const unlisten = store.onScheduled((dueAt) => scheduled.push(dueAt));
        await store.commit({
          schedule: [
            { message: message(newStreamId()), dueAt: later },
            { message: message(newStreamId()), dueAt: now - 1 },
          ],
        });
        // The due-now message went to the outbox with the commit: nothing is left to release for it.
        expect(await store.releaseDueMessages(now)).toEqual({ released: 0, nextDueAt: later });
        expect(await store.releaseDueMessages(later - 1)).toEqual({ released: 0, nextDueAt: later });
        expect(await store.releaseDueMessages(later)).toEqual({ released: 1, nextDueAt: null });
        expect(await store.releaseDueMessages(later + 1)).toEqual({ released: 0, nextDueAt: null });
        await expect.poll(() => scheduled.length, WAIT).toBeGreaterThan(0);
        expect(scheduled).toEqual([later]);
        unlisten();
      });

      it('releases the oldest due timers first, at most `limit`, and survives a reopen', async () => {
        const base = Date.now() + 3_600_000;
        await store.commit({
          schedule: [3, 1, 2].map((k) => ({ message: message(newStreamId()), dueAt: base + k * 1_000 })),
        });
        await reopen();
        expect(await store.releaseDueMessages(base + 10_000, 2)).toEqual({
          released: 2,
          nextDueAt: base + 3_000,
        });
        expect(await store.releaseDueMessages(base + 2_500)).toEqual({
          released: 0,
          nextDueAt: base + 3_000,
        });
        expect(await store.releaseDueMessages(base + 10_000)).toEqual({ released: 1, nextDueAt: null });
      });

      it('drops a cancelled timer so that it never fires, and ignores unknown ids', async () => {
        const dueAt = Date.now() + 3_600_000;
        const kept = message(newStreamId());
        const cancelled = message(newStreamId());
        await store.commit({
          schedule: [
            { message: kept, dueAt },
            { message: cancelled, dueAt: dueAt + 1 },
          ],
        });
        // Cancelled in a later unit of work, as a saga does when a step finishes before its timeout.
        await store.commit({
          appends: [{ streamId: newStreamId(), events: [event('StepDone')] }],
          cancelScheduled: [cancelled.id, randomUUID()],
        });
        expect(await store.releaseDueMessages(dueAt + 10)).toEqual({ released: 1, nextDueAt: null });
        // A cancellation in a unit that fails cancels nothing.
        const again = message(newStreamId());
        const streamId = newStreamId();
        await store.append(streamId, [event('A')]);
        await store.commit({ schedule: [{ message: again, dueAt }] });
        await expect(
          store.commit({
            appends: [{ streamId, events: [event('B')], expectedVersion: 'no_stream' }],
            cancelScheduled: [again.id],
          }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await store.releaseDueMessages(dueAt + 10)).toEqual({ released: 1, nextDueAt: null });
      });

      it('schedules nothing when the unit fails or is a duplicate', async () => {
        const streamId = newStreamId();
        await store.append(streamId, [event('A')]);
        const inbox = { consumer: `consumer-${randomUUID()}`, messageId: randomUUID() };
        await store.commit({ inbox });
        const dueAt = Date.now() + 3_600_000;
        await expect(
          store.commit({
            appends: [{ streamId, events: [event('B')], expectedVersion: 'no_stream' }],
            schedule: [{ message: message(streamId), dueAt }],
          }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await store.commit({ inbox, schedule: [{ message: message(streamId), dueAt }] })).toEqual({
          duplicate: true,
          appends: [],
        });
        expect(await store.releaseDueMessages(dueAt + 1)).toEqual({ released: 0, nextDueAt: null });
      });
    });

    describe('live commit notifications', () => {
      it('tells listeners of committed events with their correlation ids, never of rolled-back ones', async () => {
        const [s1, s2, failed] = [newStreamId(), newStreamId(), newStreamId()];
        const ours = new Set([s1, s2, failed]);
        const orderId = randomUUID();
        const heard: CommittedEvent[][] = [];
        const unlisten = store.onEventsCommitted((events) => {
          const mine = events.filter((e) => ours.has(e.streamId));
          if (mine.length > 0) heard.push(mine);
        });
        await store.append(failed, [event('Existing')]);
        await expect.poll(() => heard.length, WAIT).toBe(1);
        await store.commit({
          appends: [
            { streamId: s1, events: [event('Placed', undefined, 1, { correlationId: orderId })] },
            {
              streamId: s2,
              events: [event('Reserved', undefined, 2, { correlationId: orderId }), event('Plain')],
            },
          ],
        });
        await expect(
          store.commit({
            appends: [
              { streamId: s1, events: [event('Lost')] },
              { streamId: failed, events: [event('Lost')], expectedVersion: 'no_stream' },
            ],
          }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        const inbox = { consumer: `consumer-${randomUUID()}`, messageId: randomUUID() };
        await store.commit({ inbox });
        await store.commit({ appends: [{ streamId: s1, events: [event('Duplicate')] }], inbox });
        await store.append(s1, [event('Last')]);
        await vi.waitFor(() => expect(heard.flat().map((e) => e.type)).toContain('Last'), WAIT);
        unlisten();
        await store.append(s1, [event('Unheard')]);
        expect(heard.flat()).toEqual([
          { streamId: failed, type: 'Existing' },
          { streamId: s1, type: 'Placed', correlationId: orderId },
          { streamId: s2, type: 'Reserved', correlationId: orderId },
          { streamId: s2, type: 'Plain' },
          { streamId: s1, type: 'Last' },
        ]);
      });
    });
  });
}

function newStreamId(): string {
  return `test-${randomUUID()}`;
}

function event(type: string, id?: string, data: unknown = {}, metadata?: NewEvent['metadata']): NewEvent {
  return { type, data, ...(id !== undefined ? { id } : {}), ...(metadata !== undefined ? { metadata } : {}) };
}

function message(correlationId: string): Envelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'orderflow/tests',
    type: 'tests.Something',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    correlationid: correlationId,
    partitionkey: correlationId,
    data: { ok: true },
  };
}

/** One effect event per handled event, with a random id so that a double handling would be stored twice. */
function addEffects(events: readonly StoredEvent[], context: SubscriptionContext, streamId: string): void {
  context.unit.appends.push({
    streamId,
    events: events.map((e) => ({ type: 'Handled', data: { source: e.data, sourceId: e.id } })),
  });
}

async function expectConflict(attempt: Promise<unknown>, streamId: string, actual: number): Promise<void> {
  const error: unknown = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ConcurrencyError);
  expect(error).toMatchObject({ streamId, actual });
}

function isStrictlyIncreasing(values: readonly number[]): boolean {
  return values.every((value, i) => i === 0 || value > (values[i - 1] ?? Infinity));
}

/** A handler that records the data it is handed and holds its batches until `release()`. */
function heldHandler() {
  const entered = deferred<void>();
  const released = deferred<void>();
  const seen: unknown[] = [];
  return {
    seen,
    /** Resolves once the first batch is in the handler. */
    entered: entered.promise,
    release: () => released.resolve(),
    handler: async (events: readonly StoredEvent[]) => {
      seen.push(...events.map((e) => e.data));
      entered.resolve();
      await released.promise;
    },
  };
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
