import { Type } from '@sinclair/typebox';
import type { EventStore } from '../event-store/index.ts';
import { ValidationError } from '../kernel/errors.ts';
import { createAdminAuth, problemResponse, type HttpServer } from '../kernel/http/index.ts';
import { CARRIER_MAX_DELAY_MS } from './carrier-simulator.ts';
import {
  changeSimulatorSettings,
  SIMULATOR_FIELDS,
  type SettingsInForce,
  type SimulatorName,
  type SimulatorSettingsByName,
  type SimulatorSettingsFollower,
} from './simulator-settings.ts';

export interface SimulatorAdminRoutesOptions {
  adminKey: string;
  store: EventStore;
  /** This process's follower: what GET shows, and where a PUT applies at once. */
  follower: SimulatorSettingsFollower;
  /** ORDERFLOW_GATEWAY_TIMEOUT_MS: the gateway's latency must stay below it. */
  gatewayTimeoutMs: number;
}

const FailureRate = Type.Number({
  minimum: 0,
  maximum: 1,
  description: 'Fraction (0–1) of calls that fail as if the outside party were down',
});
const ChangedAt = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description: 'When an operator last changed the settings; null while the configuration applies',
});

const GatewayView = Type.Object(
  {
    simulator: Type.Literal('payment-gateway'),
    failureRate: FailureRate,
    latencyMs: Type.Integer({ description: 'Delay of every call' }),
    timeoutMs: Type.Integer({ description: 'ORDERFLOW_GATEWAY_TIMEOUT_MS: latencyMs stays below it' }),
    changedAt: ChangedAt,
  },
  { description: 'The payment gateway simulator settings in force in every process' },
);
const CarrierView = Type.Object(
  {
    simulator: Type.Literal('carrier'),
    failureRate: FailureRate,
    delayMs: Type.Integer({ description: 'Delay before dispatch and before delivery' }),
    changedAt: ChangedAt,
  },
  { description: 'The carrier simulator settings in force in every process' },
);

const Unauthorized = {
  401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
  403: problemResponse('Wrong admin key'),
};

/**
 * `GET /v1/admin/simulators` and `PUT /v1/admin/simulators/{payment-gateway|carrier}` (DESIGN.md §9):
 * the simulators' settings at run time, behind the admin key. A change is stored (every process
 * applies it within about a second) and recorded as an operator action; a refused one changes nothing.
 */
export function registerSimulatorAdminRoutes(app: HttpServer, options: SimulatorAdminRoutesOptions): void {
  const { store, follower, gatewayTimeoutMs } = options;
  const authenticate = createAdminAuth(options.adminKey);

  const gatewayView = ({ settings, changedAt }: SettingsInForce<'payment-gateway'>) => ({
    simulator: 'payment-gateway' as const,
    ...settings,
    timeoutMs: gatewayTimeoutMs,
    changedAt,
  });
  const carrierView = ({ settings, changedAt }: SettingsInForce<'carrier'>) => ({
    simulator: 'carrier' as const,
    ...settings,
    changedAt,
  });

  app.get(
    '/v1/admin/simulators',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'The settings the payment gateway and carrier simulators run with',
        security: [{ adminKey: [] }],
        response: {
          200: Type.Object({
            items: Type.Array(Type.Union([GatewayView, CarrierView]), {
              description: 'The payment gateway, then the carrier',
            }),
          }),
          ...Unauthorized,
        },
      },
    },
    async () => ({
      items: [gatewayView(follower.current('payment-gateway')), carrierView(follower.current('carrier'))],
    }),
  );

  app.put(
    '/v1/admin/simulators/payment-gateway',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Changes the payment gateway simulator while it runs (every process within 2 s)',
        security: [{ adminKey: [] }],
        body: Type.Object(
          {
            failureRate: Type.Optional(FailureRate),
            latencyMs: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: gatewayTimeoutMs - 1,
                description: `Delay of every call, below the gateway timeout (${gatewayTimeoutMs} ms)`,
              }),
            ),
          },
          { additionalProperties: false, description: 'The settings to change (at least one)' },
        ),
        response: { 200: GatewayView, ...Unauthorized, 422: problemResponse('Invalid settings') },
      },
    },
    async (request) => gatewayView(await change('payment-gateway', request.body)),
  );

  app.put(
    '/v1/admin/simulators/carrier',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Changes the carrier simulator while it runs (every process within 2 s)',
        description: 'A new delay applies to the dispatches and deliveries scheduled from then on.',
        security: [{ adminKey: [] }],
        body: Type.Object(
          {
            failureRate: Type.Optional(FailureRate),
            delayMs: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: CARRIER_MAX_DELAY_MS,
                description: 'Delay before dispatch and before delivery',
              }),
            ),
          },
          { additionalProperties: false, description: 'The settings to change (at least one)' },
        ),
        response: { 200: CarrierView, ...Unauthorized, 422: problemResponse('Invalid settings') },
      },
    },
    async (request) => carrierView(await change('carrier', request.body)),
  );

  async function change<N extends SimulatorName>(
    name: N,
    body: Partial<SimulatorSettingsByName[N]>,
  ): Promise<SettingsInForce<N>> {
    // Not a schema rule (minProperties): ajv's wording for it is not one to show.
    if (Object.keys(body).length === 0) {
      const detail = `must set at least one of ${SIMULATOR_FIELDS[name].join(', ')}`;
      throw new ValidationError(`the request body is invalid: / ${detail}`, [{ pointer: '/', detail }]);
    }
    return changeSimulatorSettings(store, follower, name, body);
  }
}
