import { describe, expect, it } from 'vitest';
import { parsePreferWait } from './prefer.ts';

describe('parsePreferWait (RFC 7240)', () => {
  it.each([
    ['wait=10', 10],
    ['WAIT = 3', 3],
    ['respond-async, wait=5', 5],
    ['wait="7"', 7],
    ['wait=2; foo=bar', 2],
  ])('reads %j as %d', (header, seconds) => {
    expect(parsePreferWait(header)).toBe(seconds);
  });

  it('reads the preference from repeated headers', () => {
    expect(parsePreferWait(['return=minimal', 'wait=4'])).toBe(4);
  });

  it.each([undefined, '', 'return=minimal', 'wait=soon', 'wait=-1', 'wait=1.5', 'wait'])(
    'ignores %j',
    (header) => {
      expect(parsePreferWait(header)).toBeUndefined();
    },
  );
});
