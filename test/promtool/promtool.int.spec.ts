import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_RULES, exportPrometheusRules, parseAlertRules } from '../../src/operations/alerts/index.ts';
import { PROMTOOL_DIR, promtoolTestFiles } from './promtool-test-file.ts';

const run = promisify(execFile);

/** Like test/support/services.ts: skipped without promtool, but a failure when ORDERFLOW_REQUIRE_SERVICES=1 (CI). */
async function promtoolAvailable(): Promise<boolean> {
  try {
    await run('promtool', ['--version']);
    return true;
  } catch {
    if (process.env.ORDERFLOW_REQUIRE_SERVICES === '1') {
      throw new Error('promtool is not on PATH and ORDERFLOW_REQUIRE_SERVICES=1: apt-get install prometheus');
    }
    console.warn('promtool is not on PATH: skipping the promtool tests (apt-get install prometheus)');
    return false;
  }
}

describe.runIf(await promtoolAvailable())('promtool (Prometheus 2.42+)', () => {
  it('accepts the exported built-in rules, and a custom rule with a rate threshold', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-rules-'));
    try {
      const rules = parseAlertRules(`
rules:
  - name: refunds_failing
    severity: low
    group: payments
    summary: 'Refunds fail {{ oddly }}'
    runbook: https://wiki.example.com/refunds
    for: 1h30m
    threshold: { metric: 'orderflow_refunds_total{outcome!~"ok|done"}', aggregate: sum, function: rate, window: 10m, op: '>=', value: 0.5 }
`);
      const file = path.join(dir, 'rules.yml');
      fs.writeFileSync(file, exportPrometheusRules(rules, { evaluationIntervalMs: 5000 }));
      const { stdout } = await run('promtool', ['check', 'rules', file]);
      expect(stdout).toContain(`SUCCESS: ${BUILT_IN_RULES.length + 1} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes test/promtool/*.test.yml on the committed export', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', ...promtoolTestFiles()], {
      cwd: PROMTOOL_DIR,
    });
    expect(stdout.match(/SUCCESS/g)).toHaveLength(promtoolTestFiles().length);
  });
});
