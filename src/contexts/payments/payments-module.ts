import type { ContextModule, ModuleDependencies } from '../../messaging/index.ts';
import type { FraudRulesConfig } from './domain/fraud-rules.ts';
import { paymentsHandlers } from './handlers.ts';
import { PAYMENT_MESSAGES } from './messages.ts';
import { GatewayUnavailableError, type PaymentGateway } from './payment-gateway.ts';

/** A gateway connection this module opens in `start` and closes in `stop`. */
export interface OpenedPaymentGateway extends PaymentGateway {
  close(): Promise<void>;
}

export interface PaymentsModuleOptions {
  /** ORDERFLOW_FRAUD_* */
  fraud: FraudRulesConfig;
  /** Opens the payment provider (in this product, the built-in simulator of src/simulators/). */
  openGateway: () => OpenedPaymentGateway;
}

/**
 * The payments context: fraud scoring and the payment gateway. Processes with the `payments` role
 * open the gateway in `start` and close it in `stop`, after the consumers have drained.
 */
export function createPaymentsModule(
  deps: ModuleDependencies,
  options: PaymentsModuleOptions,
): ContextModule {
  let gateway: OpenedPaymentGateway | undefined;
  const currentGateway = (): PaymentGateway => {
    if (gateway === undefined) throw new GatewayUnavailableError('the payment gateway is not open');
    return gateway;
  };
  return {
    name: 'payments',
    role: 'payments',
    messages: PAYMENT_MESSAGES,
    handlerGroups: [paymentsHandlers({ store: deps.store, gateway: currentGateway, fraud: options.fraud })],
    async start() {
      gateway ??= options.openGateway();
    },
    async stop() {
      const current = gateway;
      gateway = undefined;
      await current?.close();
    },
  };
}
