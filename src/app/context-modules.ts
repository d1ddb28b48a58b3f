import type { ContextModuleFactory } from './context-module.ts';

/**
 * Every bounded context of the order flow, in the order their modules start. Adding a context is one
 * line here.
 */
export const CONTEXT_MODULES: readonly ContextModuleFactory[] = [];
