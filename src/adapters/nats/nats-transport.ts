import { setTimeout as sleep } from 'node:timers/promises';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { contextOf, partitionOf, type Envelope } from '../../kernel/envelope.ts';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../../kernel/errors.ts';
import type {
  Delivery,
  Transport,
  TransportSubscribeOptions,
  TransportSubscription,
} from '../../messaging/transport.ts';
import { createPartitionLeases, type LeaseHolder, type PartitionLeases } from './partition-leases.ts';

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
 * - Copies of a group (in any process) split its partitions by leases in the KV bucket
 *   `<ns>_leases` (`partition-leases.ts`): a copy pulls only the partitions it holds, so one key's
 *   messages are handled by one copy at a time, in order.
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
   * TTL of a partition lease, when the bucket `<ns>_leases` is created (an existing bucket keeps its
   * own). Leases are renewed every third of it; a copy that dies frees its partitions within it.
   * @default 15000
   */
  leaseTtlMs?: number;
  /**
   * How long a copy handing a partition over to another copy waits for the deliveries it already
   * has to finish, before it hands the rest back.
   * @default 5000
   */
  drainTimeoutMs?: number;
  /**
   * How long one fetch waits on the server (heartbeats every half of it); it bounds how long a
   * released partition waits for its fetch to end. At least 1000 (the client's minimum).
   * @default 5000
   */
  fetchExpiresMs?: number;
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
  readonly leaseTtlMs: number;
  readonly drainTimeoutMs: number;
  readonly fetchExpiresMs: number;
  readonly name: string;
  readonly onError: (error: Error) => void;
}

const DEFAULT_PARTITIONS = 16;
const DEFAULT_MAX_IN_FLIGHT = 256;
const DEFAULT_ACK_WAIT_MS = 10_000;
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/**
 * Long enough that a process starved of CPU (many processes on few cores, measured in the
 * multi-process test) does not lose its leases between renewals; a dead copy's partitions move
 * within it.
 */
const DEFAULT_LEASE_TTL_MS = 15_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
/** Names used in subjects and consumer names: one subject token, no `.`, `*`, `>` or spaces. */
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/**
 * How long a fetch waits on the server for messages; heartbeats every half of it detect a dead link.
 * It bounds how long a release waits for a fetch to end. Not shorter: with eight processes on two
 * cores, 1 s fetches (500 ms heartbeats) missed heartbeats all the time, and every missed heartbeat
 * ends a fetch and strands what was on its way until ack_wait.
 */
const DEFAULT_FETCH_EXPIRES_MS = 5_000;
const FETCH_MAX_MESSAGES = 256;
/** Pause after a failed fetch, growing with each failure in a row up to the maximum. */
const PULL_RETRY_MS = 250;
const PULL_RETRY_MAX_MS = 2_000;
const MS_TO_NS = 1_000_000;
/**
 * Delay of the nak that hands a stopped subscription's unacked deliveries back. Server 2.9 may
 * redeliver an immediately nacked message to the stopped pull request before it has processed the
 * unsubscribe; the message is then lost in the dead inbox until `ack_wait`. Measured: 0 ms lost the
 * first nacked message of every partition, 300 ms lost none.
 */
