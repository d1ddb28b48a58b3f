import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { contextOf, partitionOf, type Envelope } from '../../message.ts';
import type {
  Delivery,
  Transport,
  TransportSubscribeOptions,
  TransportSubscription,
} from '../../transport.ts';

/**
 * The bus on NATS JetStream (server 2.9 or later). See `docs/nats.md` for the layout and its reasons.
 *
 * - One stream per context, `<ns>_<context>`, subjects `<ns>.<context>.p<k>`: the publisher hashes
 *   the partition key into one of `partitions` subjects (2.9 has no subject transforms).
 * - A message travels in CloudEvents binary mode: attributes in `ce-*` headers, `data` as JSON in the
 *   body, `Nats-Msg-Id` = envelope id (broker-side dedupe within `duplicateWindowMs`).
 * - A group is one durable pull consumer per (context, partition), `<ns>_<group>_<context>_p<k>`,
 *   filtering `<ns>.<context>.p<k>`, `max_ack_pending` = `maxInFlight`. It acks at once, without
 *   delivering, the messages of types it did not subscribe to.
 * - A redrive is published again on its partition subject with an `orderflow-group` header naming
 *   the one group it is for (the other groups ack it unseen) and `Nats-Msg-Id` `<id>:redrive:<n>`, so
 *   it keeps its place in the partition's order like any message.
 */
export interface NatsTransportOptions {
  /** NATS server URL(s), comma separated, e.g. `nats://127.0.0.1:4222`. */
  servers: string;
  /**
   * Prefix of every stream, subject and consumer (`ORDERFLOW_NAMESPACE`), so several deployments
   * share one server. Letters, digits, `-` and `_`.
   */
  namespace: string;
  /**
   * Partitions per context stream. Fixed for the life of a deployment: keys map to subjects by it.
   * @default 16
   */
  partitions?: number;
  /**
   * Default unacked deliveries per group and partition (the consumers' `max_ack_pending`), for
   * subscriptions that do not set `maxInFlight`.
   * @default 256
   */
  maxInFlight?: number;
  /**
   * How long the server waits for an ack before it delivers a message again (`ack_wait`). It bounds
   * how long a message held by a crashed or stopped process waits before another gets it, so it is
   * short; handlers must finish within it (the gateway and webhook timeouts are below it), else their
   * message is delivered again and the inbox absorbs the second run.
   * @default 10000
   */
  ackWaitMs?: number;
  /**
   * The streams' `duplicate_window`: a message whose id the stream saw this recently is dropped.
   * Applied when a stream is created.
   * @default 120000
   */
  duplicateWindowMs?: number;
  /**
   * Connection name shown by the server (`nats server report connections`).
   * @default 'orderflow'
   */
  name?: string;
  /**
   * Hears of background failures (acks on a closed connection, lost pull loops); they are retried
   * or redelivered by the server.
   * @default process.emitWarning
   */
  onError?: (error: Error) => void;
}

export interface ResolvedNatsTransportOptions {
  readonly servers: readonly string[];
  readonly namespace: string;
  readonly partitions: number;
  readonly maxInFlight: number;
  readonly ackWaitMs: number;
  readonly duplicateWindowMs: number;
  readonly name: string;
  readonly onError: (error: Error) => void;
}

const DEFAULT_PARTITIONS = 16;
const DEFAULT_MAX_IN_FLIGHT = 256;
const DEFAULT_ACK_WAIT_MS = 10_000;
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** Names used in subjects and consumer names: one subject token, no `.`, `*`, `>` or spaces. */
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** How long a pull request waits on the server; heartbeats every half of it detect a dead link. */
const PULL_EXPIRES_MS = 10_000;
const MS_TO_NS = 1_000_000;
/**
 * Delay of the nak that hands a stopped subscription's unacked deliveries back. Server 2.9 may
 * redeliver an immediately nacked message to the stopped pull request before it has processed the
 * unsubscribe; the message is then lost in the dead inbox until `ack_wait`. Measured: 0 ms lost the
 * first nacked message of every partition, 300 ms lost none.
 */
const HAND_BACK_DELAY_MS = 500;
/** JetStream API error codes (server `errors.json`). */
const STREAM_NAME_IN_USE = 10058;

