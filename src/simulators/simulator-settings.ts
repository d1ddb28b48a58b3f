import { isConcurrencyError, type EventStore } from '../event-store/index.ts';
import { ensureError } from '../kernel/errors.ts';
import { operatorActionAppend } from '../messaging/index.ts';
import type { CarrierSettings } from './carrier-simulator.ts';
import type { GatewaySettings } from './payment-gateway-simulator.ts';

/**
 * Simulator settings changed at run time (`PUT /v1/admin/simulators/…`). They are events in the
 * store, one stream per simulator, so every process of a deployment, whatever its roles, follows
 * them: a follower reads the streams at start (a change made before a restart stays in force; the
 * configuration gives the values until the first change), then polls their versions and applies each
 * change to the live simulators of its process.
 */

export interface SimulatorSettingsByName {
  'payment-gateway': GatewaySettings;
  carrier: CarrierSettings;
}
export type SimulatorName = keyof SimulatorSettingsByName;

/** Each simulator's settings, in the order they are shown. */
export const SIMULATOR_FIELDS: {
  readonly [N in SimulatorName]: readonly (keyof SimulatorSettingsByName[N])[];
} = {
  'payment-gateway': ['failureRate', 'latencyMs'],
  carrier: ['failureRate', 'delayMs'],
};

export const SIMULATOR_SETTINGS_CHANGED = 'SimulatorSettingsChanged';

export function simulatorSettingsStreamId(name: SimulatorName): string {
  return `simulator-settings-${name}`;
}

export interface SimulatorSettingsChangedData<N extends SimulatorName = SimulatorName> {
  simulator: N;
  /** Every setting in force after the change. */
  settings: SimulatorSettingsByName[N];
  /** Every setting in force before it. */
  previous: SimulatorSettingsByName[N];
}

export interface SettingsInForce<N extends SimulatorName = SimulatorName> {
  settings: SimulatorSettingsByName[N];
  /** When an operator last changed them (ISO UTC); null while the configuration's values apply. */
  changedAt: string | null;
  /** Version of the settings stream they come from (-1: never changed). */
  version: number;
}

export interface SimulatorSettingsFollowerOptions {
  store: EventStore;
  /** The configuration's values, in force until an operator changes them. */
  initial: SimulatorSettingsByName;
  /**
   * How often the settings streams' versions are read. Commits this process hears of
   * (`onEventsCommitted`) wake it earlier.
   * @default 500
   */
  pollIntervalMs?: number;
  /** Hears of failed reads and listeners; reads are retried at the next poll. @default process.emitWarning */
  onError?: (error: Error) => void;
}

