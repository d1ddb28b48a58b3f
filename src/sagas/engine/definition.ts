import type { EventMetadata } from '../../event-store/index.ts';
import type { MessageData, MessageDefinition } from '../../messaging/index.ts';

/**
 * How an orchestration is described: a versioned definition made of steps. Each step sends commands
 * (its action, possibly fanned out), names the replies that complete or fail it, may declare a
 * compensation (commands that undo it, with their own replies), and has a per-attempt timeout
 * (a durable timer) and a retry budget. Everything here is pure: functions of the saga's data and
 * of the incoming message's payload, never I/O. The engine (`decide.ts`) turns their answers into
 * saga events, commands, facts and timers.
 *
 * `D` is the saga's own data: what it keeps from the message that started it plus what replies
 * taught it. Keep it small: it is folded on every message and copied into events as patches.
 */
export interface SagaDefinition<D> {
  /** Stable name; the saga's stream is `saga-<name>-<sagaId>`. */
  readonly name: string;
  /**
   * Version of the definition. A saga runs to its end on the version it started on, so a change of
   * steps, replies or data shape gets a new version while the old one stays registered.
   */
  readonly version: number;
  /** Messages that start a saga, and the saga id and initial data each one gives. */
  readonly start: readonly StartHandler<D>[];
  /** The saga a message belongs to (for example its `orderId`); undefined when it has none. */
  sagaIdOf(type: string, payload: unknown): string | undefined;
  /** In order. A step starts when the one before it completes. */
  readonly steps: readonly SagaStep<D>[];
  /**
   * Messages watched in every phase, for what is not a reply of the step in progress: bookkeeping
   * (a shipment dispatched), signals that fail the saga (a cancellation) and refusals.
   */
  readonly on?: readonly ObserveHandler<D>[];
  /** Effects once every step completed. */
  onCompleted?(data: D): SagaEffects;
  /** Effects once the compensations after a failure are done. */
  onFailed?(data: D, failure: SagaFailure): SagaEffects;
}

/**
 * A handler bound to the message it handles, made with `on`. `handle` takes that message's payload
 * (`MessageData<M>`, its schema's static type), then what the place it is declared in gives (`Args`),
 * and answers `R`. The engine dispatches by `message.type`; the catalog has validated the payload.
 */
export interface SagaHandler<
  Args extends readonly unknown[],
  R,
  M extends MessageDefinition = MessageDefinition,
> {
  readonly message: M;
  // A method, not a function property: a handler of one message then fits a list of handlers of any
  // message (method parameters are compared bivariantly), and `on` is what ties payload to message.
  handle(this: void, payload: MessageData<M>, ...args: Args): R;
}

/**
 * Binds a handler to its message: `on(StockReserved, (reply, data, context) => …)`. `reply` is
 * inferred from the message's schema; the other parameters and the result from where it is declared
 * (a step's `replies`, a compensation's `replies` or `late`, the definition's `on` or `start`).
 */
export function on<M extends MessageDefinition, Args extends readonly unknown[], R>(
  message: M,
  handle: (payload: MessageData<M>, ...args: Args) => R,
): SagaHandler<Args, R, M> {
  return { message, handle };
}

/** The handler of `type` among `handlers`, if any. */
export function handlerOf<H extends { readonly message: MessageDefinition }>(
  handlers: readonly H[] | undefined,
  type: string,
): H | undefined {
  return handlers?.find((handler) => handler.message.type === type);
}

/** A start message: the saga id and the initial data it gives. */
export type StartHandler<D> = SagaHandler<[], { sagaId: string; data: D }>;

/** A step of the forward flow. */
export interface SagaStep<D> {
  /** Unique within the definition, e.g. `reserve-stock`. */
  readonly name: string;
  /**
   * The commands that perform the step, sent when it starts (attempt 1) and again on each retry.
   * May be empty: a step that only waits for events.
   */
  action(data: D, context: { attempt: number }): readonly SagaCommand[];
  /** The replies that move the step on, one handler a message. Used only while the step is in progress. */
  readonly replies: readonly StepReplyHandler<D>[];
  /** Per-attempt deadline, as a durable timer. Absent: the step waits without one. */
  readonly timeoutMs?: number;
  /**
   * Attempts in all, the first included. A timeout (or a `retry` reply) re-sends the action while
   * attempts remain; after the last the step fails with reason `timeout`.
   * @default 1
   */
  readonly maxAttempts?: number;
  /** The human sentence of a `timeout` failure. */
  timeoutDetail?(data: D, attempts: number): string;
  /**
   * True when the step has nothing left to wait for, checked when it starts or resumes (replies seen
   * while the saga was elsewhere may have completed it). The action is not sent then.
   */
  isDone?(data: D): boolean;
  /** Effects when the step completes (recorded before the next step's action is sent). */
  onCompleted?(data: D): SagaEffects;
  /** How to undo the step. Runs for completed steps, in reverse order, after a failure. */
  readonly compensation?: SagaCompensation<D>;
}

export interface SagaCompensation<D> {
  /**
   * The compensation commands still needed, sent when the compensation starts and again on each retry
   * (so it answers from the data: only what has not been undone yet). Empty: nothing to undo, and
   * the compensation is skipped.
   */
  commands(data: D, context: CompensationContext): readonly SagaCommand[];
  /** Replies to the compensation commands, one handler a message. */
  readonly replies: readonly CompensationReplyHandler<D>[];
  /** Per-attempt deadline, as a durable timer. Absent: waits without one. */
  readonly timeoutMs?: number;
  /**
   * Attempts in all before the saga is parked as `needs_attention` for an operator.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Replies of this step's action that can arrive after the saga moved on (a reservation answered
   * after the saga decided to reject): the commands that undo each. Used once the saga failed, or
   * while it compensates other steps and this one's compensation is behind it (or was left out).
   */
  readonly late?: readonly LateReplyHandler<D>[];
}

