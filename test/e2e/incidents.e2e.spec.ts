import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createCluster, type ClusterMember, type OrderflowCluster } from '../support/orderflow-cluster.ts';
import { PROCESS_ADMIN_KEY } from '../support/orderflow-process.ts';
import { distributedEnv, randomNamespace, removeNamespace } from '../support/distributed.ts';
import {
  startIncidentWebhookReceiver,
  type IncidentWebhookReceiver,
} from '../support/incident-webhook-receiver.ts';
import { ROLES } from '../../src/kernel/roles.ts';
import { orderBody } from '../support/orders.ts';
import { serviceAvailable } from '../support/services.ts';
import { removeDir, tempDataDir } from '../support/test-app.ts';

/**
 * DESIGN.md §9's promise, end to end: the payment simulator is made to fail at run time; the
 * payment-availability alert goes pending then firing; an incident opens (critical) with the orders
 * affected and their revenue; the webhook gets a signed trigger; acknowledge and a note appear in
 * the timeline; the simulator is set back; the alert clears, the incident resolves itself after
 * the quiet period and the webhook gets resolve. In distributed mode, the evaluating copy of the
 * operations role is SIGKILLed mid-way: the other copy takes over, no incident lost or doubled.
 */

const ALERT = 'payment_authorization_availability';
const auth = { authorization: `Bearer ${PROCESS_ADMIN_KEY}` };

// Windows of seconds instead of hours, so the test sees the whole life of an incident.
const RULES = `
rules:
  - name: ${ALERT}
    for: 1s
    keep_firing_for: 2s
    burn_rate:
      min_volume: 2
      windows:
        - { long: 20s, short: 4s, factor: 1 }
  # Out of the way of this scenario: they would open incidents of their own.
  - name: revenue_at_risk
    for: 1h
  - name: dead_letters_parked
    for: 1h
  - name: order_confirmation_success
    for: 1h
`;

