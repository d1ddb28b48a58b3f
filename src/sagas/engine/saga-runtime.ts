import {
  createAggregateLoader,
  type EventStore,
  type ExpectedVersion,
  type LoadedAggregate,
  type NewEvent,
  type ScheduledMessage,
  type StreamAppend,
} from '../../event-store/index.ts';
import {
  createEnvelope,
  type Envelope,
  type HandlerGroup,
  type MessageCatalog,
  type MessageHandler,
  type NewMessage,
  type RetryPolicyOptions,
} from '../../messaging/index.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import { decideSaga, type SagaDecision, type SagaInput } from './decide.ts';
import { resolveDefinition, type SagaRegistry } from './registry.ts';
import { evolveSaga, sagaStreamId, type SagaState } from './saga-state.ts';
import { SagaTimerFired, type SagaTimerFiredData } from './saga-timer.ts';

/**
 * Runs the sagas of one definition (all its registered versions) on the bus: a handler group whose
 * handler is load → decide → effects. The state is loaded with the aggregate loader (cached per
 * stream, so a message reads only the saga's new events), decided by the pure `decideSaga`, and the
 * decision's events are appended with the loaded version as expected version: a concurrent writer
 * makes the append fail with a ConcurrencyError, which the consumer retries on fresh state.
 * Commands and facts leave through the outbox in the same unit of work, timers as durable scheduled
 * messages. Nothing is kept in memory that the store does not have.
 *
 * Parked sagas (`needs_attention`) are listed in a small index stream, `saga-attention-<name>`,
 * written in the same unit of work as the transition in or out of that status, so an operator's
 * list never scans the event log.
 */
export interface SagaRuntime<D> {
  readonly registry: SagaRegistry<D>;
  /** The consumer group (`saga` by default) handling start messages, replies, watched messages and timers. */
  readonly handlers: HandlerGroup;
  /** The saga's stream id. */
  streamIdOf(sagaId: string): string;
  /** The saga's state and stream version (`state` undefined, version -1, for an unknown saga). */
  load(sagaId: string): Promise<LoadedAggregate<SagaState<D> | undefined>>;
  /** Sagas parked as `needs_attention`, longest parked first. */
  needingAttention(limit?: number): Promise<SagaState<D>[]>;
  /**
   * An operator's retry of a parked saga: re-sends the pending compensation commands (with a fresh
   * budget of attempts) and commits at once. Throws SAGA_NOT_FOUND or SAGA_NOT_RETRYABLE.
   */
  retry(sagaId: string, requestedBy?: string): Promise<SagaState<D>>;
}

export interface SagaRuntimeOptions<D> {
  registry: SagaRegistry<D>;
  store: EventStore;
  /**
   * Durable consumer group name.
   * @default 'saga'
   */
  group?: string;
  /** Overrides the application's retry policy for the group. */
  retry?: Partial<RetryPolicyOptions>;
  /**
   * Sagas whose state stays in memory (least recently used go first).
   * @default 10000
   */
  maxCachedSagas?: number;
  /** Validates what `retry` sends outside a handler (handlers validate through their context). */
  catalog?: MessageCatalog;
  /**
   * CloudEvents source of what `retry` sends.
   * @default 'orderflow/saga'
   */
  source?: string;
  /** @default () => new Date() */
  now?: () => Date;
}

/** Where a decision's effects go: a handler's context, or a unit of work being built. */
export interface SagaEffectSink {
  append(streamId: string, events: readonly NewEvent[], expectedVersion?: ExpectedVersion): void;
  send<T>(message: NewMessage<T>): void;
  schedule<T>(message: NewMessage<T>, delayMs: number): void;
  cancelScheduled(messageId: string): void;
}

export const SAGA_GROUP = 'saga';
/** The event types of the attention index stream. */
export const SAGA_PARKED = 'SagaParked';
export const SAGA_UNPARKED = 'SagaUnparked';

export function sagaAttentionStreamId(definition: string): string {
  return `saga-attention-${definition}`;
}

