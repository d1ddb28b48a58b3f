import { describe, expect, it } from 'vitest';
import { canonicalHash, canonicalJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('escapes keys and strings like JSON', () => {
    expect(canonicalJson({ 'k"ey': 'va\nl' })).toBe('{"k\\"ey":"va\\nl"}');
    expect(JSON.parse(canonicalJson({ 'k"ey': 'va\nl' }))).toEqual({ 'k"ey': 'va\nl' });
  });
});

describe('canonicalHash', () => {
  it('is the same for the same content in another key order', () => {
    expect(canonicalHash({ a: 1, b: [1, 2] })).toBe(canonicalHash({ b: [1, 2], a: 1 }));
  });

  it('differs when a value or the array order differs', () => {
    expect(canonicalHash({ a: 1 })).not.toBe(canonicalHash({ a: 2 }));
    expect(canonicalHash([1, 2])).not.toBe(canonicalHash([2, 1]));
  });

  it('is a sha256 hex digest', () => {
    expect(canonicalHash({})).toMatch(/^[0-9a-f]{64}$/);
  });
});
