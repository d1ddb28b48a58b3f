import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import {
  handlerOf,
  type CompensationReply,
  type ReplyContext,
  type SagaCommand,
  type SagaDefinition,
  type SagaEffects,
  type SagaFact,
  type SagaStep,
  type StepReply,
} from './definition.ts';
import { evolveSaga, isTerminalStatus, type SagaEvent, type SagaState } from './saga-state.ts';
import { SagaTimerFired, type SagaTimerFiredData } from './saga-timer.ts';

/** What a saga reacts to. */
export type SagaInput =
  /** A message of the bus: a start message, a reply, a watched event. */
  | { readonly kind: 'message'; readonly id: string; readonly type: string; readonly data: unknown }
  /** A durable timer of the saga fired. */
  | { readonly kind: 'timer'; readonly timer: SagaTimerFiredData }
  /** An operator asked to retry a parked (`needs_attention`) saga. */
  | { readonly kind: 'retry'; readonly requestedBy: string };

/** A durable timer to schedule: `saga.SagaTimerFired` with `data`, after `delayMs`. */
export interface SagaTimer {
  readonly data: SagaTimerFiredData;
  readonly delayMs: number;
}

/** Everything one input leads to. Appending `events` with the loaded version commits the decision. */
export interface SagaDecision<D> {
  readonly events: readonly SagaEvent[];
  readonly send: readonly SagaCommand[];
  readonly record: readonly SagaFact[];
  readonly timers: readonly SagaTimer[];
  /** The state after `events` (the input state when nothing changed). */
  readonly state: SagaState<D> | undefined;
}

/** The failure reason of a step whose attempts ran out. */
export const TIMEOUT_REASON = 'timeout';
/** @see SagaCompensation.maxAttempts */
export const DEFAULT_COMPENSATION_ATTEMPTS = 3;
/** `by` of transitions caused by a timer. */
const TIMER = SagaTimerFired.type;

/**
 * The saga engine's pure core: state + input → new saga events, commands, facts and timers.
 *
 * - A message that is a reply of the step in progress goes to that step (`replies`); a reply of the
 *   compensation in progress to the compensation; a late reply of a step whose compensation is
 *   behind (or was left out) is undone with the step's `late` commands; anything else goes to the
 *   definition's watchers (`on`), and is otherwise ignored.
 * - A step that completes starts the next (its action sent, its timer armed); after the last the
 *   saga completes. A step that fails runs the compensations of the completed steps (and of the
 *   failed step itself unless its reply said nothing was done) one at a time, in reverse order; each
 *   waits for its replies, and when none is left the saga fails.
 * - A timer is honoured only if it was armed for the point the saga still waits at (same
 *   generation, step and attempt); a step timeout re-sends the action while attempts remain, then
 *   fails the step with reason `timeout`; a compensation timeout re-sends the pending compensation
 *   commands while attempts remain, then parks the saga as `needs_attention`.
 * - An operator retry of a parked saga re-sends the pending compensation commands, with a fresh
 *   budget of attempts.
 */