export function createSagaRuntime<D>(options: SagaRuntimeOptions<D>): SagaRuntime<D> {
  const { registry, store } = options;
  const name = registry.name;
  const group = options.group ?? SAGA_GROUP;
  const source = options.source ?? 'orderflow/saga';
  const now = options.now ?? (() => new Date());
  const attentionStream = sagaAttentionStreamId(name);
  const definitions = registry.versions.map((version) => registry.get(version)!).reverse();

  const loader = createAggregateLoader<SagaState<D> | undefined>({
    store,
    initial: () => undefined,
    evolve: evolveSaga,
    ...(options.maxCachedSagas !== undefined ? { maxEntries: options.maxCachedSagas } : {}),
  });
  const attention = createAggregateLoader<ReadonlySet<string>>({
    store,
    initial: () => new Set(),
    evolve: (parked, event) => {
      const { sagaId } = event.data as { sagaId: string };
      const next = new Set(parked);
      if (event.type === SAGA_PARKED) next.add(sagaId);
      else if (event.type === SAGA_UNPARKED) next.delete(sagaId);
      return next;
    },
    maxEntries: 1,
  });

  const streamIdOf = (sagaId: string): string => sagaStreamId(name, sagaId);

  function sagaIdOf(type: string, data: unknown): string | undefined {
    if (type === SagaTimerFired.type) {
      const timer = data as SagaTimerFiredData;
      return timer.definition === name ? timer.sagaId : undefined;
    }
    // Every version must agree on a message's saga; the current one is asked first.
    for (const definition of definitions) {
      const sagaId = definition.sagaIdOf(type, data);
      if (sagaId !== undefined) return sagaId;
    }
    return undefined;
  }

  function applyDecision(
    sink: SagaEffectSink,
    sagaId: string,
    loaded: LoadedAggregate<SagaState<D> | undefined>,
    decision: SagaDecision<D>,
  ): void {
    const streamId = streamIdOf(sagaId);
    if (decision.events.length > 0) {
      sink.append(
        streamId,
        decision.events.map((event) => ({
          // A deterministic id makes a second start of the same saga a no-op, whatever delivered it.
          ...(event.type === 'SagaStarted' ? { id: `${streamId}:SagaStarted` } : {}),
          type: event.type,
          data: event.data,
          metadata: { context: 'saga' },
        })),
        loaded.version === -1 ? 'no_stream' : loaded.version,
      );
      const wasParked = loaded.state?.status === 'needs_attention';
      const isParked = decision.state?.status === 'needs_attention';
      if (wasParked !== isParked) {
        const version = loaded.version + decision.events.length;
        sink.append(
          attentionStream,
          [
            {
              id: `${streamId}:attention:${version}`,
              type: isParked ? SAGA_PARKED : SAGA_UNPARKED,
              data: { sagaId, version },
              // An index entry, not a fact of the order: kept out of its audit trail.
              metadata: { correlationId: undefined, context: 'saga' },
            },
          ],
          'any',
        );
      }
    }
    for (const fact of decision.record) {
      sink.append(
        fact.streamId,
        [
          {
            id: fact.id,
            type: fact.type,
            data: fact.data,
            ...(fact.metadata !== undefined ? { metadata: fact.metadata } : {}),
          },
        ],
        'any',
      );
      sink.send({ id: fact.id, type: fact.messageType, data: fact.data });
    }
    for (const command of decision.send) {
      sink.send({
        type: command.type,
        data: command.data,
        ...(command.partitionKey !== undefined ? { partitionKey: command.partitionKey } : {}),
      });
    }
    // The saga moved past the point its armed timer waited for: drop that timer instead of letting it
    // fire later only to be ignored (one per step attempt, so this halves the saga's work).
    const before = loaded.state?.generation;
    if (before !== undefined && decision.state !== undefined && decision.state.generation !== before) {
      sink.cancelScheduled(timerId(streamId, before));
    }
    for (const timer of decision.timers) {
      sink.schedule(
        {
          id: timerId(streamId, timer.data.generation),
          type: SagaTimerFired.type,
          data: timer.data,
          partitionKey: sagaId,
        },
        timer.delayMs,
      );
    }
  }

  const handle: MessageHandler = async (message, context) => {
    const sagaId = sagaIdOf(message.type, message.data);
    if (sagaId === undefined) return;
    const input: SagaInput =
      message.type === SagaTimerFired.type
        ? { kind: 'timer', timer: message.data as SagaTimerFiredData }
        : { kind: 'message', id: message.id, type: message.type, data: message.data };
    const loaded = await loader.load(streamIdOf(sagaId));
    const decision = decideSaga(resolveDefinition(registry, loaded.state), loaded.state, input);
    applyDecision(context, sagaId, loaded, decision);
  };

  const handlers: Record<string, MessageHandler<never>> = {};
  for (const type of [...registry.messageTypes, SagaTimerFired.type]) handlers[type] = handle;

  return {
    registry,
    handlers: { group, handlers, ...(options.retry !== undefined ? { retry: options.retry } : {}) },
    streamIdOf,
    load: (sagaId) => loader.load(streamIdOf(sagaId)),

    async needingAttention(limit = 100) {
      const { state: parked } = await attention.load(attentionStream);
      const sagas: SagaState<D>[] = [];
      for (const sagaId of parked) {
        const { state } = await loader.load(streamIdOf(sagaId));
        if (state?.status === 'needs_attention') sagas.push(state);
      }
      sagas.sort((a, b) => (a.updatedAt ?? '').localeCompare(b.updatedAt ?? ''));
      return sagas.slice(0, limit);
    },

    async retry(sagaId, requestedBy = 'operator') {
      const loaded = await loader.load(streamIdOf(sagaId));
      const { state } = loaded;
      if (state === undefined) {
        throw new AppError(ERROR_CODES.SAGA_NOT_FOUND, `there is no ${name} saga ${JSON.stringify(sagaId)}`);
      }
      if (state.status !== 'needs_attention') {
        throw new AppError(
          ERROR_CODES.SAGA_NOT_RETRYABLE,
          `the ${name} saga ${sagaId} is ${state.status}; only a saga in needs_attention can be retried`,
          { details: { sagaId, status: state.status } },
        );
      }
      const decision = decideSaga(resolveDefinition(registry, state), state, { kind: 'retry', requestedBy });
      const unit = createUnitSink(sagaId);
      applyDecision(unit.sink, sagaId, loaded, decision);
      await store.commit(unit.unit());
      return decision.state!;
    },
  };

  /** Effects collected into one unit of work, outside any handler (the correlation is the saga id). */
  function createUnitSink(correlationId: string) {
    const at = now();
    const appends: StreamAppend[] = [];
    const messages: Envelope[] = [];
    const schedule: ScheduledMessage[] = [];
    const cancelScheduled: string[] = [];
    const envelope = <T>(message: NewMessage<T>): Envelope<T> => {
      const built = createEnvelope(
        { ...message, correlationId: message.correlationId ?? correlationId },
        { source, now: () => at },
      );
      options.catalog?.validate(built.type, built.data);
      return built;
    };
    const sink: SagaEffectSink = {
      append(streamId, events, expectedVersion) {
        appends.push({
          streamId,
          events: events.map((event) => ({ ...event, metadata: { correlationId, ...event.metadata } })),
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        });
      },
      send(message) {
        messages.push(envelope(message));
      },
      schedule(message, delayMs) {
        schedule.push({ message: envelope(message), dueAt: at.getTime() + Math.max(0, delayMs) });
      },
      cancelScheduled(messageId) {
        cancelScheduled.push(messageId);
      },
    };
    return {
      sink,
      unit: () => ({
        appends,
        messages,
        ...(schedule.length > 0 ? { schedule } : {}),
        ...(cancelScheduled.length > 0 ? { cancelScheduled } : {}),
      }),
    };
  }
}

/** The id of a saga's timer for one wait point (generation): deterministic, so it can be cancelled. */
function timerId(streamId: string, generation: number): string {
  return `${streamId}:timer:${generation}`;
}
