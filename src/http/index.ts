// The HTTP layer's public surface for route modules and the composition root.
export {
  createHttpServer,
  DEFAULT_BODY_LIMIT,
  type HttpServer,
  type HttpServerOptions,
  type LifecycleState,
} from './create-http-server.ts';
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
export {
  createMetrics,
  registerPartitionMetrics,
  registerRelayMetrics,
  registerStoreMetrics,
  type AppMetrics,
} from './metrics.ts';
export { registerHealthRoutes, type Readiness } from './health-routes.ts';
export { registerAdminRoutes, type AdminRoutesOptions } from './admin-routes.ts';
export { createAdminAuth } from './admin-auth.ts';
export { registerOpenApiRoute } from './openapi.ts';
export { registerOperationsPage, type OperationsPageOptions } from './operations-page.ts';
export { parsePreferWait } from './prefer.ts';
