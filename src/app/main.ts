// The `orderflow` command's entry point (bin/orderflow.mjs): the command line of src/cli/, given
// what its commands run.
import { runCli } from '../cli/program.ts';
import type { AppConfig } from '../config/load-config.ts';
import { exportGrafanaDashboard, exportPrometheusRules, loadAlertRules } from '../operations/alerts/index.ts';
import { createApp } from './create-app.ts';
import { openDeadLetterAdmin } from './dead-letter-admin.ts';

const rulesOf = (config: AppConfig) => loadAlertRules({ file: config.operations.alertRulesFile });

await runCli(process.argv, {
  createApp,
  openDeadLetterAdmin,
  exportAlertRules: (config) => exportPrometheusRules(rulesOf(config)),
  exportDashboard: (config) => JSON.stringify(exportGrafanaDashboard(rulesOf(config)), null, 2),
});
