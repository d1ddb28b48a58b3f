// The event store's public surface. Adapters are not exported here: only src/app wires them.
export type {
  AppendOptions,
  AppendResult,
  CommitResult,
  CommittedEvent,
  EventMetadata,
  EventStore,
  EventSubscription,
  ExpectedVersion,
  InboxMark,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  ScheduledMessage,
  StoredEvent,
  StreamAppend,
  SubscriptionContext,
  SubscriptionOptions,
  UnitOfWork,
} from './event-store.ts';
export { NO_STREAM_VERSION } from './event-store.ts';
export type { AggregateLoader, AggregateLoaderOptions, LoadedAggregate } from './aggregate-loader.ts';
export { createAggregateLoader } from './aggregate-loader.ts';
export { describeExpectedVersion, matchesExpectedVersion } from './expected-version.ts';
export { isFinalHead } from './final-head.ts';
export { ConcurrencyError, isConcurrencyError } from '../kernel/errors.ts';
