import type { Context } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';

// The server (src/http) binds each request to its span's context; routes read it back to hand the
// request's trace on (the order placed, its log lines) without relying on the active context.
const contexts = new WeakMap<FastifyRequest, Context>();

/** The trace context of the request's SERVER span; undefined for an untraced request. */
export function requestTraceContext(request: FastifyRequest): Context | undefined {
  return contexts.get(request);
}

/** Binds (or, with undefined, unbinds) the request's trace context. For the server only. */
export function bindRequestTraceContext(request: FastifyRequest, traced: Context | undefined): void {
  if (traced === undefined) contexts.delete(request);
  else contexts.set(request, traced);
}
