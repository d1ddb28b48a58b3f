// The messaging module's public surface. Adapters (transports/*, the SQLite dead-letter store) are not
// exported here: only src/app wires them. The transport contract suite lives in testing/.
export type { Delivery, Transport, TransportSubscribeOptions, TransportSubscription } from './transport.ts';
export type { HandlerContext, HandlerGroup, MessageHandler, RetryPolicyOptions } from './handler.ts';
export type { Envelope, EnvelopeFactoryOptions, NewMessage } from '../kernel/envelope.ts';
export { contextOf, createEnvelope, nameOf, partitionOf } from '../kernel/envelope.ts';
export type { MessageData, MessageDefinition } from './message-catalog.ts';
export { defineMessage, MessageCatalog } from './message-catalog.ts';
export type { Consumer, ConsumerLogger, ConsumerObserver, ConsumerOptions } from './consumer.ts';
export { createConsumer } from './consumer.ts';
export type { MessageScheduler, MessageSchedulerOptions } from './scheduler.ts';
export { createMessageScheduler } from './scheduler.ts';
export type { RetryPolicy } from './retry/retry-policy.ts';
export { backoffDelay, DEFAULT_RETRY_POLICY, resolveRetryPolicy } from './retry/retry-policy.ts';
export type {
  DeadLetter,
  DeadLetterError,
  DeadLetterStatus,
  DeadLetterStore,
  ListDeadLettersOptions,
  NewDeadLetter,
} from './dead-letter/dead-letter-store.ts';
export type { RedriveDeadLetterOptions } from './dead-letter/redrive.ts';
export { redriveDeadLetter } from './dead-letter/redrive.ts';
export type { ContextModule, ModuleDependencies } from './context-module.ts';
export type { LeaderLease } from './leader-lease.ts';
export { soleHolderLease } from './leader-lease.ts';
export type { NewOperatorAction, OperatorAction } from './operator-actions.ts';
export {
  deadLetterRedrivenAction,
  OPERATOR_ACTION_RECORDED,
  OPERATOR_ACTIONS_STREAM,
  operatorActionAppend,
  readOperatorActions,
  recordOperatorAction,
} from './operator-actions.ts';
