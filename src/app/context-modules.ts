import { createInventoryModule } from '../contexts/inventory/index.ts';
import { createFulfillmentModule } from '../contexts/fulfillment/index.ts';
import { createPaymentsModule } from '../contexts/payments/index.ts';
import { createSagaModule } from '../sagas/index.ts';
import { createNotificationsModule } from '../contexts/notifications/index.ts';
import type { ContextModuleFactory } from './context-module.ts';

/**
 * Every bounded context of the order flow, in the order their modules start. Adding a context is one
 * line here.
 */
export const CONTEXT_MODULES: readonly ContextModuleFactory[] = [
  createInventoryModule,
  createFulfillmentModule,
  createPaymentsModule,
  createSagaModule,
  createNotificationsModule,
];