export interface SimulatorSettingsFollower {
  current<N extends SimulatorName>(name: N): SettingsInForce<N>;
  /** Hears each change of a simulator's settings, made by this process or any other. */
  onChange<N extends SimulatorName>(
    name: N,
    listener: (settings: SimulatorSettingsByName[N]) => void,
  ): () => void;
  /** Reads the streams now; resolves once what was stored before the call is applied. */
  refresh(): Promise<void>;
  /** Applies what is stored, then follows. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const SIMULATOR_NAMES = Object.keys(SIMULATOR_FIELDS) as SimulatorName[];
const STREAM_PREFIX = 'simulator-settings-';

type Listener = (settings: never) => void;

export function createSimulatorSettingsFollower(
  options: SimulatorSettingsFollowerOptions,
): SimulatorSettingsFollower {
  const { store, initial } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  const state = new Map<SimulatorName, SettingsInForce>(
    SIMULATOR_NAMES.map((name) => [name, { settings: { ...initial[name] }, changedAt: null, version: -1 }]),
  );
  const listeners = new Map<SimulatorName, Set<Listener>>(SIMULATOR_NAMES.map((name) => [name, new Set()]));
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let tail: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;

  async function readOne(name: SimulatorName): Promise<void> {
    const known = state.get(name)!;
    const version = await store.streamVersion(simulatorSettingsStreamId(name));
    if (version <= known.version) return;
    const [event] = await store.readStream(simulatorSettingsStreamId(name), {
      fromVersion: version,
      maxCount: 1,
    });
    if (event === undefined) return;
    const data = event.data as SimulatorSettingsChangedData;
    const settings = { ...initial[name], ...data.settings };
    state.set(name, { settings, changedAt: event.time, version: event.version });
    for (const listener of listeners.get(name)!) {
      try {
        (listener as (settings: SimulatorSettingsByName[typeof name]) => void)({ ...settings });
      } catch (error) {
        onError(ensureError(error));
      }
    }
  }

  function refresh(): Promise<void> {
    // A read not started yet will see everything committed so far: callers share it.
    if (queued !== undefined) return queued;
    const next = tail.then(async () => {
      queued = undefined;
      for (const name of SIMULATOR_NAMES) await readOne(name);
    });
    queued = next;
    tail = next.catch(() => undefined);
    return next;
  }

  let failures = 0;
  const refreshInBackground = () => {
    refresh().then(
      () => (failures = 0),
      (error: unknown) => {
        // Said when it starts and now and then while it lasts (the store is away), not every poll.
        if (failures++ % 20 === 0) onError(ensureError(error));
      },
    );
  };

  return {
    current<N extends SimulatorName>(name: N): SettingsInForce<N> {
      const known = state.get(name)! as SettingsInForce<N>;
      return { ...known, settings: { ...known.settings } };
    },

    onChange(name, listener) {
      const set = listeners.get(name)!;
      set.add(listener);
      return () => set.delete(listener);
    },

    refresh,

    async start() {
      if (timer !== undefined) return;
      await refresh();
      timer = setInterval(refreshInBackground, pollIntervalMs);
      timer.unref();
      unsubscribe = store.onEventsCommitted((events) => {
        if (events.some((event) => event.streamId.startsWith(STREAM_PREFIX))) refreshInBackground();
      });
    },

    async stop() {
      clearInterval(timer);
      timer = undefined;
      unsubscribe?.();
      unsubscribe = undefined;
      await tail;
    },
  };
}

/** Attempts of a change that keeps losing the race to other changes of the same simulator. */
const CHANGE_ATTEMPTS = 5;

/**
 * Records a change of a simulator's settings (the fields given; the others stay) with the operator
 * action that says so, in one commit, then applies it in this process. Other processes apply it
 * when their followers read it. Answers the settings now in force.
 */
export async function changeSimulatorSettings<N extends SimulatorName>(
  store: EventStore,
  follower: SimulatorSettingsFollower,
  name: N,
  change: Partial<SimulatorSettingsByName[N]>,
): Promise<SettingsInForce<N>> {
  for (let attempt = 1; ; attempt++) {
    await follower.refresh();
    const { settings: previous, version } = follower.current(name);
    const settings = { ...previous, ...change };
    const data: SimulatorSettingsChangedData<N> = { simulator: name, settings, previous };
    const said = SIMULATOR_FIELDS[name].map(
      (field) => `${String(field)} ${String(previous[field])} → ${String(settings[field])}`,
    );
    try {
      await store.commit({
        appends: [
          {
            streamId: simulatorSettingsStreamId(name),
            events: [{ type: SIMULATOR_SETTINGS_CHANGED, data }],
            expectedVersion: version === -1 ? 'no_stream' : version,
          },
          operatorActionAppend({
            kind: 'simulator_changed',
            text: `${name} simulator: ${said.join(', ')}`,
            details: { ...data },
          }),
        ],
      });
    } catch (error) {
      // Another change of this simulator committed first: start again from it.
      if (isConcurrencyError(error) && attempt < CHANGE_ATTEMPTS) continue;
      throw error;
    }
    await follower.refresh();
    return follower.current(name);
  }
}
