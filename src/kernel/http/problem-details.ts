import { Type, type Static } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  ERROR_CODES,
  ValidationError,
  type ErrorCategory,
  type ErrorCode,
  type FieldError,
} from '../errors.ts';
import { traceFields } from '../trace-context.ts';
import { requestTraceContext } from './request-trace.ts';

/**
 * RFC 9457 problem details: every error Orderflow's HTTP API answers with. HTTP statuses live only
 * here, mapped from an AppError's category, with a few codes that need a more precise status.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const FieldErrorSchema = Type.Object({
  pointer: Type.String({ description: 'JSON pointer to the invalid field, e.g. /items/1/sku' }),
  detail: Type.String(),
});

export const ProblemDetailsSchema = Type.Object(
  {
    type: Type.String({ description: 'Stable URI reference of the problem type: /problems/<kebab-code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String({ description: 'The request path' }),
    code: Type.String({ description: 'Stable error code, listed in docs/errors.md' }),
    errors: Type.Optional(
      Type.Array(FieldErrorSchema, { description: 'Each invalid field, when the input was invalid' }),
    ),
  },
  { description: 'RFC 9457 problem details (application/problem+json)' },
);
export type ProblemDetails = Static<typeof ProblemDetailsSchema>;

/** An error response of a route schema, documented with its real media type. */
export function problemResponse(description: string) {
  return { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemDetailsSchema } } };
}

const STATUS_BY_CATEGORY: Readonly<Record<ErrorCategory, number>> = {
  validation: 422,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  unavailable: 503,
  internal: 500,
};

// Codes whose status is more precise than their category's.
const STATUS_BY_CODE: Partial<Readonly<Record<ErrorCode, number>>> = {
  IDEMPOTENCY_KEY_MISSING: 400,
  IDEMPOTENCY_KEY_INVALID: 400,
  MALFORMED_REQUEST: 400,
  UNAUTHORIZED: 401,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

const TITLES: Partial<Readonly<Record<ErrorCode, string>>> = {
  VALIDATION_FAILED: 'The request is invalid',
  IDEMPOTENCY_KEY_MISSING: 'Idempotency-Key header required',
  IDEMPOTENCY_KEY_INVALID: 'Invalid Idempotency-Key header',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency-Key reused with a different request',
  ORDER_NOT_FOUND: 'Order not found',
  NOT_FOUND: 'Not found',
  UNAUTHORIZED: 'Authentication required',
  FORBIDDEN: 'Not allowed',
  MALFORMED_REQUEST: 'Malformed request',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  PAYLOAD_TOO_LARGE: 'Request body too large',
  SHUTTING_DOWN: 'Shutting down',
  NOT_READY: 'Not ready',
  INTERNAL: 'Internal error',
};

/** The HTTP status an error of this code and category is answered with. */
export function httpStatusOf(code: ErrorCode, category: ErrorCategory): number {
  return STATUS_BY_CODE[code] ?? STATUS_BY_CATEGORY[category];
}

/** `IDEMPOTENCY_KEY_MISSING` → `/problems/idempotency-key-missing`. */
export function problemType(code: string): string {
  return `/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

function titleOf(code: ErrorCode): string {
  const title = TITLES[code];
  if (title !== undefined) return title;
  const words = code.toLowerCase().replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Builds the problem document for an AppError. */
export function problemOf(error: AppError, instance: string): ProblemDetails {
  const problem: ProblemDetails = {
    type: problemType(error.code),
    title: titleOf(error.code),
    status: httpStatusOf(error.code, error.category),
    detail: error.message,
    instance,
    code: error.code,
  };
  if (error instanceof ValidationError) problem.errors = [...error.errors];
  return problem;
}

export function sendProblem(reply: FastifyReply, problem: ProblemDetails): FastifyReply {
  // Pre-serialized: a route's response schema must not reshape (or drop fields of) a problem.
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** Maps whatever a route threw (AppError, fastify's own errors, anything else) to an AppError. */
export function toAppError(error: FastifyError | Error): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    const part = fastifyError.validationContext ?? 'body';
    const errors = fieldErrorsOf(fastifyError.validation as ErrorObject[], part);
    const listed = errors.map((e) => `${e.pointer} ${e.detail}`).join('; ');
    return new ValidationError(
      `the ${part === 'body' ? 'request body' : part} is invalid: ${listed}`,
      errors,
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError(ERROR_CODES.MALFORMED_REQUEST, 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError(ERROR_CODES.MALFORMED_REQUEST, 'the request body is empty; send a JSON document');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(ERROR_CODES.UNSUPPORTED_MEDIA_TYPE, `${error.message}; send application/json`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(ERROR_CODES.PAYLOAD_TOO_LARGE, error.message);
    default:
      break;
  }
  const status = fastifyError.statusCode;
  // Fastify's other 4xx errors: the client sent something unreadable.
  if (status !== undefined && status >= 400 && status < 500) {
    return new AppError(ERROR_CODES.MALFORMED_REQUEST, error.message);
  }
  return new AppError(ERROR_CODES.INTERNAL, 'internal error', { cause: error });
}

/** Installs the one error handler and the not-found handler of a fastify instance. */
export function installProblemDetails(app: {
  setErrorHandler: (
    handler: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown,
  ) => unknown;
  setNotFoundHandler: (handler: (request: FastifyRequest, reply: FastifyReply) => unknown) => unknown;
  log: FastifyBaseLogger;
}): void {
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error);
    const problem = problemOf(appError, request.url);
    if (problem.status >= 500) {
      const traced = requestTraceContext(request);
      request.log.error(
        {
          ...(traced !== undefined ? traceFields(traced) : {}),
          err: error,
          code: appError.code,
          url: request.url,
          method: request.method,
        },
        'request failed',
      );
    }
    if (appError.code === ERROR_CODES.UNAUTHORIZED) reply.header('www-authenticate', 'Bearer');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problemOf(
        new AppError(ERROR_CODES.NOT_FOUND, `no route for ${request.method} ${request.url.split('?')[0]}`),
        request.url,
      ),
    ),
  );
}

/** Ajv errors → one field error per problem, as JSON pointers into the validated part. */
export function fieldErrorsOf(errors: readonly ErrorObject[], part = 'body'): FieldError[] {
  const prefix = part === 'body' ? '' : `${part}: `;
  const seen = new Set<string>();
  const result: FieldError[] = [];
  for (const error of errors) {
    const pointer = pointerOf(error);
    const detail = prefix + detailOf(error);
    const key = `${pointer}\u0000${detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    result.push({ pointer, detail });
  }
  return result;
}

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function pointerOf(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
    return `${error.instancePath}/${escapePointerToken(params.missingProperty)}`;
  }
  if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return `${error.instancePath}/${escapePointerToken(params.additionalProperty)}`;
  }
  return error.instancePath === '' ? '/' : error.instancePath;
}

function detailOf(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  const custom: unknown = error.parentSchema?.['x-error'];
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'type': {
      const type = String(params.type);
      return `must be ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
    }
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'minLength':
      return params.limit === 1
        ? 'must not be empty'
        : `must be at least ${String(params.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters long`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} items`;
    case 'maxItems':
      return `must have at most ${String(params.limit)} items`;
    case 'minimum':
      return `must be at least ${String(params.limit)}`;
    case 'maximum':
      return `must be at most ${String(params.limit)}`;
    case 'pattern':
    case 'format':
      return typeof custom === 'string' ? custom : (error.message ?? 'is invalid');
    default:
      return error.message ?? 'is invalid';
  }
}
