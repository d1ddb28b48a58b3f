// The HTTP toolkit a module's routes are written with: the server type, problem details, key checks
// and the Prefer header. The server itself (created once, by src/app) lives in src/http/.
export type { HttpServer } from './http-server.ts';
export {
  FieldErrorSchema,
  PROBLEM_CONTENT_TYPE,
  ProblemDetailsSchema,
  httpStatusOf,
  problemOf,
  problemResponse,
  problemType,
  sendProblem,
  type ProblemDetails,
} from './problem-details.ts';
export { createAdminAuth } from './admin-auth.ts';
export { parsePreferWait } from './prefer.ts';
export { bindRequestTraceContext, requestTraceContext } from './request-trace.ts';
