import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpStatusOf } from './http/index.ts';
import { ERROR_CATEGORIES, ERROR_CODES, type ErrorCategory, type ErrorCode } from './errors.ts';

// The registry: every code is unique, documented in docs/errors.md, and documented with the HTTP
// status that src/http really answers with.
const DOC = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
const ROWS = [...DOC.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*([a-z_]+)\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|$/gm)].map(
  (m) => ({
    code: m[1]!,
    category: m[2]!,
    status: Number(m[3]),
    meaning: m[4]!.trim(),
  }),
);
const CATEGORIES: readonly string[] = [
  'validation',
  'not_found',
  'conflict',
  'forbidden',
  'unavailable',
  'internal',
];

describe('error codes registry', () => {
  it('has unique codes whose values equal their keys', () => {
    const values = Object.values(ERROR_CODES);
    expect(new Set(values).size).toBe(values.length);
    for (const [key, value] of Object.entries(ERROR_CODES)) expect(value).toBe(key);
  });

  it('documents every code in docs/errors.md, once', () => {
    const documented = ROWS.map((row) => row.code);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...Object.values(ERROR_CODES)].sort());
  });

  it('documents no code that does not exist', () => {
    for (const row of ROWS) expect(Object.values(ERROR_CODES)).toContain(row.code);
  });

  it('documents each code with a category, the status src/http answers with, and a meaning', () => {
    for (const row of ROWS) {
      expect(CATEGORIES, row.code).toContain(row.category);
      expect(row.category, `${row.code}: docs/errors.md and ERROR_CATEGORIES disagree`).toBe(
        ERROR_CATEGORIES[row.code as ErrorCode],
      );
      expect(httpStatusOf(row.code as ErrorCode, row.category as ErrorCategory), row.code).toBe(row.status);
      expect(row.meaning.length, row.code).toBeGreaterThan(10);
    }
  });
});
