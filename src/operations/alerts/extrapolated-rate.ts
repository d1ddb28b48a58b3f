import type { Point } from './sample-history.ts';

/**
 * `increase()` and `rate()` of one series, as Prometheus 2.42 computes them
 * (promql/functions.go, extrapolatedRate): the counter's rise across the window, counting a drop
 * as a reset, extrapolated towards the window's edges — all the way when the first or last sample
 * is within 1.1 average intervals of the edge, half an interval otherwise, and never below the
 * counter's extrapolated zero point. `rate` is the increase divided by the window in seconds.
 * Undefined with fewer than two samples (the series is left out of the result).
 * The operations are in Prometheus's order, so that the values agree to the last bit.
 */
export function extrapolatedRate(
  points: readonly Point[],
  rangeStartMs: number,
  rangeEndMs: number,
  isRate: boolean,
): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0]!;
  const last = points[points.length - 1]!;
  let resultValue = last.value - first.value;
  let prevValue = first.value;
  for (const point of points.slice(1)) {
    if (point.value < prevValue) resultValue += prevValue;
    prevValue = point.value;
  }

  let durationToStart = (first.at - rangeStartMs) / 1000;
  const durationToEnd = (rangeEndMs - last.at) / 1000;
  const sampledInterval = (last.at - first.at) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (points.length - 1);

  if (resultValue > 0 && first.value >= 0) {
    // A counter cannot go below zero: do not extrapolate past the point where it would.
    const durationToZero = sampledInterval * (first.value / resultValue);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }

  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval +=
    durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval +=
    durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;

  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= (rangeEndMs - rangeStartMs) / 1000;
  return resultValue * factor;
}
