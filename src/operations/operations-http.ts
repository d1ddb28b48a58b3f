import { Type } from '@sinclair/typebox';
import { createAdminAuth, problemResponse, type HttpServer } from '../kernel/http/index.ts';
import { impactOf, type Incident, type TimelineEntry } from './incidents/incident.ts';
import type { IncidentRepository } from './incidents/incident-repository.ts';
import { postmortemDraft } from './incidents/postmortem.ts';
import type { EvaluatedAlert } from './operations-runner.ts';

export interface OperationsHttpOptions {
  adminKey: string;
  incidents: IncidentRepository;
  /** Every rule's current state. */
  alerts: () => Promise<EvaluatedAlert[]>;
  now: () => Date;
}

const SEVERITY = Type.Union(['critical', 'high', 'medium', 'low'].map((s) => Type.Literal(s)));
const ALERT_STATE = Type.Union(['inactive', 'pending', 'firing'].map((s) => Type.Literal(s)));
const INCIDENT_STATUS = Type.Union([
  Type.Literal('open'),
  Type.Literal('acknowledged'),
  Type.Literal('resolved'),
]);

const AlertSchema = Type.Object({
  name: Type.String(),
  severity: SEVERITY,
  group: Type.String({ description: 'Alerts of one group share an incident' }),
  state: ALERT_STATE,
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When the rule entered its state; null when it never left inactive',
  }),
  value: Type.Union([Type.Number(), Type.Null()], {
    description:
      "The rule's value at the last evaluation (threshold rules: the aggregated value; burn-rate rules: the error ratio of the long window)",
  }),
  summary: Type.String(),
  runbook: Type.String(),
});

const ImpactSchema = Type.Object({
  ordersAffected: Type.Integer(),
  revenueAtRisk: Type.Array(Type.Object({ currency: Type.String(), amount: Type.Number() })),
  regions: Type.Array(Type.String()),
  vendors: Type.Array(Type.String()),
});

const TimelineEntrySchema = Type.Object({
  at: Type.String({ format: 'date-time' }),
  kind: Type.String({
    description: 'opened, alert, impact, acknowledged, note, resolved, or an operator action',
  }),
  text: Type.String(),
});

const IncidentSchema = Type.Object({
  id: Type.String(),
  title: Type.String(),
  severity: SEVERITY,
  status: INCIDENT_STATUS,
  group: Type.String(),
  openedAt: Type.String({ format: 'date-time' }),
  acknowledgedAt: Type.Optional(Type.String({ format: 'date-time' })),
  resolvedAt: Type.Optional(Type.String({ format: 'date-time' })),
  alerts: Type.Array(
    Type.Object({
      name: Type.String(),
      severity: SEVERITY,
      state: ALERT_STATE,
      since: Type.String(),
      summary: Type.String(),
      runbook: Type.String(),
    }),
  ),
  impact: ImpactSchema,
  timeline: Type.Array(TimelineEntrySchema),
});

const Unauthorized = {
  401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
  403: problemResponse('Wrong admin key'),
};
const NotFound = { 404: problemResponse('No such incident (INCIDENT_NOT_FOUND)') };
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const TextBody = Type.Object(
  { text: Type.String({ minLength: 1, maxLength: 4000 }) },
  { additionalProperties: false },
);
const NoteBody = Type.Object(
  { note: Type.Optional(Type.String({ maxLength: 4000 })) },
  { additionalProperties: false },
);

function view(incident: Incident, timeline: readonly TimelineEntry[]) {
  return {
    id: incident.id,
    title: incident.title,
    severity: incident.severity,
    status: incident.status,
    group: incident.group,
    openedAt: incident.openedAt,
    ...(incident.acknowledgedAt !== undefined ? { acknowledgedAt: incident.acknowledgedAt } : {}),
    ...(incident.resolvedAt !== undefined ? { resolvedAt: incident.resolvedAt } : {}),
    alerts: incident.alerts.map(({ name, severity, state, since, summary, runbook }) => ({
      name,
      severity,
      state,
      since,
      summary,
      runbook,
    })),
    impact: impactOf(incident),
    timeline: [...timeline],
  };
}

