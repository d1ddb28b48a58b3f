import type { EventStore, StreamAppend } from '../event-store/event-store.ts';
import type { DeadLetter } from './dead-letter/dead-letter-store.ts';

/**
 * What operators did (redrives, retries, simulator changes), one event each in one stream, so that
 * an incident's timeline can show them beside its alerts whichever process did them.
 */
export const OPERATOR_ACTIONS_STREAM = 'operator-actions';
export const OPERATOR_ACTION_RECORDED = 'OperatorActionRecorded';

export interface OperatorAction {
  kind: 'simulator_changed' | 'dead_letter_redriven' | 'saga_retried' | (string & {});
  /** One human sentence, e.g. "payment-gateway simulator: failureRate 0 → 1". */
  text: string;
  details?: Record<string, unknown>;
  /** ISO 8601 UTC. */
  at: string;
}

export type NewOperatorAction = Omit<OperatorAction, 'at'> & { at?: Date };

/** Stream pages read at a time: the stream grows by hand, so whole reads stay small. */
const PAGE = 1_000;

export async function recordOperatorAction(store: EventStore, action: NewOperatorAction): Promise<void> {
  const { streamId, events, expectedVersion } = operatorActionAppend(action);
  await store.append(streamId, events, { expectedVersion });
}

/** The append that records an action, for a unit of work that commits it with what the action did. */
export function operatorActionAppend(action: NewOperatorAction): StreamAppend {
  const recorded: OperatorAction = {
    kind: action.kind,
    text: action.text,
    ...(action.details !== undefined ? { details: action.details } : {}),
    at: (action.at ?? new Date()).toISOString(),
  };
  return {
    streamId: OPERATOR_ACTIONS_STREAM,
    events: [{ type: OPERATOR_ACTION_RECORDED, data: recorded }],
    expectedVersion: 'any',
  };
}

/** The action recorded for one re-driven dead letter; `via` says where the operator asked (http, cli). */
export function deadLetterRedrivenAction(letter: DeadLetter, via: string): NewOperatorAction {
  const { message } = letter;
  return {
    kind: 'dead_letter_redriven',
    text: `dead letter ${letter.id} (${message.type}) re-driven to ${letter.group}`,
    details: {
      deadLetterId: letter.id,
      group: letter.group,
      messageType: message.type,
      messageId: message.id,
      correlationId: message.correlationid,
      via,
    },
  };
}

/** Operator actions in the order they were recorded; `from` and `to` (ISO times) are inclusive. */
export async function readOperatorActions(
  store: EventStore,
  range: { from?: string; to?: string } = {},
): Promise<OperatorAction[]> {
  const from = range.from === undefined ? Number.NEGATIVE_INFINITY : Date.parse(range.from);
  const to = range.to === undefined ? Number.POSITIVE_INFINITY : Date.parse(range.to);
  const actions: OperatorAction[] = [];
  for (let fromVersion = 0; ; fromVersion += PAGE) {
    const events = await store.readStream(OPERATOR_ACTIONS_STREAM, { fromVersion, maxCount: PAGE });
    for (const event of events) {
      if (event.type !== OPERATOR_ACTION_RECORDED) continue;
      const action = event.data as OperatorAction;
      const at = Date.parse(action.at);
      if (at >= from && at <= to) actions.push(action);
    }
    if (events.length < PAGE) return actions;
  }
}