export interface CompensationContext {
  readonly attempt: number;
  readonly failure: SagaFailure;
}

/** Why a saga failed, kept in its state. */
export interface SagaFailure {
  /** The step in progress when it failed. */
  readonly step: string;
  /** Machine-readable, e.g. `out_of_stock`, `timeout`, `customer_request`. */
  readonly reason: string;
  /** A human sentence. */
  readonly detail: string;
}

/** What a handler may know about where the saga is. */
export interface SagaView {
  readonly status: SagaStatus;
  /** The step in progress (running), or the step the saga failed at. */
  readonly step: string;
  readonly attempt: number;
  /** Forward steps completed, in order. */
  readonly completed: readonly string[];
  /** Compensations still to run, the one in progress first. */
  readonly compensations: readonly string[];
  readonly failure: SagaFailure | null;
}

export type SagaStatus = 'running' | 'compensating' | 'needs_attention' | 'completed' | 'failed';

export interface ReplyContext {
  /** Id of the message being handled: a base for deterministic ids of facts. */
  readonly messageId: string;
  /** The attempt in progress (of the step, or of the compensation). */
  readonly attempt: number;
  readonly view: SagaView;
}

/** A reply of the step in progress: (payload, data, context) → what it means to the step. */
export type StepReplyHandler<D> = SagaHandler<[data: D, context: ReplyContext], StepReply<D>>;
/** A reply of the compensation in progress: (payload, data, context) → what it means to it. */
export type CompensationReplyHandler<D> = SagaHandler<[data: D, context: ReplyContext], CompensationReply<D>>;
/** A late reply of a step: (payload, data, failure) → the commands that undo it. */
export type LateReplyHandler<D> = SagaHandler<[data: D, failure: SagaFailure | null], readonly SagaCommand[]>;
/** A watched message: (payload, data, context) → what it changes. */
export type ObserveHandler<D> = SagaHandler<[data: D, context: ReplyContext], Observation<D>>;

/** What a reply means to the step in progress. `data` is merged into the saga's data (shallow). */
export type StepReply<D> =
  /** A duplicate or irrelevant reply: nothing changes. */
  | { readonly outcome: 'ignored' }
  /** One of several awaited replies. */
  | { readonly outcome: 'progressed'; readonly data?: Partial<D>; readonly effects?: SagaEffects }
  | { readonly outcome: 'completed'; readonly data?: Partial<D>; readonly effects?: SagaEffects }
  | {
      readonly outcome: 'failed';
      readonly reason: string;
      readonly detail: string;
      readonly data?: Partial<D>;
      /**
       * Whether this step's own compensation runs too: true when the action may have had an effect
       * (some lines reserved before one failed), false when the reply says nothing was done.
       * @default true
       */
      readonly compensate?: boolean;
    }
  /**
   * A retryable failure of attempt `attempt` (a gateway timeout): the action is sent again if
   * attempts remain, as on a timeout. Ignored when `attempt` is not the one in progress.
   */
  | { readonly outcome: 'retry'; readonly attempt: number };

/** What a reply means to the compensation in progress. */
export type CompensationReply<D> =
  | { readonly outcome: 'ignored' }
  | { readonly outcome: 'progressed'; readonly data?: Partial<D> }
  | { readonly outcome: 'completed'; readonly data?: Partial<D>; readonly effects?: SagaEffects }
  /**
   * The step cannot be undone any more (the shipment already left). If nothing was compensated yet,
   * the saga gives up its failure and resumes the forward flow at the step it failed at; otherwise
   * it needs an operator.
   */
  | {
      readonly outcome: 'refused';
      readonly detail: string;
      readonly data?: Partial<D>;
      readonly effects?: SagaEffects;
    };

/**
 * What a watched message means outside the step's replies. All fields optional: an empty
 * observation changes nothing. `fail` is honoured only while the saga is running (it fails the step
 * in progress, whose compensation then runs too); `data` only until the saga ended.
 */
export interface Observation<D> {
  readonly data?: Partial<D>;
  readonly effects?: SagaEffects;
  readonly fail?: { readonly reason: string; readonly detail: string };
}

/** A command (or event) the saga sends. Its correlation is the handled message's. */
export interface SagaCommand {
  readonly type: string;
  readonly data: unknown;
  /** @default the correlation id (the saga's own order). Stock commands use the SKU. */
  readonly partitionKey?: string;
}

/**
 * A fact the process records in a stream of the context it belongs to (appended with expected
 * version `any`) and publishes as a message with the same id. The id is deterministic, so one fact
 * is one event and one message, whatever redelivers its cause.
 */
export interface SagaFact {
  readonly streamId: string;
  readonly id: string;
  /** Short event type in that stream, e.g. `OrderConfirmed`. */
  readonly type: string;
  /** The message type it is published as, e.g. `orders.OrderConfirmed`. */
  readonly messageType: string;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
}

export interface SagaEffects {
  readonly send?: readonly SagaCommand[];
  readonly record?: readonly SagaFact[];
}
