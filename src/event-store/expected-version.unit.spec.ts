import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ExpectedVersion } from './event-store.ts';
import { describeExpectedVersion, matchesExpectedVersion } from './expected-version.ts';

// A stream's version: -1 (no stream) or any version an append can reach.
const actualVersion = fc.integer({ min: -1, max: 1_000_000 });
const expectedVersion: fc.Arbitrary<ExpectedVersion> = fc.oneof(
  fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'stream_exists'),
  fc.integer({ min: -1, max: 1_000_000 }),
);

describe('matchesExpectedVersion', () => {
  it('any always matches', () => {
    fc.assert(fc.property(actualVersion, (actual) => matchesExpectedVersion('any', actual)));
  });

  it('no_stream matches exactly when the stream does not exist', () => {
    fc.assert(
      fc.property(actualVersion, (actual) => {
        expect(matchesExpectedVersion('no_stream', actual)).toBe(actual === -1);
      }),
    );
  });

  it('stream_exists matches exactly when the stream has an event', () => {
    fc.assert(
      fc.property(actualVersion, (actual) => {
        expect(matchesExpectedVersion('stream_exists', actual)).toBe(actual >= 0);
      }),
    );
  });

  it('a number matches exactly that version', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1, max: 1_000_000 }), actualVersion, (expected, actual) => {
        expect(matchesExpectedVersion(expected, actual)).toBe(actual === expected);
      }),
    );
    // Random pairs rarely collide: check the equal case explicitly.
    fc.assert(fc.property(actualVersion, (actual) => matchesExpectedVersion(actual, actual)));
  });

  it('exactly one of no_stream and stream_exists holds for any version', () => {
    fc.assert(
      fc.property(actualVersion, (actual) => {
        expect(
          matchesExpectedVersion('no_stream', actual) !== matchesExpectedVersion('stream_exists', actual),
        ).toBe(true);
      }),
    );
  });

  it('a number n behaves like no_stream when n is -1', () => {
    fc.assert(
      fc.property(actualVersion, (actual) => {
        expect(matchesExpectedVersion(-1, actual)).toBe(matchesExpectedVersion('no_stream', actual));
      }),
    );
  });
});

describe('describeExpectedVersion', () => {
  it('names keywords as they are and numbers in decimal', () => {
    fc.assert(
      fc.property(expectedVersion, (expected) => {
        expect(describeExpectedVersion(expected)).toBe(
          typeof expected === 'number' ? String(expected) : expected,
        );
      }),
    );
    expect(describeExpectedVersion(7)).toBe('7');
    expect(describeExpectedVersion('no_stream')).toBe('no_stream');
  });
});
