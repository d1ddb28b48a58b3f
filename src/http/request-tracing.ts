import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
} from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { FastifyRequest } from 'fastify';
import type { HttpServer } from '../kernel/http/http-server.ts';
import { bindRequestTraceContext, requestTraceContext } from '../kernel/http/request-trace.ts';
import { tracer } from '../kernel/trace-context.ts';

/**
 * A SERVER span per request (`<METHOD> <route template>`), continuing the caller's `traceparent`.
 * Its context is bound to the request (requestTraceContext) and made the active context of the
 * route handler. Installed before any route and before the other `onRequest` hooks, so that
 * refused requests are traced too. `skip` paths (probes, scrapes) get no span.
 */
export function installRequestTracing(app: HttpServer, skip: ReadonlySet<string>): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const path = request.url.split('?', 1)[0]!;
    if (!skip.has(path)) bindRequestTraceContext(request, startRequestSpan(request, path));
    done();
  });

  // Fastify runs the handler from callbacks of its own (after the body is read), not inside the
  // onRequest hook's async context, so the span's context is entered around the handler itself.
  app.addHook('onRoute', (route) => {
    const handler = route.handler as (...args: unknown[]) => unknown;
    route.handler = function tracedHandler(this: unknown, request, reply) {
      const traced = requestTraceContext(request);
      return traced === undefined
        ? handler.call(this, request, reply)
        : context.with(traced, handler, this, request, reply);
    };
  });

  const end = (request: FastifyRequest, statusCode: number | undefined): void => {
    const traced = requestTraceContext(request);
    if (traced === undefined) return;
    bindRequestTraceContext(request, undefined);
    const span = trace.getSpan(traced)!;
    if (span.isRecording()) {
      if (statusCode === undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      } else {
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
        // Server spans: a 4xx is the client's error, not the server's (semantic conventions).
        if (statusCode >= 500) {
          span.setAttribute(ATTR_ERROR_TYPE, String(statusCode));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
      }
    }
    span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request, undefined);
    done();
  });
}

function startRequestSpan(request: FastifyRequest, path: string): Context {
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const route = request.routeOptions.url;
  const name = route === undefined ? request.method : `${request.method} ${route}`;
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER }, parent);
  if (span.isRecording()) {
    span.setAttributes({
      [ATTR_HTTP_REQUEST_METHOD]: request.method,
      [ATTR_URL_PATH]: path,
      [ATTR_URL_SCHEME]: request.protocol,
      ...(route !== undefined ? { [ATTR_HTTP_ROUTE]: route } : {}),
    });
  }
  return trace.setSpan(parent, span);
}
