// The payments context's public surface: its messages, its module and the gateway port (which the
// simulator in src/simulators/ implements).
export {
  PAYMENT_MESSAGES,
  AssessFraud,
  FraudAssessed,
  AuthorizePayment,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentTimedOut,
  CapturePayment,
  PaymentCaptured,
  VoidPayment,
  PaymentVoided,
  RefundPayment,
  PaymentRefunded,
  type AssessFraudData,
  type FraudAssessedData,
  type AuthorizePaymentData,
  type PaymentAuthorizedData,
  type PaymentDeclinedData,
  type PaymentTimedOutData,
  type CapturePaymentData,
  type PaymentCapturedData,
  type VoidPaymentData,
  type PaymentVoidedData,
  type RefundPaymentData,
  type PaymentRefundedData,
} from './messages.ts';
export { paymentStreamId, PAYMENT_EVENT_TYPES } from './domain/payment.ts';
export { customerVelocityStreamId, tokenVelocityStreamId } from './domain/velocity.ts';
export type { FraudRulesConfig, FraudRuleHit, FraudRuleName } from './domain/fraud-rules.ts';
export {
  GatewayRequestRefusedError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  gatewayKeys,
  isGatewayTimeoutError,
  paymentRefOfKey,
  type AuthorizeRequest,
  type AuthorizeResult,
  type CaptureRequest,
  type CaptureResult,
  type PaymentGateway,
  type RefundRequest,
  type RefundResult,
  type VoidRequest,
} from './payment-gateway.ts';
export {
  paymentsHandlers,
  PAYMENTS_GROUP,
  PAYMENTS_RETRY,
  type PaymentsHandlersOptions,
} from './handlers.ts';
export {
  createPaymentsModule,
  type OpenedPaymentGateway,
  type PaymentsModuleOptions,
} from './payments-module.ts';
export { tokenFamily } from './domain/payment-tokens.ts';
