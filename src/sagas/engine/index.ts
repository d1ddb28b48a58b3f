// The saga engine's public surface: definitions (pure), the decider, the state fold, the registry of
// versions, the timer message and the runtime that runs a definition on the bus.
export type {
  CompensationContext,
  CompensationReply,
  CompensationReplyHandler,
  LateReplyHandler,
  Observation,
  ObserveHandler,
  ReplyContext,
  SagaCommand,
  SagaCompensation,
  SagaDefinition,
  SagaEffects,
  SagaFact,
  SagaFailure,
  SagaHandler,
  SagaStatus,
  SagaStep,
  SagaView,
  StartHandler,
  StepReply,
  StepReplyHandler,
} from './definition.ts';
export { on } from './definition.ts';
export {
  decideSaga,
  DEFAULT_COMPENSATION_ATTEMPTS,
  TIMEOUT_REASON,
  type SagaDecision,
  type SagaInput,
  type SagaTimer,
} from './decide.ts';
export {
  evolveSaga,
  foldSaga,
  isTerminalStatus,
  SAGA_EVENT_TYPES,
  sagaStreamId,
  type SagaAttention,
  type SagaEvent,
  type SagaEventLike,
  type SagaEventType,
  type SagaState,
} from './saga-state.ts';
export {
  createSagaRegistry,
  resolveDefinition,
  type SagaRegistry,
  type SagaRegistryOptions,
} from './registry.ts';
export { SagaTimerFired, SagaTimerFiredData } from './saga-timer.ts';
export {
  createSagaRuntime,
  SAGA_GROUP,
  SAGA_PARKED,
  SAGA_UNPARKED,
  sagaAttentionStreamId,
  type SagaEffectSink,
  type SagaRuntime,
  type SagaRuntimeOptions,
} from './saga-runtime.ts';