/** The alert and incident endpoints of DESIGN.md §9, behind the admin key. */
export function registerOperationsHttp(app: HttpServer, options: OperationsHttpOptions): void {
  const authenticate = createAdminAuth(options.adminKey);
  const { incidents } = options;
  const full = async (incident: Incident) => view(incident, await incidents.timeline(incident));

  app.get(
    '/v1/admin/alerts',
    {
      onRequest: authenticate,
      schema: {
        tags: ['operations'],
        summary: 'Every alert rule and its current state',
        security: [{ adminKey: [] }],
        response: { 200: Type.Array(AlertSchema), ...Unauthorized },
      },
    },
    async () =>
      (await options.alerts()).map((alert) => ({
        name: alert.name,
        severity: alert.severity,
        group: alert.group,
        state: alert.state,
        since: alert.since,
        value: alert.value,
        summary: alert.summary,
        runbook: alert.runbook,
      })),
  );

  app.get(
    '/v1/admin/incidents',
    {
      onRequest: authenticate,
      schema: {
        tags: ['operations'],
        summary: 'Incidents, newest first',
        security: [{ adminKey: [] }],
        querystring: Type.Object({ status: Type.Optional(INCIDENT_STATUS) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(IncidentSchema) }),
          ...Unauthorized,
          422: problemResponse('Invalid query'),
        },
      },
    },
    async (request) => ({
      items: await Promise.all((await incidents.list(request.query.status)).map(full)),
    }),
  );

  app.get(
    '/v1/admin/incidents/:id',
    {
      onRequest: authenticate,
      schema: {
        tags: ['operations'],
        summary: 'One incident: alerts, computed impact and UTC timeline',
        security: [{ adminKey: [] }],
        params: IdParams,
        response: { 200: IncidentSchema, ...Unauthorized, ...NotFound },
      },
    },
    async (request) => full(await incidents.require(request.params.id)),
  );

  app.get(
    '/v1/admin/incidents/:id/postmortem',
    {
      onRequest: authenticate,
      schema: {
        tags: ['operations'],
        summary: 'A Markdown postmortem draft filled from the incident',
        security: [{ adminKey: [] }],
        params: IdParams,
        produces: ['text/markdown'],
        response: { 200: { description: 'text/markdown', type: 'string' }, ...Unauthorized, ...NotFound },
      },
    },
    async (request, reply) => {
      const incident = await incidents.require(request.params.id);
      const draft = postmortemDraft(incident, await incidents.timeline(incident), options.now());
      return reply.type('text/markdown; charset=utf-8').send(draft);
    },
  );

  const command = (
    path: string,
    summary: string,
    body: typeof NoteBody | typeof TextBody,
    run: (id: string, body: { note?: string; text?: string }) => Promise<Incident>,
  ) =>
    app.post(
      `/v1/admin/incidents/:id/${path}`,
      {
        onRequest: authenticate,
        schema: {
          tags: ['operations'],
          summary,
          security: [{ adminKey: [] }],
          params: IdParams,
          body,
          response: {
            200: IncidentSchema,
            ...Unauthorized,
            ...NotFound,
            409: problemResponse('The incident is resolved (INCIDENT_ALREADY_RESOLVED)'),
            422: problemResponse('Invalid body'),
          },
        },
      },
      async (request) => full(await run(request.params.id, request.body as { note?: string; text?: string })),
    );

  command(
    'acknowledge',
    'Acknowledges an incident (someone is on it), with an optional note',
    NoteBody,
    (id, b) => incidents.acknowledge(id, b.note ?? ''),
  );
  command('resolve', 'Resolves an incident, with an optional note', NoteBody, (id, b) =>
    incidents.resolve(id, b.note ?? ''),
  );
  command('notes', "Adds a note to an incident's timeline", TextBody, (id, b) =>
    incidents.addNote(id, b.text!),
  );
}