/** CloudEvents attributes, as `ce-<name>` headers (CloudEvents NATS binding, binary mode). */
const ATTRIBUTES = [
  'specversion',
  'id',
  'source',
  'type',
  'subject',
  'time',
  'datacontenttype',
  'correlationid',
  'causationid',
  'traceparent',
  'partitionkey',
] as const satisfies readonly (keyof Envelope)[];
const TYPE_HEADER = 'ce-type';
/** On a redrive: the only group that gets it. */
const TARGET_GROUP_HEADER = 'orderflow-group';

export function resolveNatsTransportOptions(options: NatsTransportOptions): ResolvedNatsTransportOptions {
  const partitions = options.partitions ?? DEFAULT_PARTITIONS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const duplicateWindowMs = options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  const servers = options.servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const problems: string[] = [];
  if (servers.length === 0) problems.push('servers must name at least one server');
  if (!NAME_PATTERN.test(options.namespace)) {
    problems.push(`namespace must be letters, digits, - and _ (got ${JSON.stringify(options.namespace)})`);
  }
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096) {
    problems.push(`partitions must be an integer from 1 to 4096 (got ${String(partitions)})`);
  }
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    problems.push(`maxInFlight must be an integer >= 1 (got ${String(maxInFlight)})`);
  }
  if (!Number.isInteger(ackWaitMs) || ackWaitMs < 1) {
    problems.push(`ackWaitMs must be an integer >= 1 (got ${String(ackWaitMs)})`);
  }
  if (!Number.isInteger(duplicateWindowMs) || duplicateWindowMs < 1) {
    problems.push(`duplicateWindowMs must be an integer >= 1 (got ${String(duplicateWindowMs)})`);
  }
  if (problems.length > 0) throw new Error(`invalid NATS transport options: ${problems.join('; ')}`);
  return Object.freeze({
    servers,
    namespace: options.namespace,
    partitions,
    maxInFlight,
    ackWaitMs,
    duplicateWindowMs,
    name: options.name ?? 'orderflow',
    onError: options.onError ?? ((error: Error) => process.emitWarning(error)),
  });
}

/** Encodes an envelope as CloudEvents binary mode: attributes in headers, data in the body. */
export function encodeEnvelope(message: Envelope): { headers: MsgHdrs; body: string } {
  const h = headers();
  for (const attribute of ATTRIBUTES) {
    const value = message[attribute];
    if (value === undefined) continue;
    if (/[\r\n]/.test(value)) {
      throw new Error(`message ${message.id}: attribute ${attribute} must not contain line breaks`);
    }
    h.set(`ce-${attribute}`, value);
  }
  return { headers: h, body: message.data === undefined ? '' : JSON.stringify(message.data) };
}

export function decodeEnvelope(h: MsgHdrs, body: string): Envelope {
  const envelope: Record<string, unknown> = {};
  for (const attribute of ATTRIBUTES) {
    if (h.has(`ce-${attribute}`)) envelope[attribute] = h.get(`ce-${attribute}`);
  }
  envelope.data = body === '' ? undefined : (JSON.parse(body) as unknown);
  return envelope as unknown as Envelope;
}

interface PullLoop {
  messages: ConsumerMessages;
  /** Deliveries handed to `onDelivery` and not yet acked or nacked. */
  unacked: Set<JsMsg>;
}

interface SubscriptionRuntime {
  readonly group: string;
  readonly types: ReadonlySet<string>;
  readonly onDelivery: (delivery: Delivery) => void;
  readonly loops: PullLoop[];
  active: boolean;
}

class NatsDelivery implements Delivery {
  private done = false;

  constructor(
    readonly message: Envelope,
    readonly partition: number,
    private readonly msg: JsMsg,
    private readonly subscription: SubscriptionRuntime,
    private readonly loop: PullLoop,
    private readonly onError: (error: Error) => void,
  ) {}

  get deliveryCount(): number {
    return this.msg.info.deliveryCount;
  }

  ack(): void {
    this.settle((msg) => msg.ack());
  }

  nack(delayMs: number): void {
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? Math.ceil(delayMs) : 0;
    this.settle((msg) => msg.nak(delay));
  }

