import type { Registry } from 'prom-client';
import type { AppConfig } from '../config/load-config.ts';
import { readOperatorActions, type LeaderLease, type ModuleDependencies } from '../messaging/index.ts';
import {
  createAlertEngine,
  createOperationsModule,
  loadAlertRules,
  type OperationsModule,
} from '../operations/index.ts';
import type { KpiProjection } from '../operations/kpi/index.ts';

export interface OperationsWiring {
  /** The lease among the copies of the operations role (PostgreSQL advisory lock, or the one process). */
  lease: LeaderLease;
  /** Present in processes with the operations role. */
  kpis: KpiProjection | undefined;
  /** This process's metrics: what the alert rules are evaluated on. */
  registry: Registry;
}

/**
 * The operations module with its parts from the configuration: the alert rules (built-in and
 * ORDERFLOW_ALERT_RULES, refused at start when wrong), the evaluation interval, the quiet period,
 * the incident webhook, and the KPI projection's orders at risk.
 */
export function createOperations(
  config: AppConfig,
  deps: ModuleDependencies,
  wiring: OperationsWiring,
): OperationsModule {
  const rules = loadAlertRules(
    config.operations.alertRulesFile === undefined ? {} : { file: config.operations.alertRulesFile },
  );
  const { kpis } = wiring;
  return createOperationsModule(deps, {
    engine: createAlertEngine({ rules, registry: wiring.registry }),
    lease: wiring.lease,
    atRisk: () => (kpis === undefined ? Promise.resolve([]) : kpis.ordersAtRisk()),
    operatorActions: async (range) =>
      (await readOperatorActions(deps.store, range)).map((action) => ({
        at: action.at,
        kind: action.kind,
        text: action.text,
      })),
    evalIntervalMs: config.operations.alertEvalIntervalMs,
    incidentQuietMs: config.operations.incidentQuietMs,
    webhookUrl: config.operations.incidentWebhookUrl,
    webhookTimeoutMs: config.notifications.webhookTimeoutMs,
    source: `orderflow/${config.namespace}`,
  });
}
