import { Gauge, type Registry } from 'prom-client';
import type { ContextModule, LeaderLease, ModuleDependencies } from '../messaging/index.ts';
import { readRecordedAlerts } from './alerts-record.ts';
import { incidentWebhookHandlers } from './incident-webhooks.ts';
import { SEVERITIES, type AffectedOrder } from './incidents/incident.ts';
import { createIncidentRepository, type OperatorActionsReader } from './incidents/incident-repository.ts';
import { OPERATIONS_MESSAGES } from './messages.ts';
import { registerOperationsHttp } from './operations-http.ts';
import {
  createOperationsRunner,
  type AlertEngine,
  type EvaluatedAlert,
  type OperationsRunner,
} from './operations-runner.ts';

export interface OperationsModuleOptions {
  engine: AlertEngine;
  lease: LeaderLease;
  /** Orders at risk now (the KPI projection). */
  atRisk: () => Promise<AffectedOrder[]>;
  operatorActions: OperatorActionsReader;
  /** ORDERFLOW_ALERT_EVAL_INTERVAL_MS */
  evalIntervalMs: number;
  /** ORDERFLOW_INCIDENT_QUIET_MS */
  incidentQuietMs: number;
  /** ORDERFLOW_INCIDENT_WEBHOOK_URL */
  webhookUrl: string | undefined;
  webhookTimeoutMs: number;
  /** The webhook payload's `source`, e.g. `orderflow/<namespace>`. */
  source: string;
}

export interface OperationsModule extends ContextModule {
  /** Set once the module started (this process has the operations role). */
  readonly runner: OperationsRunner | undefined;
  /** `orderflow_alerts{alert,severity,state}` and `orderflow_incidents{severity,status}`. */
  registerMetrics(registry: Registry): void;
}

const ALERT_STATES = ['inactive', 'pending', 'firing'] as const;
const INCIDENT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;

/**
 * The operations role (DESIGN.md §9): the alert evaluator and incident manager (one copy at a time,
 * by the lease), the incident webhook's consumer group, and the alert and incident endpoints (served
 * by the api role, from the store, so they agree with whichever copy evaluates).
 */
export function createOperationsModule(
  deps: ModuleDependencies,
  options: OperationsModuleOptions,
): OperationsModule {
  const { store, logger, now } = deps;
  const incidents = createIncidentRepository({
    store,
    messages: deps.messages,
    webhookEnabled: options.webhookUrl !== undefined,
    source: options.source,
    operatorActions: options.operatorActions,
    now,
  });
  let runner: OperationsRunner | undefined;

  async function alerts(): Promise<EvaluatedAlert[]> {
    if (runner?.leading === true) return runner.alerts();
    return options.engine.describe((await readRecordedAlerts(store)).states);
  }

  return {
    name: 'operations',
    role: 'operations',
    messages: OPERATIONS_MESSAGES,
    handlerGroups:
      options.webhookUrl === undefined
        ? []
        : [
            incidentWebhookHandlers({
              store,
              url: options.webhookUrl,
              adminKey: deps.adminKey,
              timeoutMs: options.webhookTimeoutMs,
            }),
          ],
    get runner() {
      return runner;
    },
    registerHttp(http) {
      registerOperationsHttp(http, { adminKey: deps.adminKey, incidents, alerts, now });
    },
    registerMetrics(registry) {
      const registers = [registry];
      new Gauge({
        name: 'orderflow_alerts',
        help: "1 for each alert rule's current state (inactive, pending, firing), 0 for the others",
        labelNames: ['alert', 'severity', 'state'],
        registers,
        async collect() {
          this.reset();
          for (const alert of runner?.alerts() ?? (await alerts())) {
            for (const state of ALERT_STATES) {
              this.set({ alert: alert.name, severity: alert.severity, state }, alert.state === state ? 1 : 0);
            }
          }
        },
      });
      new Gauge({
        name: 'orderflow_operations_leader',
        help: '1 in the copy of the operations role that holds the lease and evaluates the alert rules, 0 in a standby copy',
        registers,
        collect() {
          this.set(runner?.leading === true ? 1 : 0);
        },
      });
      new Gauge({
        name: 'orderflow_incidents',
        help: 'Incidents by severity and status',
        labelNames: ['severity', 'status'],
        registers,
        collect() {
          this.reset();
          const counts = runner?.incidentCounts() ?? [];
          for (const severity of SEVERITIES) {
            for (const status of INCIDENT_STATUSES) {
              const found = counts.find((c) => c.severity === severity && c.status === status);
              this.set({ severity, status }, found?.count ?? 0);
            }
          }
        },
      });
    },
    async start() {
      runner = createOperationsRunner({
        store,
        engine: options.engine,
        incidents,
        lease: options.lease,
        atRisk: options.atRisk,
        intervalMs: options.evalIntervalMs,
        quietMs: options.incidentQuietMs,
        logger: logger.child({ component: 'operations' }),
        now,
      });
      runner.start();
    },
    async stop() {
      await runner?.stop();
    },
  };
}
