import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_RULES, exportPrometheusRules } from '../../src/operations/alerts/index.ts';
import { EXPORTED_RULES_FILE } from './export-test-rules.ts';

describe('test/promtool/orderflow-rules.yml', () => {
  it('is the export of the built-in rules (regenerate: npm run ops:export-test-rules)', () => {
    expect(fs.readFileSync(EXPORTED_RULES_FILE, 'utf8')).toBe(exportPrometheusRules(BUILT_IN_RULES));
  });
});