const HAND_BACK_DELAY_MS = 500;
/** How often a draining partition checks whether its deliveries are settled. */
const DRAIN_POLL_MS = 20;
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
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const fetchExpiresMs = options.fetchExpiresMs ?? DEFAULT_FETCH_EXPIRES_MS;
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
  if (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 300) {
    problems.push(`leaseTtlMs must be an integer >= 300 (got ${String(leaseTtlMs)})`);
  }
  if (!Number.isInteger(drainTimeoutMs) || drainTimeoutMs < 0) {
    problems.push(`drainTimeoutMs must be an integer >= 0 (got ${String(drainTimeoutMs)})`);
  }
  if (!Number.isInteger(fetchExpiresMs) || fetchExpiresMs < 1_000) {
    problems.push(`fetchExpiresMs must be an integer >= 1000 (got ${String(fetchExpiresMs)})`);
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems, { subject: 'NATS transport options' });
  return Object.freeze({
    servers,
    namespace: options.namespace,
    partitions,
    maxInFlight,
    ackWaitMs,
    duplicateWindowMs,
    leaseTtlMs,
    drainTimeoutMs,
    fetchExpiresMs,
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
      throw new AppError(
        ERROR_CODES.MESSAGE_SCHEMA_VIOLATION,
        `message ${message.id}: attribute ${attribute} must not contain line breaks`,
      );
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
  consumer?: Consumer;
  /** The fetch in progress. */
  batch?: ConsumerMessages;
  /** Deliveries handed to `onDelivery` and not yet acked or nacked. */
  unacked: Set<JsMsg>;
  /** False once its partition is released or its subscription stopped: late acks count for nothing. */
  active: boolean;
  /** Whether to fetch again when the current fetch ends. */
  pulling: boolean;
  /** Settles when the loop has stopped fetching. */
  ended: Promise<void>;
}

/** The pull loops of one leased partition of a subscription (one per context). */
interface PartitionRuntime {
  loops: PullLoop[];
  /** Set while the partition is being released. */
  releasing?: Promise<void>;
  /** Cuts a drain short (the lease was lost, or the subscription stops). */
  abortDrain?: () => void;
}

interface SubscriptionRuntime {
  readonly group: string;
  readonly types: ReadonlySet<string>;
  readonly contexts: readonly string[];
  readonly maxInFlight: number;
  readonly onDelivery: (delivery: Delivery) => void;
  readonly onPartitionRevoked: ((partition: number) => void) | undefined;
  readonly partitions: Map<number, PartitionRuntime>;
  readonly holder: LeaseHolder;
  active: boolean;
}

class NatsDelivery implements Delivery {
  private done = false;

  constructor(
    readonly message: Envelope,
    readonly partition: number,
    private readonly msg: JsMsg,
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
    // A released partition has handed its unacked deliveries back (nak): late acks count for nothing.
    if (this.done || !this.loop.active) return;
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

/** Unique per subscription: the owner written into its leases. */
function newOwnerId(): string {
  const host = os
    .hostname()
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 40);
  return `${host}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface NatsTransport extends Transport {
  /** Whether the connection to the server is up (false while it reconnects), for /readyz. */
  connected(): boolean;
  /** Per group subscribed in this process, how many partitions it holds now. */
  ownedPartitions(): Record<string, number>;
}

export function createNatsTransport(options: NatsTransportOptions): NatsTransport {
  const resolved = resolveNatsTransportOptions(options);
  const { namespace: ns, partitions, onError } = resolved;
  const streams = new Map<string, Promise<void>>();
  const subscriptions = new Set<SubscriptionRuntime>();
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let jsm: JetStreamManager | undefined;
  let starting: Promise<void> | undefined;
  let leases: PartitionLeases | undefined;
  let connectionUp = false;
  let closed = false;
  let redriveCounter = 0;

  const streamName = (context: string) => `${ns}_${context}`;
  const partitionSubject = (context: string, partition: number) => `${ns}.${context}.p${partition}`;

  function running(): { js: JetStreamClient; jsm: JetStreamManager } {
    if (closed || js === undefined || jsm === undefined) {
      throw new AppError(ERROR_CODES.INVALID_STATE, 'the NATS transport is not running: call start() first');
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
      throw InvalidOptionsError.format(
        kind,
        `must be letters, digits, - and _ for NATS (got ${JSON.stringify(value)})`,
      );
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
  const durableName = (group: string, context: string, partition: number) =>
    `${ns}_${group}_${context}_p${partition}`;

  /** Creates a group's durable consumer, or updates its editable fields (max_ack_pending, ack_wait). */
  async function ensureDurable(group: string, context: string, partition: number, maxInFlight: number) {
    const config: Partial<ConsumerConfig> = {
      durable_name: durableName(group, context, partition),
      filter_subject: partitionSubject(context, partition),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: resolved.ackWaitMs * MS_TO_NS,
      max_ack_pending: maxInFlight,
      max_deliver: -1,
    };
    // Server 2.9 creates a durable or updates the editable fields of an existing one with the same
    // filter and deliver policy.
    await running().jsm.consumers.add(streamName(context), config);
  }

  /** Hands a delivery to the subscription, or acks at once what the group does not want. */
  function receive(subscription: SubscriptionRuntime, loop: PullLoop, msg: JsMsg, partition: number): void {
    if (!loop.active) {
      // Arrived after the partition was released: hand it back at once instead of after ack_wait.
      safely(() => msg.nak(HAND_BACK_DELAY_MS));
      return;
    }
    const target = msg.headers?.get(TARGET_GROUP_HEADER) ?? '';
    const wanted =
      target === ''
        ? subscription.types.has(msg.headers?.get(TYPE_HEADER) ?? '')
        : target === subscription.group;
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
    const delivery = new NatsDelivery(message, partition, msg, loop, onError);
    try {
      subscription.onDelivery(delivery);
    } catch (error) {
      onError(asError(error));
      delivery.nack(1_000);
    }
  }

  /**
   * Pulls one partition of one context in fetches (batches with a short expiry) rather than a
   * long-lived `consume()`: a release stops asking for more and waits for the current fetch to end,
   * so no message is left in flight to a request nobody listens to any more (it would wait for
   * ack_wait). A failed fetch (server away, missed heartbeats) is retried with a growing pause.
   */
  async function pull(subscription: SubscriptionRuntime, loop: PullLoop, context: string, partition: number) {
    const durable = durableName(subscription.group, context, partition);
    let failures = 0;
    while (loop.pulling) {
      try {
        const consumer = (loop.consumer ??= await running().js.consumers.get(streamName(context), durable));
        const batch = await consumer.fetch({
          max_messages: Math.min(subscription.maxInFlight, FETCH_MAX_MESSAGES),
          expires: resolved.fetchExpiresMs,
        });
        loop.batch = batch;
        for await (const msg of batch) receive(subscription, loop, msg, partition);
        failures = 0;
      } catch (error) {
        if (!loop.pulling) break;
        failures++;
        // Say it once when it starts and now and then while it lasts, not every pause.
        if (failures === 1 || failures % 20 === 0) {
          onError(new Error(`pulling ${durable} failed ${failures} time(s)`, { cause: error }));
        }
        loop.consumer = undefined;
        await sleep(Math.min(PULL_RETRY_MAX_MS, PULL_RETRY_MS * failures));
      } finally {
        loop.batch = undefined;
      }
    }
  }

  function safely(action: () => void): void {
    try {
      action();
    } catch (error) {
      onError(asError(error));
    }
  }

  async function acquirePartition(subscription: SubscriptionRuntime, partition: number): Promise<void> {
    // Taken again while its release (after a lost lease) is still running: start after it, or the
    // release would remove the new loops' entry and leave a held partition that nobody pulls.
    await subscription.partitions.get(partition)?.releasing;
    if (!subscription.active || subscription.partitions.has(partition)) return;
    const part: PartitionRuntime = { loops: [] };
    subscription.partitions.set(partition, part);
    for (const context of subscription.contexts) {
      const loop: PullLoop = { unacked: new Set(), active: true, pulling: true, ended: Promise.resolve() };
      loop.ended = pull(subscription, loop, context, partition);
      part.loops.push(loop);
    }
  }

  /**
   * Stops pulling a partition. `handover`: lets the current fetches end and waits (up to
   * `drainTimeoutMs`) for the deliveries already handed out to be settled, so the next owner starts
   * after them. `stop`: lets the fetches end. `lost`: cuts them off. What is left is handed back,
   * then the subscriber forgets the partition.
   */
  function releasePartition(
    subscription: SubscriptionRuntime,
    partition: number,
    mode: 'handover' | 'stop' | 'lost',
  ): Promise<void> {
    const part = subscription.partitions.get(partition);
    if (part === undefined) return Promise.resolve();
    if (part.releasing !== undefined) {
      if (mode !== 'handover') part.abortDrain?.();
      return part.releasing;
    }
    let aborted = false;
    part.abortDrain = () => {
      aborted = true;
      for (const loop of part.loops) loop.batch?.stop();
    };
    part.releasing = (async () => {
      for (const loop of part.loops) loop.pulling = false;
      if (mode === 'lost') part.abortDrain?.();
      const fetchesEnded = Promise.all(part.loops.map((loop) => loop.ended));
      const cutOff = setTimeout(() => part.abortDrain?.(), resolved.fetchExpiresMs + 1_000);
      await fetchesEnded;
      clearTimeout(cutOff);
      if (mode === 'handover') {
        const deadline = Date.now() + resolved.drainTimeoutMs;
        while (!aborted && Date.now() < deadline && part.loops.some((loop) => loop.unacked.size > 0)) {
          await sleep(DRAIN_POLL_MS);
        }
      }
      // Unacked deliveries go back to the group now rather than after ack_wait. When the fetches
      // ended by themselves no pull request of ours is left on the server, so they can go back at
      // once and, as redeliveries, reach the next owner before newer messages (order kept). A cut-off
      // fetch may leave one behind: wait past it (see HAND_BACK_DELAY_MS).
      const handBackDelay = aborted ? HAND_BACK_DELAY_MS : 0;
      for (const loop of part.loops) {
        loop.active = false;
        for (const msg of loop.unacked) safely(() => msg.nak(handBackDelay));
        loop.unacked.clear();
      }
      subscription.partitions.delete(partition);
      if (subscription.active) subscription.onPartitionRevoked?.(partition);
    })();
    return part.releasing;
  }

  /**
   * Sums, per group, its durables' `num_pending` (not yet delivered) and `num_ack_pending`
   * (delivered, not acked), listed from the server so that a process which subscribes to nothing
   * sees every group. A durable counts every message of its partition subject, including the types
   * its group acks unseen, which it passes at once.
   */
  async function consumerLag(): Promise<Record<string, number>> {
    const { jsm } = running();
    const lag: Record<string, number> = {};
    // The namespace's subjects pick its streams, not a name prefix another namespace could share.
    for await (const stream of jsm.streams.names(`${ns}.>`)) {
      const context = stream.slice(ns.length + 1);
      if (stream !== streamName(context)) continue;
      const durable = new RegExp(`^${ns}_(.+)_${context}_p\\d+$`);
      for await (const consumer of jsm.consumers.list(stream)) {
        const group = durable.exec(consumer.name)?.[1];
        if (group === undefined) continue;
        lag[group] = (lag[group] ?? 0) + consumer.num_pending + consumer.num_ack_pending;
      }
    }
    return lag;
  }

  async function stopSubscription(subscription: SubscriptionRuntime): Promise<void> {
    if (!subscription.active) return;
    subscription.active = false;
    subscriptions.delete(subscription);
    await Promise.all(
      [...subscription.partitions.keys()].map((partition) =>
        releasePartition(subscription, partition, 'stop'),
      ),
    );
    await leases?.leave(subscription.holder);
  }

  return {
    partitions,

    connected: () => connectionUp && !closed && nc !== undefined && !nc.isClosed(),

    ownedPartitions() {
      const owned: Record<string, number> = {};
      for (const subscription of subscriptions) {
        owned[subscription.group] = (owned[subscription.group] ?? 0) + subscription.partitions.size;
      }
      return owned;
    },

    async start() {
      if (closed) throw new AppError(ERROR_CODES.INVALID_STATE, 'the NATS transport is closed');
      starting ??= (async () => {
        const connection = await connect({
          servers: [...resolved.servers],
          name: resolved.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
        });
        nc = connection;
        connectionUp = true;
        void (async () => {
          for await (const status of connection.status()) {
            if (status.type === 'disconnect') connectionUp = false;
            else if (status.type === 'reconnect') connectionUp = true;
          }
        })();
        js = jetstream(connection);
        jsm = await jetstreamManager(connection);
        const kv = await new Kvm(js).create(`${ns}_leases`, { ttl: resolved.leaseTtlMs, history: 1 });
        // An existing bucket keeps the TTL it was made with: renew by that one.
        const ttlMs = (await kv.status()).ttl;
        leases = createPartitionLeases({
          kv,
          partitions,
          ttlMs: ttlMs > 0 ? ttlMs : resolved.leaseTtlMs,
          onError,
        });
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
      if (types.length === 0)
        throw InvalidOptionsError.format('types', `must name at least one message type (group ${group})`);
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw InvalidOptionsError.format(
          'maxInFlight',
          `must be an integer >= 1 (got ${String(maxInFlight)})`,
        );
      }
      const contexts = [...new Set(types.map(contextOf))];
      for (const context of contexts) validName('message context', context);
      const subscription: SubscriptionRuntime = {
        group,
        types: new Set(types),
        contexts,
        maxInFlight,
        onDelivery: subscribeOptions.onDelivery,
        onPartitionRevoked: subscribeOptions.onPartitionRevoked,
        partitions: new Map(),
        holder: {
          group,
          owner: newOwnerId(),
          acquired: (partition) => acquirePartition(subscription, partition),
          released: (partition, drain) =>
            releasePartition(subscription, partition, drain ? 'handover' : 'lost'),
        },
        active: true,
      };
      try {
        await Promise.all(contexts.map(ensureContextStream));
        // Every durable exists from the first subscribe on, so the group keeps what is published
        // to partitions no copy holds at the moment.
        const durables: Promise<void>[] = [];
        for (const context of contexts) {
          for (let k = 0; k < partitions; k++) durables.push(ensureDurable(group, context, k, maxInFlight));
        }
        await Promise.all(durables);
        subscriptions.add(subscription);
        await leases!.join(subscription.holder);
      } catch (error) {
        await stopSubscription(subscription);
        throw error;
      }
      return { group, stop: () => stopSubscription(subscription) };
    },

    consumerLag,

    async close() {
      if (closed) return;
      await starting?.catch(() => undefined);
      await Promise.all([...subscriptions].map(stopSubscription));
      await leases?.close();
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
