import type { Carrier } from '../contexts/fulfillment/index.ts';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';

export interface SimulatedCarrierOptions {
  /** Delay before dispatch and before delivery (ORDERFLOW_CARRIER_DELAY_MS; its default is the configuration's). */
  delayMs: number;
  /**
   * Fraction (0–1) of pickups refused as if the carrier's API were down (ORDERFLOW_CARRIER_FAILURE_RATE).
   * @default 0
   */
  failureRate?: number;
  /** Random numbers in [0, 1) for the failure rate. @default Math.random */
  random?: () => number;
}

/** What an operator may change while the simulator runs (`PUT /v1/admin/simulators/carrier`). */
export interface CarrierSettings {
  delayMs: number;
  failureRate: number;
}

export interface SimulatedCarrier extends Carrier {
  settings(): CarrierSettings;
  /** Changes settings in place: later pickups, and the timers scheduled from now on, use them. */
  configure(settings: Partial<CarrierSettings>): void;
}

/** Most a delay may be: one day, like ORDERFLOW_CARRIER_DELAY_MS. */
export const CARRIER_MAX_DELAY_MS = 86_400_000;

/**
 * The built-in carrier: the product's stand-in for a carrier's sandbox. It answers with a fixed
 * delay and refuses a configurable fraction of pickups, so that retries and slow shipping can be
 * shown and tested.
 */
export function createSimulatedCarrier(options: SimulatedCarrierOptions): SimulatedCarrier {
  let current = resolveCarrierSettings({ delayMs: options.delayMs, failureRate: options.failureRate ?? 0 });
  const random = options.random ?? Math.random;
  return {
    delayMs: () => current.delayMs,
    pickUp() {
      if (current.failureRate > 0 && random() < current.failureRate) {
        throw new AppError(ERROR_CODES.CARRIER_UNAVAILABLE, 'the carrier refused the pickup; retrying later');
      }
    },
    settings: () => ({ ...current }),
    configure(settings) {
      current = resolveCarrierSettings({ ...current, ...settings });
    },
  };
}

function resolveCarrierSettings(settings: CarrierSettings): CarrierSettings {
  const { delayMs, failureRate } = settings;
  const problems: string[] = [];
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > CARRIER_MAX_DELAY_MS) {
    problems.push(`delayMs must be an integer from 0 to ${CARRIER_MAX_DELAY_MS} (got ${String(delayMs)})`);
  }
  if (!(failureRate >= 0 && failureRate <= 1)) {
    problems.push(`failureRate must be from 0 to 1 (got ${String(failureRate)})`);
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems, { subject: 'carrier simulator settings' });
  return { delayMs, failureRate };
}
