import type { Carrier } from '../contexts/fulfillment/index.ts';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';

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

/**
 * The built-in carrier: the product's stand-in for a carrier's sandbox. It answers with a fixed
 * delay and refuses a configurable fraction of pickups, so that retries and slow shipping can be
 * shown and tested.
 */
export function createSimulatedCarrier(options: SimulatedCarrierOptions): Carrier {
  const { delayMs } = options;
  const failureRate = options.failureRate ?? 0;
  const random = options.random ?? Math.random;
  return {
    delayMs: () => delayMs,
    pickUp() {
      if (failureRate > 0 && random() < failureRate) {
        throw new AppError(ERROR_CODES.CARRIER_UNAVAILABLE, 'the carrier refused the pickup; retrying later');
      }
    },
  };
}
