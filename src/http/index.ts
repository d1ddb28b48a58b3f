// The HTTP layer's public surface for the composition root: the server, health, metrics, OpenAPI,
// the admin routes and the operations page. Route modules use the toolkit in src/kernel/http/.
export {
  createHttpServer,
  DEFAULT_BODY_LIMIT,
  type HttpServerOptions,
  type LifecycleState,
} from './create-http-server.ts';
export {
  createMetrics,
  registerPartitionMetrics,
  registerRelayMetrics,
  registerStoreMetrics,
  type AppMetrics,
} from './metrics.ts';
export { registerHealthRoutes, type Readiness } from './health-routes.ts';
export { registerAdminRoutes, type AdminRoutesOptions } from './admin-routes.ts';
export { registerOpenApiRoute } from './openapi.ts';
export { createAsyncApiDocument, registerAsyncApiRoute } from './asyncapi.ts';
export { registerOperationsPage, type OperationsPageOptions } from './operations-page.ts';
