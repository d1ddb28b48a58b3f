import { InvalidOptionsError, TerminalError } from '../../kernel/errors.ts';
import type { MessageDefinition } from '../../messaging/index.ts';
import type { SagaDefinition } from './definition.ts';

/**
 * Every registered version of one saga definition. New sagas start on the current version (the
 * highest, unless told otherwise); a saga in flight is always decided by the version it started on,
 * so changing a definition means adding a version and keeping the old one registered until its
 * sagas have ended. `D` is the union of the versions' data shapes.
 */
export interface SagaRegistry<D> {
  readonly name: string;
  /** The version new sagas start on. */
  readonly current: SagaDefinition<D>;
  /** Registered versions, ascending. */
  readonly versions: readonly number[];
  get(version: number): SagaDefinition<D> | undefined;
  /** Every message type a version handles: start messages, replies, compensation replies, watched ones. */
  readonly messageTypes: readonly string[];
}

export interface SagaRegistryOptions {
  /** @default the highest registered version */
  current?: number;
}

export function createSagaRegistry<D>(
  definitions: readonly SagaDefinition<D>[],
  options: SagaRegistryOptions = {},
): SagaRegistry<D> {
  const first = definitions[0];
  if (first === undefined) {
    throw InvalidOptionsError.format('definitions', 'must hold at least one saga definition (got none)');
  }
  const byVersion = new Map<number, SagaDefinition<D>>();
  for (const definition of definitions) {
    if (definition.name !== first.name) {
      throw InvalidOptionsError.format(
        'definitions',
        `must all be versions of one saga (got ${first.name} and ${definition.name})`,
      );
    }
    if (!Number.isSafeInteger(definition.version) || definition.version < 1) {
      throw InvalidOptionsError.format(
        `saga ${definition.name}: version`,
        `must be a positive integer (got ${definition.version})`,
      );
    }
    if (byVersion.has(definition.version)) {
      throw InvalidOptionsError.format(
        `saga ${definition.name} v${definition.version}`,
        'is registered twice (each version must be registered once)',
      );
    }
    validate(definition);
    byVersion.set(definition.version, definition);
  }
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  const currentVersion = options.current ?? versions[versions.length - 1]!;
  const current = byVersion.get(currentVersion);
  if (current === undefined) {
    throw InvalidOptionsError.format(
      'current',
      `must be a registered version of saga ${first.name} (got ${currentVersion}; registered: ${versions.join(', ')})`,
    );
  }

  const types = new Set<string>();
  for (const definition of byVersion.values()) {
    for (const [, handlers] of handlerLists(definition)) {
      for (const { message } of handlers) types.add(message.type);
    }
  }

  return {
    name: first.name,
    current,
    versions,
    get: (version) => byVersion.get(version),
    messageTypes: [...types].sort(),
  };
}

function validate<D>(definition: SagaDefinition<D>): void {
  const where = `saga ${definition.name} v${definition.version}`;
  if (!/^[a-z][a-z0-9]*$/.test(definition.name)) {
    throw InvalidOptionsError.format(
      `${where}: the name`,
      `must match [a-z][a-z0-9]* (it is part of stream names; got ${JSON.stringify(definition.name)})`,
    );
  }
  if (definition.steps.length === 0) {
    throw InvalidOptionsError.format(`${where}: steps`, 'must not be empty (the saga has no steps)');
  }
  if (definition.start.length === 0) {
    throw InvalidOptionsError.format(`${where}: start`, 'must not be empty (the saga has no start message)');
  }
  for (const [label, handlers] of handlerLists(definition)) {
    const seen = new Set<string>();
    for (const { message } of handlers) {
      if (seen.has(message.type)) {
        throw InvalidOptionsError.format(
          `${where}: ${label}`,
          `must handle each message once (got ${message.type} twice)`,
        );
      }
      seen.add(message.type);
    }
  }
  const names = new Set<string>();
  for (const step of definition.steps) {
    if (names.has(step.name)) {
      throw InvalidOptionsError.format(
        `${where}: step ${step.name}`,
        'is defined twice (step names must be unique)',
      );
    }
    names.add(step.name);
    for (const [label, value] of [
      ['timeoutMs', step.timeoutMs],
      ['compensation.timeoutMs', step.compensation?.timeoutMs],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw InvalidOptionsError.format(
          `${where}: step ${step.name} ${label}`,
          `must be a positive integer (got ${value})`,
        );
      }
    }
    for (const [label, value] of [
      ['maxAttempts', step.maxAttempts],
      ['compensation.maxAttempts', step.compensation?.maxAttempts],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
        throw InvalidOptionsError.format(
          `${where}: step ${step.name} ${label}`,
          `must be an integer of at least 1 (got ${value})`,
        );
      }
    }
  }
}

/** Every list of handlers of a definition (start messages, replies, late replies, watched ones), named. */
function handlerLists<D>(
  definition: SagaDefinition<D>,
): [label: string, handlers: readonly { readonly message: MessageDefinition }[]][] {
  return [
    ['start', definition.start],
    ['on', definition.on ?? []],
    ...definition.steps.flatMap((step): [string, readonly { readonly message: MessageDefinition }[]][] => [
      [`step ${step.name} replies`, step.replies],
      [`step ${step.name} compensation.replies`, step.compensation?.replies ?? []],
      [`step ${step.name} compensation.late`, step.compensation?.late ?? []],
    ]),
  ];
}

/**
 * The definition that decides a saga: the version it started on, or the current one for a saga that
 * has not started. Throws when the saga's version is no longer registered (a deployment removed a
 * version that still had sagas in flight): retrying cannot fix that.
 */
export function resolveDefinition<D>(
  registry: SagaRegistry<D>,
  state: { readonly sagaId: string; readonly version: number } | undefined,
): SagaDefinition<D> {
  if (state === undefined) return registry.current;
  const definition = registry.get(state.version);
  if (definition === undefined) {
    throw new TerminalError(
      `saga ${registry.name} ${state.sagaId} runs on version ${state.version}, which is not registered (registered: ${registry.versions.join(', ')})`,
    );
  }
  return definition;
}
