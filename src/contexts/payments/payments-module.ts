import path from 'node:path';
import type { ContextModule, ContextModuleFactory } from '../../app/context-module.ts';
import { PAYMENT_MESSAGES } from './domain/messages.ts';
import { createSimulatedGateway, type SimulatedGateway } from './gateway-simulator.ts';
import { paymentsHandlers } from './handlers.ts';
import { GatewayUnavailableError, type PaymentGateway } from './payment-gateway.ts';

/** Where the gateway simulator keeps its ledger, relative to the data dir. */
export const GATEWAY_SIMULATOR_FILE = path.join('simulators', 'payment-gateway.db');

export function gatewaySimulatorFile(dataDir: string): string {
  return path.join(dataDir, GATEWAY_SIMULATOR_FILE);
}

/**
 * The payments context: fraud scoring and the payment gateway (the built-in simulator, configured
 * by ORDERFLOW_GATEWAY_*). Processes with the `payments` role open the simulator's ledger in
 * `start` and close it in `stop`, after the consumers have drained.
 */
export const createPaymentsModule: ContextModuleFactory = (deps): ContextModule => {
  const { config } = deps;
  let gateway: SimulatedGateway | undefined;
  const currentGateway = (): PaymentGateway => {
    if (gateway === undefined) throw new GatewayUnavailableError('the payment gateway is not open');
    return gateway;
  };
  return {
    name: 'payments',
    role: 'payments',
    messages: PAYMENT_MESSAGES,
    handlerGroups: [paymentsHandlers({ store: deps.store, gateway: currentGateway, fraud: config.fraud })],
    async start() {
      gateway ??= createSimulatedGateway({
        file: gatewaySimulatorFile(config.dataDir),
        latencyMs: config.paymentGateway.latencyMs,
        failureRate: config.paymentGateway.failureRate,
        timeoutMs: config.paymentGateway.timeoutMs,
        synchronous: config.sqliteSynchronous,
      });
    },
    async stop() {
      const current = gateway;
      gateway = undefined;
      await current?.close();
    },
  };
};