export function decideSaga<D>(
  definition: SagaDefinition<D>,
  initial: SagaState<D> | undefined,
  input: SagaInput,
): SagaDecision<D> {
  let state = initial;
  const events: SagaEvent[] = [];
  const send: SagaCommand[] = [];
  const record: SagaFact[] = [];
  const timers: SagaTimer[] = [];

  const result = (): SagaDecision<D> => ({ events, send, record, timers, state });

  function emit(event: SagaEvent): void {
    events.push(event);
    state = evolveSaga(state, event);
  }

  function now(): SagaState<D> {
    if (state === undefined) throw new AppError(ERROR_CODES.INTERNAL, 'saga state expected');
    return state;
  }

  function stepNamed(name: string): SagaStep<D> {
    const step = definition.steps.find((candidate) => candidate.name === name);
    if (step === undefined) {
      throw new AppError(
        ERROR_CODES.INTERNAL,
        `saga ${definition.name} v${definition.version} has no step ${JSON.stringify(name)}`,
      );
    }
    return step;
  }

  function apply(effects: SagaEffects | undefined): void {
    if (effects?.send !== undefined) send.push(...effects.send);
    if (effects?.record !== undefined) record.push(...effects.record);
  }

  function arm(step: string, attempt: number, compensation: boolean, timeoutMs: number | undefined): void {
    if (timeoutMs === undefined) return;
    const { sagaId, definition: name, generation } = now();
    timers.push({
      delayMs: timeoutMs,
      data: { sagaId, definition: name, step, attempt, compensation, generation },
    });
  }

  /** The step in progress was just entered: completes at once if there is nothing to wait for. */
  function enterStep(sendAction: boolean, by: string): void {
    const current = now();
    const step = stepNamed(current.step);
    if (step.isDone?.(current.data) === true) {
      completeStep(by, undefined, undefined);
      return;
    }
    if (sendAction) send.push(...step.action(current.data, { attempt: current.attempt }));
    arm(step.name, current.attempt, false, step.timeoutMs);
  }

  function completeStep(by: string, patch: Partial<D> | undefined, effects: SagaEffects | undefined): void {
    const current = now();
    const index = definition.steps.findIndex((candidate) => candidate.name === current.step);
    const step = stepNamed(current.step);
    const next = definition.steps[index + 1];
    emit({
      type: 'StepCompleted',
      data: { step: step.name, by, ...patchOf(patch), next: next?.name ?? null },
    });
    apply(effects);
    apply(step.onCompleted?.(now().data));
    if (next !== undefined) {
      enterStep(true, by);
    } else {
      emit({ type: 'SagaCompleted', data: {} });
      apply(definition.onCompleted?.(now().data));
    }
  }

  function retryOrFail(by: string): void {
    const current = now();
    const step = stepNamed(current.step);
    if (current.attempt < (step.maxAttempts ?? 1)) {
      const attempt = current.attempt + 1;
      emit({ type: 'StepRetried', data: { step: step.name, attempt, by } });
      send.push(...step.action(now().data, { attempt }));
      arm(step.name, attempt, false, step.timeoutMs);
      return;
    }
    const detail =
      step.timeoutDetail?.(current.data, current.attempt) ??
      `${step.name}: no answer after ${current.attempt} attempt${current.attempt === 1 ? '' : 's'}`;
    fail(by, TIMEOUT_REASON, detail, undefined, true);
  }

  function fail(
    by: string,
    reason: string,
    detail: string,
    patch: Partial<D> | undefined,
    compensateCurrent: boolean,
  ): void {
    const current = now();
    const data = patch === undefined ? current.data : { ...current.data, ...patch };
    const failure = { step: current.step, reason, detail };
    const reversed = [...current.completed].reverse();
    const candidates = compensateCurrent ? [current.step, ...reversed] : reversed;
    const compensations = candidates.filter((name) => {
      const compensation = stepNamed(name).compensation;
      return compensation !== undefined && compensation.commands(data, { attempt: 1, failure }).length > 0;
    });
    emit({
      type: 'StepFailed',
      data: { step: current.step, by, reason, detail, ...patchOf(patch), compensations },
    });
    if (compensations.length === 0) finish();
    else enterCompensation(by);
  }

  /** The compensation in progress starts (or restarts): its pending commands are sent. */
  function enterCompensation(by: string): void {
    const current = now();
    const name = current.compensations[0]!;
    const compensation = stepNamed(name).compensation!;
    const commands = compensation.commands(current.data, {
      attempt: current.compensationAttempt,
      failure: current.failure!,
    });
    if (commands.length === 0) {
      completeCompensation(by, undefined, undefined);
      return;
    }
    send.push(...commands);
    arm(name, current.compensationAttempt, true, compensation.timeoutMs);
  }

  function completeCompensation(
    by: string,
    patch: Partial<D> | undefined,
    effects: SagaEffects | undefined,
  ): void {
    const current = now();
    const next = current.compensations[1] ?? null;
    emit({
      type: 'CompensationCompleted',
      data: { step: current.compensations[0]!, by, ...patchOf(patch), next },
    });
    apply(effects);
    if (next !== null) enterCompensation(by);
    else finish();
  }

  function finish(): void {
    const failure = now().failure!;
    emit({ type: 'SagaFailed', data: { reason: failure.reason, detail: failure.detail } });
    apply(definition.onFailed?.(now().data, failure));
  }

  function refuse(
    by: string,
    detail: string,
    patch: Partial<D> | undefined,
    effects: SagaEffects | undefined,
  ): void {
    const current = now();
    const name = current.compensations[0]!;
    if (current.compensated.length > 0) {
      // Something was undone already: going forward again would be inconsistent. An operator decides.
      if (patch !== undefined)
        emit({ type: 'CompensationProgressed', data: { step: name, by, ...patchOf(patch) } });
      apply(effects);
      park(
        `the compensation of ${name} was refused (${detail}) after ${current.compensated.join(', ')} had been compensated`,
      );
      return;
    }
    emit({
      type: 'CompensationRefused',
      data: { step: name, by, detail, ...patchOf(patch), resumed: current.failure!.step },
    });
    apply(effects);
    enterStep(false, by);
  }

  function park(reason: string): void {
    const current = now();
    emit({
      type: 'SagaNeedsAttention',
      data: { step: current.compensations[0]!, attempts: current.compensationAttempt, reason },
    });
  }

  function onTimer(timer: SagaTimerFiredData): void {
    const current = now();
    if (timer.generation !== current.generation) return;
    if (current.status === 'running') {
      if (!timer.compensation && timer.step === current.step && timer.attempt === current.attempt)
        retryOrFail(TIMER);
      return;
    }
    if (current.status !== 'compensating') return;
    const name = current.compensations[0];
    if (!timer.compensation || timer.step !== name || timer.attempt !== current.compensationAttempt) return;
    const compensation = stepNamed(name).compensation!;
    const maxAttempts = compensation.maxAttempts ?? DEFAULT_COMPENSATION_ATTEMPTS;
    if (current.compensationAttempt >= maxAttempts) {
      park(
        `no reply to the compensation of ${name} after ${current.compensationAttempt} attempt${current.compensationAttempt === 1 ? '' : 's'}`,
      );
      return;
    }
    const attempt = current.compensationAttempt + 1;
    const commands = compensation.commands(current.data, { attempt, failure: current.failure! });
    if (commands.length === 0) {
      completeCompensation(TIMER, undefined, undefined);
      return;
    }
    emit({ type: 'CompensationRetried', data: { step: name, attempt } });
    send.push(...commands);
    arm(name, attempt, true, compensation.timeoutMs);
  }

  function onRetry(requestedBy: string): void {
    const current = now();
    if (current.status !== 'needs_attention') return;
    emit({ type: 'SagaRetried', data: { step: current.compensations[0]!, by: requestedBy } });
    enterCompensation(requestedBy);
  }

  function onStepReply(reply: StepReply<D>, by: string): void {
    switch (reply.outcome) {
      case 'ignored':
        return;
      case 'progressed':
        if (reply.data !== undefined) {
          emit({ type: 'StepProgressed', data: { step: now().step, by, ...patchOf(reply.data) } });
        }
        apply(reply.effects);
        return;
      case 'completed':
        completeStep(by, reply.data, reply.effects);
        return;
      case 'failed':
        fail(by, reply.reason, reply.detail, reply.data, reply.compensate ?? true);
        return;
      case 'retry':
        if (reply.attempt === now().attempt) retryOrFail(by);
        return;
    }
  }

  function onCompensationReply(reply: CompensationReply<D>, by: string): void {
    switch (reply.outcome) {
      case 'ignored':
        return;
      case 'progressed':
        if (reply.data !== undefined) {
          emit({
            type: 'CompensationProgressed',
            data: { step: now().compensations[0]!, by, ...patchOf(reply.data) },
          });
        }
        return;
      case 'completed':
        completeCompensation(by, reply.data, reply.effects);
        return;
      case 'refused':
        refuse(by, reply.detail, reply.data, reply.effects);
        return;
    }
  }

  function onMessage(id: string, type: string, payload: unknown): void {
    const current = now();
    if (current.status === 'running') {
      const handler = handlerOf(stepNamed(current.step).replies, type);
      if (handler !== undefined) {
        onStepReply(handler.handle(payload, current.data, context(id, current.attempt)), type);
        return;
      }
    } else if (current.status === 'compensating' || current.status === 'needs_attention') {
      const name = current.compensations[0];
      const handler = name === undefined ? undefined : handlerOf(stepNamed(name).compensation?.replies, type);
      if (handler !== undefined) {
        onCompensationReply(
          handler.handle(payload, current.data, context(id, current.compensationAttempt)),
          type,
        );
        return;
      }
    }
    if (current.status !== 'running' && current.status !== 'completed') {
      // A reply of a step whose compensation already ran (or was left out): undo it on its own.
      let late = false;
      for (const step of definition.steps) {
        const handler = handlerOf(step.compensation?.late, type);
        if (handler === undefined || current.compensations.includes(step.name)) continue;
        send.push(...handler.handle(payload, current.data, current.failure));
        late = true;
      }
      if (late) return;
    }
    const watcher = handlerOf(definition.on, type);
    if (watcher === undefined) return;
    const observation = watcher.handle(payload, current.data, context(id, current.attempt));
    apply(observation.effects);
    if (isTerminalStatus(current.status)) return;
    if (observation.fail !== undefined && current.status === 'running') {
      fail(type, observation.fail.reason, observation.fail.detail, observation.data, true);
      return;
    }
    if (observation.data !== undefined) {
      emit({ type: 'SagaUpdated', data: { by: type, patch: observation.data } });
    }
  }

  function context(messageId: string, attempt: number): ReplyContext {
    return { messageId, attempt, view: now() };
  }

  if (initial === undefined) {
    if (input.kind !== 'message') return result();
    const start = handlerOf(definition.start, input.type);
    if (start === undefined) return result();
    const first = definition.steps[0];
    if (first === undefined) {
      throw new AppError(ERROR_CODES.INTERNAL, `saga ${definition.name} v${definition.version} has no steps`);
    }
    const { sagaId, data } = start.handle(input.data);
    emit({
      type: 'SagaStarted',
      data: { sagaId, definition: definition.name, version: definition.version, data, step: first.name },
    });
    enterStep(true, input.type);
    return result();
  }

  switch (input.kind) {
    case 'message':
      onMessage(input.id, input.type, input.data);
      break;
    case 'timer':
      onTimer(input.timer);
      break;
    case 'retry':
      onRetry(input.requestedBy);
      break;
  }
  return result();
}

function patchOf<D>(patch: Partial<D> | undefined): { patch?: Record<string, unknown> } {
  return patch === undefined ? {} : { patch: patch };
}
