import { TerminalError } from '../../kernel/errors.ts';
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
  if (first === undefined) throw new Error('a saga registry needs at least one definition');
  const byVersion = new Map<number, SagaDefinition<D>>();
  for (const definition of definitions) {
    if (definition.name !== first.name) {
      throw new Error(`a saga registry holds one definition: ${first.name}, not ${definition.name}`);
    }
    if (!Number.isSafeInteger(definition.version) || definition.version < 1) {
      throw new Error(`saga ${definition.name}: version must be a positive integer`);
    }
    if (byVersion.has(definition.version)) {
      throw new Error(`saga ${definition.name} v${definition.version} is registered twice`);
    }
    validate(definition);
    byVersion.set(definition.version, definition);
  }
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  const currentVersion = options.current ?? versions[versions.length - 1]!;
  const current = byVersion.get(currentVersion);
  if (current === undefined) throw new Error(`saga ${first.name} has no version ${currentVersion}`);

  const types = new Set<string>();
  for (const definition of byVersion.values()) {
    for (const type of Object.keys(definition.start)) types.add(type);
    for (const type of Object.keys(definition.on ?? {})) types.add(type);
    for (const step of definition.steps) {
      for (const type of Object.keys(step.replies)) types.add(type);
      for (const type of Object.keys(step.compensation?.replies ?? {})) types.add(type);
      for (const type of Object.keys(step.compensation?.late ?? {})) types.add(type);
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
    throw new Error(`${where}: the name must match [a-z][a-z0-9]* (it is part of stream names)`);
  }
  if (definition.steps.length === 0) throw new Error(`${where} has no steps`);
  if (Object.keys(definition.start).length === 0) throw new Error(`${where} has no start message`);
  const names = new Set<string>();
  for (const step of definition.steps) {
    if (names.has(step.name)) throw new Error(`${where}: step ${step.name} is defined twice`);
    names.add(step.name);
    for (const [label, value] of [
      ['timeoutMs', step.timeoutMs],
      ['compensation.timeoutMs', step.compensation?.timeoutMs],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw new Error(`${where}: step ${step.name} ${label} must be a positive integer`);
      }
    }
    for (const [label, value] of [
      ['maxAttempts', step.maxAttempts],
      ['compensation.maxAttempts', step.compensation?.maxAttempts],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
        throw new Error(`${where}: step ${step.name} ${label} must be at least 1`);
      }
    }
  }
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
