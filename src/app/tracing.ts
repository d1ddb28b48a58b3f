import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Role } from '../kernel/roles.ts';

export interface TracingOptions {
  /** `service.version`. */
  version: string;
  /** `orderflow.roles` of the resource: what this process runs. */
  roles: readonly Role[];
  /** Where the SDK's own warnings go (a failing export, a full queue). */
  logger: { warn(object: Record<string, unknown>, message: string): void };
}

/** This app's hold on the process's tracer provider. */
export interface Tracing {
  /** True when spans are exported (an OTLP endpoint is set). */
  readonly exporting: boolean;
  /** Lets go: the last app to stop flushes the spans left and shuts the provider down. */
  stop(): Promise<void>;
}

/** The service name in every exported span's resource (OTEL_SERVICE_NAME overrides it). */
export const SERVICE_NAME = 'orderflow';

interface SharedProvider {
  /** None without an endpoint: the API's no-op spans carry the propagated trace. */
  provider: NodeTracerProvider | undefined;
  exporting: boolean;
  holders: number;
  logger: TracingOptions['logger'];
}

// One global provider per process: several apps in one process (tests) share the first one's.
let shared: SharedProvider | undefined;

/**
 * Sets up OpenTelemetry once per process. With `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set: the SDK, spans sampled as `OTEL_TRACES_SAMPLER` says
 * (parent-based, always on, by default) and exported over OTLP/HTTP JSON in batches, and an active
 * context that follows async calls (AsyncLocalStorage). Without it: only the W3C propagator, so
 * that the caller's and the messages' trace ids still travel on and reach the log lines.
 */
export function startTracing(options: TracingOptions): Tracing {
  shared ??= registerProvider(options);
  const current = shared;
  current.holders++;
  let stopped: Promise<void> | undefined;
  return {
    exporting: current.exporting,
    stop() {
      stopped ??= release(current);
      return stopped;
    },
  };
}

async function release(current: SharedProvider): Promise<void> {
  current.holders--;
  // A collector that is down loses these spans; it must not fail the app's shutdown.
  const lost = (error: unknown): void =>
    current.logger.warn({ component: 'opentelemetry', err: error }, 'could not export the last spans');
  if (current.holders > 0) {
    await current.provider?.forceFlush().catch(lost);
    return;
  }
  // Unregistered before the flush awaits, so that an app starting meanwhile registers its own.
  if (shared === current) shared = undefined;
  trace.disable();
  context.disable();
  propagation.disable();
  await current.provider?.shutdown().catch(lost);
  diag.disable();
}

function registerProvider(options: TracingOptions): SharedProvider {
  // The SDK reads the other OTEL_* variables (headers, timeout, sampler, batching) itself.
  const env = process.env;
  const exporting =
    hasValue(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) || hasValue(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (!exporting) {
    // The cheapest correct setup, as measured: no SDK and no active context. The
    // API's no-op spans carry their parent's ids, so the trace id of the request (or of the first
    // message) travels with every message and into every log line that hands its context on.
    // AsyncLocalStorage alone makes every promise about 3x dearer on Node 20 (+8% CPU in the
    // flash-sale benchmark).
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    return { provider: undefined, exporting, holders: 0, logger: options.logger };
  }
  const provider = new NodeTracerProvider({
    resource: defaultResource()
      .merge(
        resourceFromAttributes({
          [ATTR_SERVICE_NAME]: SERVICE_NAME,
          [ATTR_SERVICE_VERSION]: options.version,
          'orderflow.roles': [...options.roles],
        }),
      )
      // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
      .merge(detectResources({ detectors: [envDetector] })),
    // OTEL_BSP_* tune the batches; OTEL_EXPORTER_OTLP_* the endpoint, headers and timeout.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // The AsyncLocalStorage context manager and the W3C propagators.
  provider.register();
  diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);
  return { provider, exporting, holders: 0, logger: options.logger };
}

function hasValue(text: string | undefined): boolean {
  return text !== undefined && text.trim() !== '';
}

function diagLogger(logger: TracingOptions['logger']): DiagLogger {
  const warn = (message: string, ...args: unknown[]): void =>
    logger.warn({ component: 'opentelemetry', details: args.map(String) }, message);
  const ignore = (): void => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}
