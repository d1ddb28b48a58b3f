import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RULE_NAME_PATTERN } from './alert-rule.ts';
import { BUILT_IN_RULES } from './built-in-rules.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('the built-in rules', () => {
  it('have unique valid names and a runbook in docs/runbooks each', () => {
    expect(new Set(BUILT_IN_RULES.map((rule) => rule.name)).size).toBe(BUILT_IN_RULES.length);
    for (const rule of BUILT_IN_RULES) {
      expect(rule.name).toMatch(RULE_NAME_PATTERN);
      expect(rule.runbook).toBe(`docs/runbooks/${rule.name}.md`);
      expect(fs.existsSync(path.join(ROOT, rule.runbook)), rule.runbook).toBe(true);
    }
  });

  it('are tabled in docs/operations.md with their severity, group and runbook', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    for (const rule of BUILT_IN_RULES) {
      const cells = doc
        .split('\n')
        .map((line) => line.split(/(?<!\\)\|/).map((cell) => cell.trim()))
        .find((row) => row[1] === `\`${rule.name}\``);
      expect(cells, rule.name).toBeDefined();
      expect(cells!.slice(2, 4)).toEqual([rule.severity, rule.group]);
      expect(cells![6]).toBe(`[runbook](runbooks/${rule.name}.md)`);
    }
  });
});
