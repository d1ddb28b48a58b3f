/**
 * Velocity: how many orders a customer, or a card, placed recently. Kept in event streams
 * (`velocity-customer-<customerId>`, `velocity-token-<token>`) rather than in memory, so that every
 * payments process sharing the work sees the same counts; each assessed order appends one
 * `VelocityRecorded` to both streams in the unit that records its FraudAssessed.
 *
 * The state keeps only what the rules need: the times of the latest orders inside the window, at
 * most `memory` of them (past that many, the rules are capped anyway), so a busy card's stream
 * stays cheap to fold.
 */

export const VELOCITY_RECORDED = 'VelocityRecorded';

export interface VelocityRecordedData {
  orderId: string;
  /** When the order was assessed, epoch milliseconds. */
  at: number;
}

export interface VelocityState {
  /** Times of the latest orders, ascending. */
  readonly recent: readonly number[];
}

export const EMPTY_VELOCITY: VelocityState = { recent: [] };

export function customerVelocityStreamId(customerId: string): string {
  return `velocity-customer-${customerId}`;
}

export function tokenVelocityStreamId(token: string): string {
  return `velocity-token-${token}`;
}

/** The event recording an order in a velocity stream; its id makes a retried append a no-op. */
export function velocityRecorded(
  orderId: string,
  at: number,
  dimension: 'customer' | 'token',
): { id: string; type: string; data: VelocityRecordedData; metadata: { context: 'payments' } } {
  return {
    id: `${orderId}:velocity-${dimension}`,
    type: VELOCITY_RECORDED,
    data: { orderId, at },
    metadata: { context: 'payments' },
  };
}

/** Folds VelocityRecorded, dropping what falls out of the window or beyond `memory` entries. */
export function evolveVelocity(
  windowMs: number,
  memory: number,
): (state: VelocityState, event: { type: string; data: unknown }) => VelocityState {
  return (state, event) => {
    if (event.type !== VELOCITY_RECORDED) return state;
    const { at } = event.data as VelocityRecordedData;
    const recent = [...state.recent, at];
    // Processes' clocks differ a little: keep the list sorted whatever order the events came in.
    if (recent.length > 1 && recent[recent.length - 2]! > at) recent.sort((a, b) => a - b);
    const newest = recent[recent.length - 1]!;
    let from = Math.max(0, recent.length - memory);
    while (from < recent.length && recent[from]! <= newest - windowMs) from++;
    return { recent: from === 0 ? recent : recent.slice(from) };
  };
}

/** Orders recorded in the window ending at `now` (not counting the one being assessed). */
export function ordersInWindow(state: VelocityState, now: number, windowMs: number): number {
  let count = 0;
  for (const at of state.recent) if (at > now - windowMs) count++;
  return count;
}
