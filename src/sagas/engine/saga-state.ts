import type { SagaFailure, SagaStatus, SagaView } from './definition.ts';

/**
 * A saga's state IS its event stream (`saga-<definition>-<sagaId>`). The events below carry what is
 * needed to rebuild the state without the definition: step names, attempts, the compensation plan
 * and patches of the saga's data. `evolveSaga` folds them; it never mutates the state it is given.
 *
 * Every event that moves the point the saga waits at (a step started or retried, a compensation
 * started or retried, parked, resumed, ended) bumps `generation`. A durable timer carries the
 * generation it was armed for, so a timer that fires later than that point is stale and ignored.
 */

/** The saga started, and its first step with it (attempt 1, its action sent). */
export interface SagaStartedData {
  sagaId: string;
  definition: string;
  version: number;
  /** The saga's initial data. */
  data: unknown;
  /** The first step. */
  step: string;
}

/** A reply counted towards the step in progress (one of several awaited). */
export interface StepProgressedData {
  step: string;
  /** The message type that caused it. */
  by: string;
  patch?: Record<string, unknown>;
}

/** The step completed; `next` started with it (attempt 1, its action sent), or none was left. */
export interface StepCompletedData {
  step: string;
  by: string;
  patch?: Record<string, unknown>;
  next: string | null;
}

/** The step's action was sent again. */
export interface StepRetriedData {
  step: string;
  attempt: number;
  by: string;
}

/** The step failed; the compensations in `compensations` run in that order (the first starts now). */
export interface StepFailedData {
  step: string;
  by: string;
  reason: string;
  detail: string;
  patch?: Record<string, unknown>;
  compensations: string[];
}

export interface CompensationProgressedData {
  step: string;
  by: string;
  patch?: Record<string, unknown>;
}

/** The compensation of `step` is done; `next` started with it, or none was left. */
export interface CompensationCompletedData {
  step: string;
  by: string;
  patch?: Record<string, unknown>;
  next: string | null;
}

export interface CompensationRetriedData {
  step: string;
  attempt: number;
}

/** The compensation of `step` cannot be done: the saga drops its failure and resumes at `resumed`. */
export interface CompensationRefusedData {
  step: string;
  by: string;
  detail: string;
  patch?: Record<string, unknown>;
  resumed: string;
}

/** A compensation ran out of attempts (or could not be done): an operator must look. */
export interface SagaNeedsAttentionData {
  step: string;
  attempts: number;
  reason: string;
}

/** An operator retried the parked compensation: its pending commands were sent again. */
export interface SagaRetriedData {
  step: string;
  by: string;
}

/** A watched message changed the saga's data outside any step transition. */
export interface SagaUpdatedData {
  by: string;
  patch: Record<string, unknown>;
}

export type SagaCompletedData = Record<string, never>;

export interface SagaFailedData {
  reason: string;
  detail: string;
}

export type SagaEvent =
  | { type: 'SagaStarted'; data: SagaStartedData }
  | { type: 'StepProgressed'; data: StepProgressedData }
  | { type: 'StepCompleted'; data: StepCompletedData }
  | { type: 'StepRetried'; data: StepRetriedData }
  | { type: 'StepFailed'; data: StepFailedData }
  | { type: 'CompensationProgressed'; data: CompensationProgressedData }
  | { type: 'CompensationCompleted'; data: CompensationCompletedData }
  | { type: 'CompensationRetried'; data: CompensationRetriedData }
  | { type: 'CompensationRefused'; data: CompensationRefusedData }
  | { type: 'SagaNeedsAttention'; data: SagaNeedsAttentionData }
  | { type: 'SagaRetried'; data: SagaRetriedData }
  | { type: 'SagaUpdated'; data: SagaUpdatedData }
  | { type: 'SagaCompleted'; data: SagaCompletedData }
  | { type: 'SagaFailed'; data: SagaFailedData };

export type SagaEventType = SagaEvent['type'];

export const SAGA_EVENT_TYPES: readonly SagaEventType[] = [
  'SagaStarted',
  'StepProgressed',
  'StepCompleted',
  'StepRetried',
  'StepFailed',
  'CompensationProgressed',
  'CompensationCompleted',
  'CompensationRetried',
  'CompensationRefused',
  'SagaNeedsAttention',
  'SagaRetried',
  'SagaUpdated',
  'SagaCompleted',
  'SagaFailed',
];

export interface SagaAttention {
  /** The compensation that could not be completed. */
  readonly step: string;
  readonly attempts: number;
  readonly reason: string;
}

