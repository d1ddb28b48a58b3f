import swagger from '@fastify/swagger';
import { Ajv, type ValidateFunction } from 'ajv';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { createRequire } from 'node:module';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';
import { checkInteger, checkNonEmptyString, throwIfInvalid } from '../kernel/options.ts';
import type { AppMetrics } from './metrics.ts';
import type { HttpServer } from '../kernel/http/http-server.ts';
import { installProblemDetails, problemOf, sendProblem } from '../kernel/http/problem-details.ts';
import { installRequestTracing } from './request-tracing.ts';

// ajv-formats is CommonJS with a `default` export that NodeNext types do not see as callable.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv) => Ajv;

/** Where the process is in its life; /readyz and the shutdown guard read it. */
export type LifecycleState = 'starting' | 'running' | 'stopping' | 'stopped';

export interface HttpServerOptions {
  logger: FastifyBaseLogger;
  metrics: AppMetrics;
  /** The process's current state: requests other than health and metrics are refused unless running. */
  lifecycle: () => LifecycleState;
  /**
   * Largest request body accepted, in bytes.
   * @default 262144 (256 KiB)
   */
  bodyLimit?: number;
  /** Version shown in the OpenAPI document. */
  version: string;
}

export const DEFAULT_BODY_LIMIT = 256 * 1024;

// Served in every state, so that probes and scrapers see a process that is starting or stopping.
const ALWAYS_SERVED = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Creates the HTTP server: fastify with the TypeBox type provider, one problem-details error
 * handler, request metrics, and the OpenAPI generator (registered first, so that it sees every
 * route added afterwards). Routes are added by the caller; nothing listens until `listen()`.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  throwIfInvalid([
    checkInteger('bodyLimit', bodyLimit, { min: 1 }),
    checkNonEmptyString('version', options.version),
  ]);
  const app = Fastify({
    loggerInstance: options.logger,
    trustProxy: false,
    bodyLimit,
    // Two log lines per request would cost more than placing the order; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    // The shutdown guard below answers with a problem document instead of fastify's plain 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();
  // First: its onRoute hook must see every route, its onRequest hook every request.
  installRequestTracing(app, ALWAYS_SERVED);

  // Bodies are validated strictly (no coercion, no silently removed properties, every error
  // reported); query strings, params and headers are text, so they are coerced to the schema's types.
  const strict = new Ajv({
    allErrors: true,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: false,
    strict: false,
    verbose: true,
  });
  const coercing = new Ajv({
    allErrors: true,
    coerceTypes: true,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
    verbose: true,
  });
  addFormats(strict);
  addFormats(coercing);
  app.setValidatorCompiler<unknown>(({ schema, httpPart }) => {
    const validate: ValidateFunction = (httpPart === 'body' ? strict : coercing).compile(schema as object);
    return validate as (data: unknown) => boolean;
  });

  installProblemDetails(app);
  // The API speaks JSON only: anything else is 415, not a string that fails the schema.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    const state = options.lifecycle();
    if (state === 'running' || ALWAYS_SERVED.has(request.url.split('?')[0]!)) return;
    const error =
      state === 'starting'
        ? new AppError(ERROR_CODES.NOT_READY, 'Orderflow is starting; try again shortly')
        : new AppError(ERROR_CODES.SHUTTING_DOWN, 'Orderflow is shutting down; try another instance');
    reply.header('connection', 'close');
    return sendProblem(reply, problemOf(error, request.url));
  });

  const { httpRequests, httpRequestDuration } = options.metrics;
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ route, method: request.method, status: reply.statusCode });
    httpRequestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Orderflow API',
        version: options.version,
        description: [
          'Order intake, order views and audit trails of the Orderflow marketplace backbone.',
          '',
          'Money: prices and totals are decimal numbers in the major unit of their currency (19.99 USD),',
          'computed from the catalog, never taken from the client. Inside Orderflow (events, messages,',
          'the audit trail) amounts are integer minor units (1999 cents).',
          '',
          'Errors are RFC 9457 problem details (application/problem+json) with a stable `type` of the',
          'form /problems/<kebab-code> and a `code` listed in docs/errors.md.',
        ].join('\n'),
      },
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer', description: 'ORDERFLOW_ADMIN_KEY' },
        },
      },
    },
  });

  return app;
}
