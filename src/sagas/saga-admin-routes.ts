import { Type, type Static } from '@sinclair/typebox';
import type { EventStore } from '../event-store/index.ts';
import { createAdminAuth, problemResponse, type HttpServer } from '../kernel/http/index.ts';
import { recordOperatorAction } from '../messaging/index.ts';
import type { SagaRuntime, SagaState } from './engine/index.ts';

export interface SagaAdminRoutesOptions<D> {
  adminKey: string;
  runtime: SagaRuntime<D>;
  /** Where each retry is recorded as an operator action (incident timelines show it). */
  store: EventStore;
}

const SagaFailureSchema = Type.Object({
  step: Type.String({ description: 'The step in progress when the saga failed' }),
  reason: Type.String({ description: 'e.g. out_of_stock, payment_declined, timeout, customer_request' }),
  detail: Type.String(),
});

export const SagaSummarySchema = Type.Object(
  {
    id: Type.String({ description: 'The saga id (for the order saga: the order id)' }),
    definition: Type.String({ description: 'The saga definition, e.g. order' }),
    version: Type.Integer({ description: 'The definition version the saga runs on' }),
    status: Type.Union(
      ['running', 'compensating', 'needs_attention', 'completed', 'failed'].map((status) =>
        Type.Literal(status),
      ),
    ),
    step: Type.String({ description: 'The step in progress, or the step the saga failed at' }),
    completedSteps: Type.Array(Type.String()),
    failure: Type.Union([SagaFailureSchema, Type.Null()]),
    compensation: Type.Union([
      Type.Object({
        step: Type.String({ description: 'The compensation in progress (or parked)' }),
        attempt: Type.Integer(),
        pending: Type.Array(Type.String(), { description: 'Compensations still to run, this one first' }),
      }),
      Type.Null(),
    ]),
    attention: Type.Union([
      Type.Object({ step: Type.String(), attempts: Type.Integer(), reason: Type.String() }),
      Type.Null(),
    ]),
    streamId: Type.String({ description: "The saga's event stream" }),
    updatedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { description: "A saga's state, folded from its event stream" },
);
export type SagaSummary = Static<typeof SagaSummarySchema>;

const Unauthorized = {
  401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
  403: problemResponse('Wrong admin key'),
};

/**
 * Operators' view of parked sagas: `GET /v1/admin/sagas?status=needs_attention` lists the sagas whose
 * compensation ran out of attempts; `POST /v1/admin/sagas/{id}/retry` re-sends the pending
 * compensation commands of one of them (with a fresh budget of attempts), recorded as an operator
 * action. Behind the admin key.
 */
export function registerSagaAdminRoutes<D>(app: HttpServer, options: SagaAdminRoutesOptions<D>): void {
  const authenticate = createAdminAuth(options.adminKey);
  const { runtime } = options;

  app.get(
    '/v1/admin/sagas',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Sagas parked as needs_attention, longest parked first',
        description:
          'A saga is parked when a compensation (release stock, void payment, cancel shipments) got no reply after its attempts. Retry it once the cause is fixed.',
        security: [{ adminKey: [] }],
        querystring: Type.Object(
          {
            status: Type.Optional(Type.Literal('needs_attention', { default: 'needs_attention' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(SagaSummarySchema) }),
          ...Unauthorized,
          422: problemResponse('Invalid query'),
        },
      },
    },
    async (request) => {
      const sagas = await runtime.needingAttention(request.query.limit ?? 100);
      return { items: sagas.map((saga) => summaryOf(runtime, saga)) };
    },
  );

  app.post(
    '/v1/admin/sagas/:id/retry',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Re-sends the pending compensation commands of a parked saga',
        security: [{ adminKey: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: {
          202: { ...SagaSummarySchema, description: 'Retried: the saga compensates again' },
          ...Unauthorized,
          404: problemResponse('No such saga (SAGA_NOT_FOUND)'),
          409: problemResponse('The saga is not in needs_attention (SAGA_NOT_RETRYABLE)'),
        },
      },
    },
    async (request, reply) => {
      const saga = await runtime.retry(request.params.id, 'operator');
      await recordOperatorAction(options.store, {
        kind: 'saga_retried',
        text: `${saga.definition} saga ${saga.sagaId} retried (pending compensations: ${saga.compensations.join(', ')})`,
        details: { sagaId: saga.sagaId, definition: saga.definition, compensations: [...saga.compensations] },
      });
      return reply.code(202).send(summaryOf(runtime, saga));
    },
  );
}

export function summaryOf<D>(runtime: SagaRuntime<D>, saga: SagaState<D>): SagaSummary {
  const compensating = saga.compensations.length > 0 && saga.status !== 'failed';
  return {
    id: saga.sagaId,
    definition: saga.definition,
    version: saga.version,
    status: saga.status,
    step: saga.step,
    completedSteps: [...saga.completed],
    failure: saga.failure === null ? null : { ...saga.failure },
    compensation: compensating
      ? { step: saga.compensations[0]!, attempt: saga.compensationAttempt, pending: [...saga.compensations] }
      : null,
    attention: saga.attention === null ? null : { ...saga.attention },
    streamId: runtime.streamIdOf(saga.sagaId),
    ...(saga.updatedAt !== undefined ? { updatedAt: saga.updatedAt } : {}),
  };
}
