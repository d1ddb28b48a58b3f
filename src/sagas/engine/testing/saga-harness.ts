import { AppError, ERROR_CODES } from '../../../kernel/errors.ts';
import { decideSaga, type SagaDecision, type SagaInput, type SagaTimer } from '../decide.ts';
import type { SagaDefinition } from '../definition.ts';
import { resolveDefinition, type SagaRegistry } from '../registry.ts';
import { foldSaga, type SagaEvent, type SagaState } from '../saga-state.ts';

/**
 * Drives the pure decider the way the runtime does, without a store: each input is decided against
 * the state folded so far, and the decision's events become history. For Given/When/Then tests:
 * feed the history (given), decide one input (when), and look at that decision (then).
 */
export interface SagaHarness<D> {
  readonly state: SagaState<D> | undefined;
  /** Every saga event decided so far. */
  readonly history: readonly SagaEvent[];
  /** Every timer armed so far, oldest first. */
  readonly timers: readonly SagaTimer[];
  /** The last timer armed. */
  readonly lastTimer: SagaTimer;
  /** A bus message (a start message, a reply, a watched message). */
  receive(type: string, data: unknown, id?: string): SagaDecision<D>;
  /** A timer armed earlier fires (the last one by default). */
  fire(timer?: SagaTimer): SagaDecision<D>;
  /** An operator's retry. */
  retry(): SagaDecision<D>;
  handle(input: SagaInput): SagaDecision<D>;
}

/**
 * `history`: a saga's stored events, to go on from (as the runtime does after loading its stream).
 * With a registry, each input is decided by the version the saga started on.
 */
export function createSagaHarness<D>(
  decider: SagaDefinition<D> | SagaRegistry<D>,
  history: readonly SagaEvent[] = [],
): SagaHarness<D> {
  const definitionFor = (current: SagaState<D> | undefined): SagaDefinition<D> =>
    'steps' in decider ? decider : resolveDefinition(decider, current);
  let state = foldSaga<D>(history);
  const events: SagaEvent[] = [...history];
  const timers: SagaTimer[] = [];
  let messages = 0;

  function handle(input: SagaInput): SagaDecision<D> {
    const decision = decideSaga(definitionFor(state), state, input);
    events.push(...decision.events);
    timers.push(...decision.timers);
    state = decision.state;
    return decision;
  }

  return {
    get state() {
      return state;
    },
    history: events,
    timers,
    get lastTimer() {
      const timer = timers[timers.length - 1];
      if (timer === undefined) throw new AppError(ERROR_CODES.INTERNAL, 'no timer was armed');
      return timer;
    },
    receive: (type, data, id) => handle({ kind: 'message', id: id ?? `message-${++messages}`, type, data }),
    fire(timer) {
      const fired = timer ?? timers[timers.length - 1];
      if (fired === undefined) throw new AppError(ERROR_CODES.INTERNAL, 'no timer was armed');
      return handle({ kind: 'timer', timer: fired.data });
    },
    retry: () => handle({ kind: 'retry', requestedBy: 'operator' }),
    handle,
  };
}

/** The types of a decision's events, for compact assertions. */
export function eventTypes(decision: { readonly events: readonly SagaEvent[] }): string[] {
  return decision.events.map((event) => event.type);
}

/** The types of the commands a decision sends. */
export function sentTypes(decision: SagaDecision<unknown>): string[] {
  return decision.send.map((command) => command.type);
}
