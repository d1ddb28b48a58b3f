import { NO_STREAM_VERSION, type ExpectedVersion } from './event-store.ts';

/**
 * The expected-version rules of the event store port, kept pure so that every adapter applies the
 * same ones. `actual` is the stream's current version, `NO_STREAM_VERSION` (-1) when it was never written.
 */
export function matchesExpectedVersion(expected: ExpectedVersion, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === NO_STREAM_VERSION;
    case 'stream_exists':
      return actual > NO_STREAM_VERSION;
    default:
      return actual === expected;
  }
}

/** How an expected version reads in errors and logs: `any`, `no_stream`, `stream_exists` or the number. */
export function describeExpectedVersion(expected: ExpectedVersion): string {
  return typeof expected === 'number' ? String(expected) : expected;
}
