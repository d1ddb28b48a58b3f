import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILT_IN_RULES, exportPrometheusRules } from '../../src/operations/alerts/index.ts';
import { removeDir, ROOT, tempDataDir } from '../support/test-app.ts';

const BIN = path.join(ROOT, 'bin/orderflow.mjs');
const run = promisify(execFile);

/** `orderflow <args>` with only the environment the test gives; its exit code, stdout and stderr. */
async function orderflow(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        ORDERFLOW_LOG_LEVEL: 'warn',
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('orderflow ops', () => {
  const dir = tempDataDir('orderflow-ops-cli-');
  afterAll(() => removeDir(dir));
  const rulesFile = path.join(dir, 'rules.yaml');
  fs.writeFileSync(
    rulesFile,
    'rules:\n  - name: consumer_lag\n    for: 15m\n    threshold: { value: 20000 }\n',
  );

  it('export-rules prints the built-in rules as Prometheus rule groups', async () => {
    const { code, stdout } = await orderflow(['ops', 'export-rules']);
    expect(code).toBe(0);
    expect(stdout).toBe(exportPrometheusRules(BUILT_IN_RULES));
  });

  it('export-rules applies ORDERFLOW_ALERT_RULES, or --rules in its place', async () => {
    for (const result of [
      await orderflow(['ops', 'export-rules'], { ORDERFLOW_ALERT_RULES: rulesFile }),
      await orderflow(['ops', 'export-rules', '--rules', rulesFile]),
    ]) {
      expect(result.code).toBe(0);
      const groups = (parse(result.stdout) as { groups: { rules: Record<string, unknown>[] }[] }).groups;
      const lag = groups.flatMap((group) => group.rules).find((rule) => rule.alert === 'consumer_lag');
      expect(lag).toMatchObject({ expr: 'max(orderflow_consumer_lag_messages) > 20000', for: '15m' });
    }
  });

  it('export-dashboard prints a Grafana dashboard as JSON', async () => {
    const { code, stdout } = await orderflow(['ops', 'export-dashboard', '--rules', rulesFile]);
    expect(code).toBe(0);
    const dashboard = JSON.parse(stdout) as { uid: string; panels: { targets: { expr: string }[] }[] };
    expect(dashboard.uid).toBe('orderflow-overview');
    expect(
      dashboard.panels.some((p) => p.targets.some((t) => t.expr.includes('orderflow_revenue_at_risk'))),
    ).toBe(true);
  });

  it('exits 2 listing every problem of a bad rules file, and names a missing one', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'rules:\n  - name: consumer_lag\n    for: soon\n    threshold: { op: "==" }\n');
    const failed = await orderflow(['ops', 'export-rules', '--rules', bad]);
    expect(failed.code).toBe(2);
    expect(failed.stdout).toBe('');
    expect(failed.stderr.trim().split('\n')).toEqual([
      'orderflow: invalid ORDERFLOW_ALERT_RULES:',
      '  - rules[0] (consumer_lag): for must be a Prometheus duration like 30s, 5m, 1h (got "soon")',
      `  - rules[0] (consumer_lag): threshold.op must be '>', '>=', '<' or '<=' (got "==")`,
    ]);
    const missing = await orderflow(['ops', 'export-dashboard'], {
      ORDERFLOW_ALERT_RULES: path.join(dir, 'none.yaml'),
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(
      `orderflow: invalid ORDERFLOW_ALERT_RULES:\n  - ${path.join(dir, 'none.yaml')} cannot be read (ENOENT)`,
    );
  });
});
