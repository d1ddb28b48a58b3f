// The operations role's public surface, for the composition root (src/app) and the CLI's exports.
export type { OperationsModule, OperationsModuleOptions } from './operations-module.ts';
export { createOperationsModule } from './operations-module.ts';
export type {
  AlertEngine,
  EvaluatedAlert,
  EvaluatedTransition,
  OperationsRunner,
} from './operations-runner.ts';
export type { AffectedOrder, Incident, Severity, TimelineEntry } from './incidents/incident.ts';
export { OPERATIONS_MESSAGES } from './messages.ts';
export { createAlertEngine } from './alert-engine.ts';
export {
  BUILT_IN_RULES,
  exportGrafanaDashboard,
  exportPrometheusRules,
  loadAlertRules,
  type AlertRule,
} from './alerts/index.ts';
