import path from 'node:path';
import type { AppConfig } from '../config/load-config.ts';
import type { Catalog, DemoMarketplace } from '../contexts/catalog/index.ts';
import { createFulfillmentModule } from '../contexts/fulfillment/index.ts';
import { createInventoryModule } from '../contexts/inventory/index.ts';
import {
  createNotificationsModule,
  MAIL_DIR_NAME,
  type NotificationsModuleOptions,
} from '../contexts/notifications/index.ts';
import { createPaymentsModule } from '../contexts/payments/index.ts';
import type { ContextModule, ModuleDependencies } from '../messaging/index.ts';
import { createSagaModule } from '../sagas/index.ts';
import { createSimulatedCarrier, type SimulatedCarrierOptions } from '../simulators/carrier-simulator.ts';
import { createSimulatedGateway, gatewaySimulatorFile } from '../simulators/payment-gateway-simulator.ts';
import type { SimulatorSettingsByName, SimulatorSettingsFollower } from '../simulators/simulator-settings.ts';

/** What the composition root hands every module: the ports, plus the catalog seeded at start. */
export interface ContextModulesDependencies extends ModuleDependencies {
  readonly catalog: Catalog;
  readonly marketplace: DemoMarketplace;
}

/** The simulators' settings in the configuration: in force until an operator changes them. */
export function initialSimulatorSettings(config: AppConfig): SimulatorSettingsByName {
  return {
    'payment-gateway': {
      failureRate: config.paymentGateway.failureRate,
      latencyMs: config.paymentGateway.latencyMs,
    },
    carrier: { failureRate: config.carrierFailureRate, delayMs: config.carrierDelayMs },
  };
}

/** The fulfillment module with the carrier simulator configured by ORDERFLOW_CARRIER_*. */
export function fulfillmentModule(
  config: AppConfig,
  deps: ModuleDependencies,
  seams: Pick<SimulatedCarrierOptions, 'random'> = {},
  simulators?: SimulatorSettingsFollower,
): ContextModule {
  const carrier = createSimulatedCarrier({
    delayMs: config.carrierDelayMs,
    failureRate: config.carrierFailureRate,
    ...seams,
  });
  simulators?.onChange('carrier', (settings) => carrier.configure(settings));
  return createFulfillmentModule(deps, { carrier });
}

/** The notifications module with its mail and webhook settings from the configuration. */
export function notificationsModule(
  config: AppConfig,
  deps: ContextModulesDependencies,
  seams: Partial<NotificationsModuleOptions> = {},
): ContextModule {
  return createNotificationsModule(deps, {
    smtpUrl: config.notifications.smtpUrl,
    mailDir: path.join(config.dataDir, MAIL_DIR_NAME),
    vendorWebhookUrl: config.notifications.vendorWebhookUrl,
    webhookTimeoutMs: config.notifications.webhookTimeoutMs,
    ...seams,
  });
}

/**
 * Every bounded context of the order flow, in the order their modules start, each given its part
 * of the configuration. Adding a context is one entry here.
 */
export function createContextModules(
  config: AppConfig,
  deps: ContextModulesDependencies,
  simulators: SimulatorSettingsFollower,
): ContextModule[] {
  return [
    createInventoryModule(deps),
    fulfillmentModule(config, deps, {}, simulators),
    createPaymentsModule(deps, {
      fraud: config.fraud,
      openGateway: () => {
        const gateway = createSimulatedGateway({
          file: gatewaySimulatorFile(config.dataDir),
          latencyMs: config.paymentGateway.latencyMs,
          failureRate: config.paymentGateway.failureRate,
          timeoutMs: config.paymentGateway.timeoutMs,
          synchronous: config.sqliteSynchronous,
        });
        // Opened at the module's start, after the follower read what operators changed; then follows.
        const apply = (settings: SimulatorSettingsByName['payment-gateway']) => {
          try {
            gateway.configure(settings);
          } catch (error) {
            // A stored latency no longer below a lowered ORDERFLOW_GATEWAY_TIMEOUT_MS: keep the configured one.
            deps.logger.warn({ err: error }, 'payment gateway simulator settings not applied');
          }
        };
        apply(simulators.current('payment-gateway').settings);
        const stopFollowing = simulators.onChange('payment-gateway', apply);
        return {
          ...gateway,
          close: async () => {
            stopFollowing();
            await gateway.close();
          },
        };
      },
    }),
    createSagaModule(deps, config.saga),
    notificationsModule(config, deps),
  ];
}