  private settle(action: (msg: JsMsg) => void): void {
    // A stopped subscription has handed its unacked deliveries back (nak): late acks count for nothing.
    if (this.done || !this.subscription.active) return;
    this.done = true;
    this.loop.unacked.delete(this.msg);
    try {
      action(this.msg);
    } catch (error) {
      // The connection is closed or closing: the server redelivers after ack_wait.
      this.onError(asError(error));
    }
  }
}

export function createNatsTransport(options: NatsTransportOptions): Transport {
  const resolved = resolveNatsTransportOptions(options);
  const { namespace: ns, partitions, onError } = resolved;
  const streams = new Map<string, Promise<void>>();
  const subscriptions = new Set<SubscriptionRuntime>();
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let jsm: JetStreamManager | undefined;
  let starting: Promise<void> | undefined;
  let closed = false;
  let redriveCounter = 0;

  const streamName = (context: string) => `${ns}_${context}`;
  const partitionSubject = (context: string, partition: number) => `${ns}.${context}.p${partition}`;

  function running(): { js: JetStreamClient; jsm: JetStreamManager } {
    if (closed || js === undefined || jsm === undefined) {
      throw new Error('the NATS transport is not running: call start() first');
    }
    return { js, jsm };
  }

  async function addStream(name: string, subjects: string[]): Promise<void> {
    const { jsm } = running();
    try {
      await jsm.streams.add({
        name,
        subjects,
        duplicate_window: resolved.duplicateWindowMs * MS_TO_NS,
      });
    } catch (error) {
      // Created by another process with other settings (an operator may tune limits): use it as is.
      if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) return;
      throw error;
    }
  }

  /** Creates a context's stream once per process; concurrent callers share the request. */
  function ensureContextStream(context: string): Promise<void> {
    let ready = streams.get(context);
    if (ready === undefined) {
      ready = addStream(streamName(context), [`${ns}.${context}.*`]);
      streams.set(context, ready);
      ready.catch(() => streams.delete(context));
    }
    return ready;
  }

  function validName(kind: string, value: string): void {
    if (!NAME_PATTERN.test(value)) {
      throw new Error(`${kind} must be letters, digits, - and _ for NATS (got ${JSON.stringify(value)})`);
    }
  }

  async function publishOne(message: Envelope, msgID: string, targetGroup?: string): Promise<void> {
    const { js } = running();
    const { headers: h, body } = encodeEnvelope(message);
    if (targetGroup !== undefined) h.set(TARGET_GROUP_HEADER, targetGroup);
    const subject = partitionSubject(contextOf(message.type), partitionOf(message.partitionkey, partitions));
    await js.publish(subject, body, { msgID, headers: h });
  }

  /** Creates or updates a group's durable consumer, then pulls from it. */
  async function startLoop(
    subscription: SubscriptionRuntime,
    stream: string,
    durable: string,
    filterSubject: string,
    maxInFlight: number,
    accept: (type: string) => boolean,
  ): Promise<void> {
    const { js, jsm } = running();
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      filter_subject: filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: resolved.ackWaitMs * MS_TO_NS,
      max_ack_pending: maxInFlight,
      max_deliver: -1,
    };
    // Server 2.9 creates a durable or updates the editable fields (max_ack_pending, ack_wait) of an
    // existing one with the same filter and deliver policy.
    await jsm.consumers.add(stream, config);
    const consumer = await js.consumers.get(stream, durable);
    const loop: PullLoop = { messages: undefined as unknown as ConsumerMessages, unacked: new Set() };
    loop.messages = await consumer.consume({
      max_messages: Math.min(maxInFlight, 1_000),
      expires: PULL_EXPIRES_MS,
      callback: (msg) => {
        if (!subscription.active) {
          // Arrived after stop(): hand it back at once instead of waiting for ack_wait.
          safely(() => msg.nak(HAND_BACK_DELAY_MS));
          return;
        }
        const target = msg.headers?.get(TARGET_GROUP_HEADER) ?? '';
        const wanted =
          target === '' ? accept(msg.headers?.get(TYPE_HEADER) ?? '') : target === subscription.group;
        if (!wanted) {
          safely(() => msg.ack());
          return;
        }
        let message: Envelope;
        try {
          message = decodeEnvelope(msg.headers ?? headers(), msg.string());
        } catch (error) {
          // Not ours to parse: ack, or it would come back forever. Publishers here always encode.
          onError(new Error(`undecodable message ${msg.subject} #${msg.seq}`, { cause: error }));
          safely(() => msg.ack());
          return;
        }
        loop.unacked.add(msg);
        const delivery = new NatsDelivery(
          message,
          partitionOf(message.partitionkey, partitions),
          msg,
          subscription,
          loop,
          onError,
        );
        try {
          subscription.onDelivery(delivery);
        } catch (error) {
          onError(asError(error));
          delivery.nack(1_000);
        }
      },
    });
    subscription.loops.push(loop);
    // The pull loop reconnects by itself; surface why it ended if it ever does.
    void loop.messages.closed().then((result) => {
      if (result instanceof Error && subscription.active) onError(result);
    });
  }

  function safely(action: () => void): void {
    try {
      action();
    } catch (error) {
      onError(asError(error));
    }
  }

  async function stopSubscription(subscription: SubscriptionRuntime): Promise<void> {
    if (!subscription.active) return;
    subscription.active = false;
    subscriptions.delete(subscription);
    await Promise.all(
      subscription.loops.map(async (loop) => {
        await loop.messages.close().catch(() => undefined);
        // Unacked deliveries go back to the group now rather than after ack_wait (see HAND_BACK_DELAY_MS).
        for (const msg of loop.unacked) safely(() => msg.nak(HAND_BACK_DELAY_MS));
        loop.unacked.clear();
      }),
    );
  }

  return {
    partitions,

    async start() {
      if (closed) throw new Error('the NATS transport is closed');
      starting ??= (async () => {
        const connection = await connect({
          servers: [...resolved.servers],
          name: resolved.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
        });
        nc = connection;
        js = jetstream(connection);
        jsm = await jetstreamManager(connection);
      })();
      await starting;
    },

    async publish(messages) {
      if (messages.length === 0) return;
      const contexts = new Set(messages.map((m) => contextOf(m.type)));
      for (const context of contexts) validName('message context', context);
      await Promise.all([...contexts].map(ensureContextStream));
      await Promise.all(messages.map((message) => publishOne(message, message.id)));
    },

    async redeliver(group, message) {
      validName('group', group);
      const context = contextOf(message.type);
      validName('message context', context);
      await ensureContextStream(context);
      // A distinct id, or the stream's dedupe window would drop it as the message seen before.
      const msgID = `${message.id}:redrive:${Date.now()}-${++redriveCounter}`;
      await publishOne(message, msgID, group);
    },

    async subscribe(subscribeOptions: TransportSubscribeOptions): Promise<TransportSubscription> {
      running();
      const { group, types } = subscribeOptions;
      const maxInFlight = subscribeOptions.maxInFlight ?? resolved.maxInFlight;
      validName('group', group);
      if (types.length === 0) throw new Error(`subscribe: group ${group} needs at least one message type`);
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw new Error(`subscribe: maxInFlight must be an integer >= 1 (got ${String(maxInFlight)})`);
      }
      const contexts = [...new Set(types.map(contextOf))];
      for (const context of contexts) validName('message context', context);
      const subscription: SubscriptionRuntime = {
        group,
        types: new Set(types),
        onDelivery: subscribeOptions.onDelivery,
        loops: [],
        active: true,
      };
      const accept = (type: string) => subscription.types.has(type);
      try {
        await Promise.all(contexts.map(ensureContextStream));
        const starts: Promise<void>[] = [];
        for (const context of contexts) {
          for (let k = 0; k < partitions; k++) {
            starts.push(
              startLoop(
                subscription,
                streamName(context),
                `${ns}_${group}_${context}_p${k}`,
                partitionSubject(context, k),
                maxInFlight,
                accept,
              ),
            );
          }
        }
        await Promise.all(starts);
      } catch (error) {
        await stopSubscription(subscription);
        throw error;
      }
      subscriptions.add(subscription);
      return { group, stop: () => stopSubscription(subscription) };
    },

    async close() {
      if (closed) return;
      await starting?.catch(() => undefined);
      await Promise.all([...subscriptions].map(stopSubscription));
      closed = true;
      if (nc !== undefined && !nc.isClosed()) {
        // Flushes the acks and naks written so far, then closes.
        await nc.drain().catch(async (error: unknown) => {
          onError(asError(error));
          await nc?.close();
        });
      }
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