interface AlertView {
  name: string;
  state: string;
  severity: string;
}
interface IncidentView {
  id: string;
  severity: string;
  status: string;
  title: string;
  alerts: { name: string }[];
  impact: { ordersAffected: number; revenueAtRisk: { currency: string; amount: number }[] };
  timeline: { at: string; kind: string; text: string }[];
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, {
    ...init,
    headers: { ...auth, 'content-type': 'application/json', ...init?.headers },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

async function placeOrder(
  baseUrl: string,
  token: string,
): Promise<{ id: string; total: number; currency: string }> {
  const response = await fetch(`${baseUrl}/v1/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify(orderBody({ paymentMethod: { token } })),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; total: number; currency: string };
}

interface Scenario {
  members: ClusterMember[];
  env: () => Promise<Record<string, string>>;
  /** Kills the copy of the operations role that evaluates, mid-incident, and restarts it. */
  disrupt?: (cluster: OrderflowCluster) => Promise<void>;
}

async function runScenario(
  scenario: Scenario,
  receiver: IncidentWebhookReceiver,
  rulesFile: string,
): Promise<void> {
  const env = {
    ...(await scenario.env()),
    ORDERFLOW_ALERT_RULES: rulesFile,
    ORDERFLOW_ALERT_EVAL_INTERVAL_MS: '250',
    ORDERFLOW_INCIDENT_QUIET_MS: '3000',
    ORDERFLOW_INCIDENT_WEBHOOK_URL: receiver.url,
    ORDERFLOW_SLO_PLACED_TO_CONFIRMED_MS: '1000',
    ORDERFLOW_CARRIER_DELAY_MS: '0',
    // The saga asks again (a new attempt) soon after the gateway is back.
    ORDERFLOW_SAGA_STEP_TIMEOUT_MS: '3000',
    ORDERFLOW_PAYMENT_MAX_ATTEMPTS: '10',
  };
  const cluster = await createCluster(scenario.members, env);
  try {
    await cluster.startAll();
    const api = cluster.url(scenario.members[0]!.name);

    // Healthy traffic first: the SLI has volume, and nothing fires.
    for (let i = 0; i < 3; i++) await placeOrder(api, `tok_visa.ok-${i}`);

    await json(`${api}/v1/admin/simulators/payment-gateway`, {
      method: 'PUT',
      body: JSON.stringify({ failureRate: 1 }),
    });
    const failing: { id: string; total: number; currency: string }[] = [];
    for (let i = 0; i < 3; i++) failing.push(await placeOrder(api, `tok_visa.outage-${i}`));

    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          const alert = (await json<AlertView[]>(`${api}/v1/admin/alerts`)).find((a) => a.name === ALERT)!;
          seen.add(alert.state);
          return alert.state;
        },
        { timeout: 30_000, interval: 100 },
      )
      .toBe('firing');
    expect(seen.has('pending')).toBe(true);

    // Orders stuck pending past the 1 s objective are the incident's impact.
    const expectedAtRisk = failing.reduce((sum, order) => sum + order.total, 0);
    let incident = await expect
      .poll(
        async () => {
          const { items } = await json<{ items: IncidentView[] }>(`${api}/v1/admin/incidents?status=open`);
          return items;
        },
        { timeout: 20_000 },
      )
      .toHaveLength(1)
      .then(
        async () =>
          (await json<{ items: IncidentView[] }>(`${api}/v1/admin/incidents?status=open`)).items[0]!,
      );
    expect(incident).toMatchObject({ severity: 'critical', status: 'open', alerts: [{ name: ALERT }] });
    await expect
      .poll(
        async () =>
          (await json<IncidentView>(`${api}/v1/admin/incidents/${incident.id}`)).impact.ordersAffected,
        {
          timeout: 20_000,
        },
      )
      .toBeGreaterThanOrEqual(failing.length);
    incident = await json<IncidentView>(`${api}/v1/admin/incidents/${incident.id}`);
    const usd = incident.impact.revenueAtRisk.find((r) => r.currency === failing[0]!.currency)!;
    expect(usd.amount).toBeGreaterThanOrEqual(Math.round(expectedAtRisk * 100) / 100);

    await expect
      .poll(() => receiver.unique().map((d) => d.body.event_action), { timeout: 15_000 })
      .toContain('trigger');
    const trigger = receiver.unique().find((d) => d.body.event_action === 'trigger')!;
    expect(trigger.signed).toBe(true);
    expect(trigger.body).toMatchObject({ dedup_key: incident.id, payload: { severity: 'critical' } });

    if (scenario.disrupt !== undefined) await scenario.disrupt(cluster);

    await json(`${api}/v1/admin/incidents/${incident.id}/acknowledge`, {
      method: 'POST',
      body: JSON.stringify({ note: 'on it' }),
    });
    await json(`${api}/v1/admin/incidents/${incident.id}/notes`, {
      method: 'POST',
      body: JSON.stringify({ text: 'the gateway vendor confirms an outage' }),
    });
    await json(`${api}/v1/admin/simulators/payment-gateway`, {
      method: 'PUT',
      body: JSON.stringify({ failureRate: 0 }),
    });

    await expect
      .poll(async () => (await json<IncidentView>(`${api}/v1/admin/incidents/${incident.id}`)).status, {
        timeout: 60_000,
        interval: 250,
      })
      .toBe('resolved');
    const resolved = await json<IncidentView>(`${api}/v1/admin/incidents/${incident.id}`);
    const kinds = resolved.timeline.map((entry) => entry.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['opened', 'acknowledged', 'note', 'resolved', 'simulator_changed']),
    );
    expect(resolved.timeline.find((e) => e.kind === 'note')!.text).toBe(
      'the gateway vendor confirms an outage',
    );
    expect(resolved.timeline.find((e) => e.kind === 'resolved')!.text).toMatch(/no alert firing since/);
    const times = resolved.timeline.map((e) => e.at);
    expect(times).toEqual([...times].sort());
    expect(times.every((t) => t.endsWith('Z'))).toBe(true);

    const alert = (await json<AlertView[]>(`${api}/v1/admin/alerts`)).find((a) => a.name === ALERT)!;
    expect(alert.state).toBe('inactive');
    await expect
      .poll(() => receiver.unique().map((d) => d.body.event_action), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(['trigger', 'acknowledge', 'resolve']));

    // Nothing lost, nothing doubled: one incident, one webhook per transition.
    const { items } = await json<{ items: IncidentView[] }>(`${api}/v1/admin/incidents`);
    expect(items.map((i) => i.id)).toEqual([incident.id]);
    const actions = receiver
      .unique()
      .filter((d) => d.body.dedup_key === incident.id)
      .map((d) => d.body.event_action);
    expect(actions.filter((a) => a === 'acknowledge')).toHaveLength(1);
    expect(actions.filter((a) => a === 'resolve')).toHaveLength(1);
    expect(receiver.deliveries.every((d) => d.signed)).toBe(true);

    const postmortem = await fetch(`${api}/v1/admin/incidents/${incident.id}/postmortem`, { headers: auth });
    expect(postmortem.headers.get('content-type')).toMatch(/^text\/markdown/);
    const draft = await postmortem.text();
    expect(draft).toContain(`- Orders affected: ${resolved.impact.ordersAffected}`);
    expect(draft).toContain('the gateway vendor confirms an outage');

    // The orders that waited for the gateway go through once it is back.
    for (const order of failing) {
      await expect
        .poll(async () => (await json<{ status: string }>(`${api}/v1/orders/${order.id}`)).status, {
          timeout: 30_000,
        })
        .not.toBe('pending');
    }
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${cluster.tails(30)}`, { cause: error });
  } finally {
    await cluster.remove();
  }
}

const distributedServers = (await serviceAvailable('postgres')) && (await serviceAvailable('nats'));

describe('incidents, end to end', () => {
  let receiver: IncidentWebhookReceiver | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await receiver?.close();
    if (dir !== undefined) removeDir(dir);
  });