export interface SagaState<D> extends SagaView {
  readonly sagaId: string;
  readonly definition: string;
  readonly version: number;
  /** Compensations done, in the order they ran. */
  readonly compensated: readonly string[];
  /** Attempt of the compensation in progress. */
  readonly compensationAttempt: number;
  /** Bumped whenever the saga starts waiting somewhere else; timers carry it. */
  readonly generation: number;
  readonly attention: SagaAttention | null;
  readonly data: D;
  /** Time of the last event, when it came from the store. */
  readonly updatedAt?: string;
}

/** What `evolveSaga` needs of an event: stored events and freshly decided ones both fit. */
export interface SagaEventLike {
  readonly type: string;
  readonly data: unknown;
  readonly time?: string;
}

export function evolveSaga<D>(
  state: SagaState<D> | undefined,
  event: SagaEventLike,
): SagaState<D> | undefined {
  const next = apply(state, event as SagaEvent);
  return next !== state && next !== undefined && event.time !== undefined
    ? { ...next, updatedAt: event.time }
    : next;
}

export function foldSaga<D>(events: readonly SagaEventLike[]): SagaState<D> | undefined {
  let state: SagaState<D> | undefined;
  for (const event of events) state = evolveSaga(state, event);
  return state;
}

function apply<D>(state: SagaState<D> | undefined, event: SagaEvent): SagaState<D> | undefined {
  if (event.type === 'SagaStarted') {
    const e = event.data;
    return {
      sagaId: e.sagaId,
      definition: e.definition,
      version: e.version,
      status: 'running',
      step: e.step,
      attempt: 1,
      completed: [],
      compensations: [],
      compensated: [],
      compensationAttempt: 0,
      failure: null,
      generation: 1,
      attention: null,
      data: e.data as D,
    };
  }
  if (state === undefined) return undefined;
  const generation = state.generation + 1;
  switch (event.type) {
    case 'StepProgressed':
    case 'CompensationProgressed':
    case 'SagaUpdated':
      return { ...state, data: merge(state.data, event.data.patch) };
    case 'StepCompleted': {
      const e = event.data;
      const data = merge(state.data, e.patch);
      const completed = [...state.completed, e.step];
      return e.next === null
        ? { ...state, data, completed }
        : { ...state, data, completed, step: e.next, attempt: 1, generation };
    }
    case 'StepRetried':
      return { ...state, attempt: event.data.attempt, generation };
    case 'StepFailed': {
      const e = event.data;
      const failure: SagaFailure = { step: e.step, reason: e.reason, detail: e.detail };
      return {
        ...state,
        status: 'compensating',
        data: merge(state.data, e.patch),
        failure,
        compensations: e.compensations,
        compensated: [],
        compensationAttempt: 1,
        generation,
      };
    }
    case 'CompensationCompleted': {
      const e = event.data;
      const rest = state.compensations.slice(1);
      return {
        ...state,
        status: 'compensating',
        data: merge(state.data, e.patch),
        compensated: [...state.compensated, e.step],
        compensations: e.next === null ? [] : rest,
        compensationAttempt: 1,
        attention: null,
        generation,
      };
    }
    case 'CompensationRetried':
      return { ...state, compensationAttempt: event.data.attempt, generation };
    case 'CompensationRefused': {
      const e = event.data;
      return {
        ...state,
        status: 'running',
        step: e.resumed,
        data: merge(state.data, e.patch),
        failure: null,
        compensations: [],
        compensated: [],
        compensationAttempt: 0,
        attention: null,
        generation,
      };
    }
    case 'SagaNeedsAttention': {
      const { step, attempts, reason } = event.data;
      return { ...state, status: 'needs_attention', attention: { step, attempts, reason }, generation };
    }
    case 'SagaRetried':
      return { ...state, status: 'compensating', compensationAttempt: 1, attention: null, generation };
    case 'SagaCompleted':
      return { ...state, status: 'completed', generation };
    case 'SagaFailed':
      return { ...state, status: 'failed', compensations: [], generation };
    default:
      // Unknown event types (from a later version of the engine) leave the state as it was.
      return state;
  }
}

function merge<D>(data: D, patch: Record<string, unknown> | undefined): D {
  return patch === undefined ? data : { ...data, ...patch };
}

/** The saga's stream: `saga-<definition>-<sagaId>`, e.g. `saga-order-<orderId>`. */
export function sagaStreamId(definition: string, sagaId: string): string {
  return `saga-${definition}-${sagaId}`;
}

export function isTerminalStatus(status: SagaStatus): boolean {
  return status === 'completed' || status === 'failed';
}
