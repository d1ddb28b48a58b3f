import { Type } from '@sinclair/typebox';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';
import type { HttpServer } from '../kernel/http/index.ts';
import { METRICS_CONTENT_TYPE, type AppMetrics } from './metrics.ts';
import { problemOf, problemResponse, sendProblem } from '../kernel/http/problem-details.ts';

export interface Readiness {
  /** True when the store is open and every consumer of this process's roles is running. */
  ready: boolean;
  /** Why not, when not ready: `starting`, `shutting down`, `store closed`… */
  reason?: string;
  checks: Record<string, boolean>;
}

export interface HealthRoutesOptions {
  metrics: AppMetrics;
  readiness: () => Readiness;
}

const Checks = Type.Record(Type.String(), Type.Boolean());

/** /healthz, /readyz and /metrics: served by every process, whatever its roles. */
export function registerHealthRoutes(app: HttpServer, options: HealthRoutesOptions): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: 200 while the process runs',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary:
          'Readiness: 200 when the store is open and the consumers run, 503 while starting or shutting down',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
          503: problemResponse('Starting, shutting down, or degraded'),
        },
      },
    },
    async (request, reply) => {
      const readiness = options.readiness();
      if (readiness.ready) return { status: 'ready' as const, checks: readiness.checks };
      const error = new AppError(ERROR_CODES.NOT_READY, `not ready: ${readiness.reason ?? 'starting'}`);
      return sendProblem(reply, problemOf(error, request.url));
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) => {
      const text = await options.metrics.registry.metrics();
      return reply.type(METRICS_CONTENT_TYPE).send(text);
    },
  );
}
