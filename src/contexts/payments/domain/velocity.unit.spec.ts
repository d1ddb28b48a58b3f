import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  customerVelocityStreamId,
  EMPTY_VELOCITY,
  evolveVelocity,
  ordersInWindow,
  tokenVelocityStreamId,
  velocityRecorded,
  type VelocityState,
} from './velocity.ts';

const WINDOW = 600_000;

function fold(times: readonly number[], memory = 10): VelocityState {
  const evolve = evolveVelocity(WINDOW, memory);
  return times.reduce(
    (state, at, i) => evolve(state, velocityRecorded(`o${i}`, at, 'customer')),
    EMPTY_VELOCITY,
  );
}

describe('velocity', () => {
  it('keys streams by customer and by full token', () => {
    expect(customerVelocityStreamId('cust-1')).toBe('velocity-customer-cust-1');
    expect(tokenVelocityStreamId('tok_visa.4242')).toBe('velocity-token-tok_visa.4242');
    expect(velocityRecorded('o1', 5, 'token')).toEqual({
      id: 'o1:velocity-token',
      type: 'VelocityRecorded',
      data: { orderId: 'o1', at: 5 },
      metadata: { context: 'payments' },
    });
  });

  it('counts the orders inside the window ending now', () => {
    const state = fold([1_000, 2_000, 500_000, 700_000]);
    expect(ordersInWindow(state, 700_000, WINDOW)).toBe(2);
    expect(ordersInWindow(state, 600_000, WINDOW)).toBe(2);
    expect(ordersInWindow(state, 1_200_000, WINDOW)).toBe(1);
    expect(ordersInWindow(state, 1_300_001, WINDOW)).toBe(0);
  });

  it('forgets what left the window and keeps at most `memory` entries', () => {
    expect(fold([1_000, 2_000, 700_000]).recent).toEqual([700_000]);
    expect(fold([1, 2, 3, 4, 5, 6], 4).recent).toEqual([3, 4, 5, 6]);
  });

  it('ignores other event types', () => {
    const evolve = evolveVelocity(WINDOW, 10);
    expect(evolve(EMPTY_VELOCITY, { type: 'Other', data: {} })).toBe(EMPTY_VELOCITY);
  });

  it('counts like the full history would, up to memory, whatever order the events arrive in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2_000_000 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        (times, memory) => {
          const state = fold(times, memory);
          const now = times.length === 0 ? 0 : Math.max(...times);
          const full = times.filter((at) => at > now - WINDOW).length;
          expect(ordersInWindow(state, now, WINDOW)).toBe(Math.min(full, memory));
          expect(state.recent.length).toBeLessThanOrEqual(memory);
        },
      ),
    );
  });
});
