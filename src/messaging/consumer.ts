import { context, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { EventStore, NewEvent, ScheduledMessage, StreamAppend } from '../event-store/event-store.ts';
import { ensureError, isAppError, isTerminalError, TerminalError } from '../kernel/errors.ts';
import {
  deliveryTraceContext,
  endConsumerSpan,
  recordFailure,
  startConsumerSpan,
  type ConsumerSpan,
  type ConsumerSpanOptions,
} from './consumer-span.ts';
import { traceFields } from '../kernel/trace-context.ts';
import type { DeadLetterStore } from './dead-letter/dead-letter-store.ts';
import type { HandlerContext, HandlerGroup, MessageHandler, RetryPolicyOptions } from './handler.ts';
import { createEnvelope, type Envelope, type EnvelopeFactoryOptions } from '../kernel/envelope.ts';
import type { MessageCatalog } from './message-catalog.ts';
import { checkInteger, checkNonEmptyString, throwIfInvalid } from '../kernel/options.ts';
import { backoffDelay, resolveRetryPolicy, type RetryPolicy } from './retry/retry-policy.ts';
import type { Delivery, Transport, TransportSubscription } from './transport.ts';

type LogFn = (object: Record<string, unknown>, message?: string) => void;

/** The part of a pino logger the consumer uses. */
export interface ConsumerLogger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Hooks for metrics. They must be cheap; an exception from one is ignored. */
export interface ConsumerObserver {
  handled?(group: string, type: string, ms: number): void;
  retried?(group: string, type: string, attempt: number, error: Error): void;
  deadLettered?(group: string, type: string, error: Error): void;
}

export interface ConsumerOptions {
  /** The handlers to run and the durable group they run as. */
  group: HandlerGroup;
  transport: Transport;
  /** Reads for handlers; their effects, outgoing messages and inbox marks commit here. */
  store: EventStore;
  deadLetters: DeadLetterStore;
  /** Validates outgoing messages (and incoming ones with `validateIncoming`). */
  catalog: MessageCatalog;
  /** CloudEvents `source` of the messages the handlers send, e.g. `orderflow/inventory`. */
  source: string;
  /** The application's default retry policy; the group's own `retry` overrides it. */
  retry?: Partial<RetryPolicyOptions>;
  /**
   * Validates each incoming message against its schema (a violation is dead-lettered at once).
   * Worth it when messages come from another process; in process they were validated when sent.
   * @default false
   */
  validateIncoming?: boolean;
  /**
   * Unacked deliveries per partition the transport may hand over.
   * @default the transport's default (256)
   */
  maxInFlight?: number;
  logger?: ConsumerLogger;
  observer?: ConsumerObserver;
  /**
   * Whether to make a CONSUMER span per delivery: true while an SDK records them (spans are
   * exported). Without spans the incoming message's trace is handed on as it is, at no cost.
   * @default () => false
   */
  recordSpans?: () => boolean;
  /** `messaging.system` of the consumer spans, e.g. `nats`. @default 'orderflow' (the embedded bus) */
  messagingSystem?: string;
  /**
   * The order a message is for: its spans' `orderflow.order_id` and its log lines' `order_id`.
   * @default the message's correlation id (an order's messages are correlated by the order id)
   */
  orderIdOf?: (message: Envelope) => string | undefined;
  /** Clock for the times of sent messages. @default () => new Date() */
  now?: () => Date;
}

export interface Consumer {
  /** Subscribes the group to the types it has handlers for. */
  start(): Promise<void>;
  /** Stops taking deliveries, waits for running handlers and their commits, then stops the subscription. */
  stop(): Promise<void>;
}

/** The deliveries of one partition key: one runs (or waits for its retry), the later ones wait. */
interface KeyLane {
  /** The transport partition the key belongs to. */
  partition: number;
  /** The partition went to another copy while the head ran: a nacked head is redelivered there. */
  revoked?: boolean;
  /** Id of the message at the head: running, committing, or waiting for its redelivery after a nack. */
  headId: string;
  /** The head was nacked; its redelivery takes the head's place. */
  awaitingRedelivery: boolean;
  waiting: Delivery[];
}

/**
 * The core consumer: the single place where inbox dedupe, retries with backoff and dead-lettering
 * happen, on top of any Transport. Per delivery: skip if the inbox has it; else run the handler,
 * commit its effects, its outgoing messages and the inbox mark in one unit of work, and ack only
 * after that commit. A handler that throws has no effect: retried with backoff while the error is
 * retryable and attempts remain, dead-lettered otherwise.
 *
 * Per-key order: a message waits while an earlier message with the same partition key is in
 * progress, including while that one waits for its retry. Different keys run concurrently, which is
 * what lets many units of work share one group commit.
 */
export function createConsumer(options: ConsumerOptions): Consumer {
  const { transport, store, deadLetters, catalog, logger, observer } = options;
  const { group: name, handlers } = options.group;
  const policy: RetryPolicy = resolveRetryPolicy({ ...options.retry, ...options.group.retry });
  const validateIncoming = options.validateIncoming ?? false;
  const clock = options.now ?? (() => new Date());
  const envelopeOptions: EnvelopeFactoryOptions = {
    source: options.source,
    ...(options.now !== undefined ? { now: options.now } : {}),
  };
  const recordSpans = options.recordSpans ?? (() => false);
  const spanOptions: ConsumerSpanOptions = {
    group: name,
    system: options.messagingSystem ?? 'orderflow',
    orderIdOf: options.orderIdOf ?? ((message) => message.correlationid),
  };
  const types = Object.keys(handlers);
  throwIfInvalid(
    [
      checkNonEmptyString('group.group', name),
      types.length === 0 ? 'group.handlers must hold at least one handler (got none)' : undefined,
      checkNonEmptyString('source', options.source),
      options.maxInFlight === undefined
        ? undefined
        : checkInteger('maxInFlight', options.maxInFlight, { min: 1 }),
    ],
    `options of consumer group ${JSON.stringify(name)}`,
  );

  const lanes = new Map<string, KeyLane>();
  let subscription: Promise<TransportSubscription> | undefined;
  let stopped: Promise<void> | undefined;
  let stopping = false;
  let running = 0;
  const idleWaiters: (() => void)[] = [];

  function onDelivery(delivery: Delivery): void {
    // Not taken: once the subscription stops, the transport hands it out again.
    if (stopping) return;
    const { partitionkey: key, id } = delivery.message;
    const lane = lanes.get(key);
    if (lane === undefined) {
      lanes.set(key, { partition: delivery.partition, headId: id, awaitingRedelivery: false, waiting: [] });
      run(delivery, key);
    } else if (lane.awaitingRedelivery && lane.headId === id) {
      lane.awaitingRedelivery = false;
      run(delivery, key);
    } else {
      lane.waiting.push(delivery);
    }
  }

  /**
   * Another copy of the group took the partition: its waiting deliveries were handed back, and a
   * nacked head comes back there, not here. A running head finishes (its ack then does nothing).
   */
  function onPartitionRevoked(partition: number): void {
    for (const [key, lane] of lanes) {
      if (lane.partition !== partition) continue;
      lane.waiting = [];
      if (lane.awaitingRedelivery) lanes.delete(key);
      else lane.revoked = true;
    }
  }

  function run(delivery: Delivery, key: string): void {
    running++;
    void traced(delivery).then((done) => {
      running--;
      const lane = lanes.get(key)!;
      if (!done) {
        if (lane.revoked === true && lane.waiting.length === 0) lanes.delete(key);
        else lane.awaitingRedelivery = true;
      } else {
        const next = stopping ? undefined : lane.waiting.shift();
        if (next !== undefined) {
          lane.headId = next.message.id;
          run(next, key);
        } else if (lane.waiting.length === 0) {
          lanes.delete(key);
        }
      }
      if (running === 0) for (const resolve of idleWaiters.splice(0)) resolve();
    });
  }

  /**
   * Handles the delivery in its CONSUMER span, if spans are recorded: the messages the handler
   * sends are its children and the consumer's log lines carry it. It is the active context too, for
   * the handler's own lines. Measured: a span per delivery costs a fifth of the bus's throughput
   * even with no SDK (the objects outlive the group commit), hence none unless they are exported.
   */
  function traced(delivery: Delivery): Promise<boolean> {
    if (!recordSpans()) return handle(delivery, undefined);
    const started = startConsumerSpan(delivery.message, delivery.deliveryCount, spanOptions);
    return context.with(started.context, handle, undefined, delivery, started);
  }

  /** Handles one delivery; true when it is acked (done), false when nacked for a retry. Never throws. */
  async function handle(delivery: Delivery, started: ConsumerSpan | undefined): Promise<boolean> {
    const span = started?.span;
    // Without a span, sent messages are new spans in the incoming message's trace (createEnvelope).
    const traced = started?.context ?? ROOT_CONTEXT;
    const { message, deliveryCount } = delivery;
    const startedAt = performance.now();
    try {
      if (validateIncoming) catalog.validate(message.type, message.data);
      if (await store.isHandled(name, message.id)) {
        delivery.ack();
        if (span !== undefined) endConsumerSpan(span, 'duplicate');
        return true;
      }
      const handler = handlers[message.type] as MessageHandler | undefined;
      if (handler === undefined) throw new TerminalError(`group ${name} has no handler for ${message.type}`);
      const appends: StreamAppend[] = [];
      const messages: Envelope[] = [];
      const schedule: ScheduledMessage[] = [];
      const cancelScheduled: string[] = [];
      await handler(
        message,
        createContext(message, deliveryCount, traced, appends, messages, schedule, cancelScheduled),
      );
      await store.commit({
        appends,
        messages,
        inbox: { consumer: name, messageId: message.id },
        ...(schedule.length > 0 ? { schedule } : {}),
        ...(cancelScheduled.length > 0 ? { cancelScheduled } : {}),
      });
      delivery.ack();
      if (span !== undefined) endConsumerSpan(span, 'handled');
      notify(() => observer?.handled?.(name, message.type, performance.now() - startedAt));
      return true;
    } catch (thrown) {
      const error = ensureError(thrown);
      if (span !== undefined) recordFailure(span, error);
      const done = await fail(
        delivery,
        error,
        started?.context ?? deliveryTraceContext(message, spanOptions),
      );
      if (span !== undefined) endConsumerSpan(span, done ? 'dead_lettered' : 'retried');
      return done;
    }
  }

  async function fail(delivery: Delivery, error: Error, traced: Context): Promise<boolean> {
    const { message, deliveryCount } = delivery;
    const log = {
      ...traceFields(traced),
      group: name,
      type: message.type,
      messageId: message.id,
      attempt: deliveryCount,
      err: error,
    };
    if (!isTerminalError(error) && deliveryCount < policy.maxAttempts) {
      const delayMs = backoffDelay(policy, deliveryCount);
      logger?.warn({ ...log, delayMs }, 'handler failed, will retry');
      notify(() => observer?.retried?.(name, message.type, deliveryCount, error));
      delivery.nack(delayMs);
      return false;
    }
    try {
      await deadLetters.add({
        group: name,
        message,
        attempts: deliveryCount,
        error: {
          name: error.name,
          message: error.message,
          ...(isAppError(error) ? { code: error.code } : {}),
          ...(error.stack !== undefined ? { stack: error.stack } : {}),
        },
      });
    } catch (parkError) {
      // Not parked, so not acked: try again later rather than lose the message.
      logger?.error({ ...log, parkError: ensureError(parkError) }, 'could not dead-letter the message');
      delivery.nack(backoffDelay(policy, deliveryCount));
      return false;
    }
    delivery.ack();
    logger?.error(log, 'message dead-lettered');
    notify(() => observer?.deadLettered?.(name, message.type, error));
    return true;
  }

  function createContext(
    message: Envelope,
    deliveryCount: number,
    traced: Context,
    appends: StreamAppend[],
    messages: Envelope[],
    schedule: ScheduledMessage[],
    cancelScheduled: string[],
  ): HandlerContext {
    const causal = {
      correlationId: message.correlationid,
      causationId: message.id,
      ...(message.traceparent !== undefined ? { traceparent: message.traceparent } : {}),
    };
    return {
      message,
      deliveryCount,
      group: name,
      store,
      append(streamId, events, expectedVersion) {
        const withMetadata: NewEvent[] = events.map((event) => ({
          ...event,
          metadata: { ...causal, ...event.metadata },
        }));
        appends.push({
          streamId,
          events: withMetadata,
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        });
      },
      send(newMessage) {
        const envelope = createEnvelope(newMessage, envelopeOptions, message, traced);
        catalog.validate(envelope.type, envelope.data);
        messages.push(envelope);
      },
      schedule(newMessage, delayMs) {
        const envelope = createEnvelope(newMessage, envelopeOptions, message, traced);
        catalog.validate(envelope.type, envelope.data);
        schedule.push({ message: envelope, dueAt: clock().getTime() + Math.max(0, delayMs) });
      },
      cancelScheduled(messageId) {
        cancelScheduled.push(messageId);
      },
      now: clock,
    };
  }

  function notify(callback: () => void): void {
    try {
      callback();
    } catch {
      // A failing metrics hook must not turn a handled message into a retried one.
    }
  }

  async function shutDown(current: Promise<TransportSubscription>): Promise<void> {
    stopping = true;
    if (running > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    // Waiting and nacked deliveries were not acked: the transport gives them out again later.
    lanes.clear();
    await (await current).stop();
    logger?.info({ group: name }, 'consumer stopped');
  }

  return {
    async start() {
      if (stopped !== undefined) await stopped;
      if (subscription === undefined) {
        stopping = false;
        subscription = transport.subscribe({
          group: name,
          types,
          ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
          onDelivery,
          onPartitionRevoked,
        });
        subscription.then(
          () => logger?.info({ group: name, types }, 'consumer started'),
          () => {
            subscription = undefined;
          },
        );
      }
      await subscription;
    },

    async stop() {
      if (stopped === undefined) {
        const current = subscription;
        if (current === undefined) return;
        stopped = shutDown(current).finally(() => {
          subscription = undefined;
          stopped = undefined;
        });
      }
      await stopped;
    },
  };
}