  const setUp = async (): Promise<string> => {
    receiver = await startIncidentWebhookReceiver(PROCESS_ADMIN_KEY);
    dir = tempDataDir('orderflow-rules-');
    const file = path.join(dir, 'rules.yaml');
    fs.writeFileSync(file, RULES);
    return file;
  };

  it('embedded: payment outage → alert → incident → acknowledge → recovery → resolved', async () => {
    const rules = await setUp();
    await runScenario({ members: [{ name: 'all', roles: ALL }], env: async () => ({}) }, receiver!, rules);
  }, 150_000);

  describe.runIf(distributedServers)('distributed', () => {
    it('the evaluating operations copy is SIGKILLed mid-incident: the other takes over, nothing lost or doubled', async () => {
      const rules = await setUp();
      const namespace = randomNamespace();
      try {
        await runScenario(
          {
            members: [
              {
                name: 'work',
                roles: ['api', 'saga', 'inventory', 'payments', 'fulfillment', 'notifications'],
              },
              { name: 'ops-1', roles: ['operations'] },
              { name: 'ops-2', roles: ['operations'] },
            ],
            env: async () => distributedEnv(namespace),
            disrupt: async (cluster) => {
              const leader = (await isLeader(cluster.url('ops-1'))) ? 'ops-1' : 'ops-2';
              const standby = leader === 'ops-1' ? 'ops-2' : 'ops-1';
              await cluster.kill(leader);
              await expect.poll(() => isLeader(cluster.url(standby)), { timeout: 10_000 }).toBe(true);
              await cluster.start(leader);
            },
          },
          receiver!,
          rules,
        );
      } finally {
        await removeNamespace(namespace);
      }
    }, 180_000);
  });
});

/** Whether the process at `url` is the copy of the operations role that evaluates (its lease). */
async function isLeader(url: string): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /^orderflow_operations_leader 1$/m.test(text);
}

const ALL: ClusterMember['roles'] = ROLES;
