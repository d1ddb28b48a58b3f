import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import {
  tokenFamily,
  GatewayRequestRefusedError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  paymentRefOfKey,
  type AuthorizeRequest,
  type AuthorizeResult,
  type CaptureRequest,
  type CaptureResult,
  type PaymentGateway,
  type RefundRequest,
  type RefundResult,
  type VoidRequest,
} from '../contexts/payments/index.ts';
import { InvalidOptionsError } from '../kernel/errors.ts';

/** Where the simulator keeps its ledger, relative to the data dir. */
export const GATEWAY_SIMULATOR_FILE = path.join('simulators', 'payment-gateway.db');

export function gatewaySimulatorFile(dataDir: string): string {
  return path.join(dataDir, GATEWAY_SIMULATOR_FILE);
}

/**
 * The built-in payment gateway simulator: the product's stand-in for the outside payment provider,
 * like a provider's test mode (DESIGN.md §4). It keeps its own ledger in its own SQLite file (not
 * Orderflow's database: it plays the outside party), recording every operation under its
 * idempotency key, so that its answers and its counts survive a crash of Orderflow.
 *
 * Test tokens: `tok_visa` approves; `tok_declined` declines (`card_declined`); `tok_risky` approves
 * (fraud is caught by the fraud rules before); `tok_timeout` times out on the first authorization
 * of a payment (recorded) and approves the next one; a dot suffix (`tok_visa.4242`) is a distinct
 * card with its family's behaviour; unknown tokens decline with `invalid_token`.
 *
 * The ledger is written through the SQLite database module (src/adapters/sqlite/sqlite-database.ts),
 * group-committed like Orderflow's own store: the calls decided in one tick share one transaction
 * (`BEGIN IMMEDIATE`) and one fsync, each in its own savepoint. Each decision reads and writes inside
 * that transaction, so several processes may share one ledger file and a key is still decided once.
 */
export interface SimulatedGatewayOptions {
  /** The ledger's SQLite file (created with its directory if missing). */
  file: string;
  /**
   * Delay of every call, before it is decided. Must be below `timeoutMs`.
   * @default 0
   */
  latencyMs?: number;
  /**
   * Fraction (0–1) of calls that fail with GatewayUnavailableError before anything is recorded.
   * @default 0
   */
  failureRate?: number;
  /**
   * How long a call waits before it counts as timed out (`tok_timeout`'s first authorization).
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * Source of randomness for `failureRate`, values in [0, 1).
   * @default Math.random
   */
  random?: () => number;
  /**
   * SQLite `synchronous` pragma of the ledger. FULL keeps what the provider answered through a power loss.
   * @default 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** Clock of the ledger's times. @default () => new Date() */
  now?: () => Date;
}

export type GatewayOperationKind = 'authorize' | 'capture' | 'void' | 'refund';
export type GatewayOperationOutcome =
  'approved' | 'declined' | 'timed_out' | 'captured' | 'voided' | 'refunded';

/** One row of the simulator's ledger. */
export interface GatewayOperation {
  /** Order in which the ledger recorded the operations. */
  sequence: number;
  idempotencyKey: string;
  /** The payment the key belongs to (the key without `:<operation>[:<n>]`). */
  paymentRef: string;
  kind: GatewayOperationKind;
  outcome: GatewayOperationOutcome;
  /** Minor units: authorized, captured or refunded; the authorization's amount for a void. */
  amount: number;
  currency: string;
  /** The card (authorizations only). */
  token: string | null;
  /** What the operation acted on: the authorization (capture, void) or the capture (refund). */
  target: string | null;
  /** What it created: authorization, capture or refund id. */
  reference: string | null;
  declineCode: string | null;
  time: string;
}

/** Counts over the whole ledger: what moved, and whether anything moved twice. */
export interface GatewayLedgerStats {
  operations: number;
  authorizations: { approved: number; declined: number; timedOut: number };
  captures: number;
  capturedAmount: number;
  voids: number;
  refunds: number;
  refundedAmount: number;
  /** Payments captured more than once: double charges, which must stay 0. */
  paymentsCapturedMoreThanOnce: number;
}

/** What an operator may change while the simulator runs (`PUT /v1/admin/simulators/payment-gateway`). */
export interface GatewaySettings {
  latencyMs: number;
  failureRate: number;
}

export interface SimulatedGateway extends PaymentGateway {
  readonly file: string;
  /** The settings in force, and the timeout they must stay below. */
  settings(): GatewaySettings & { timeoutMs: number };
  /** Changes settings in place, for the calls that start from now on. Validated like the options. */
  configure(settings: Partial<GatewaySettings>): void;
  /** Read-only counts over the ledger (tests, the crash test, the benchmark). */
  ledgerStats(): GatewayLedgerStats;
  /** The operations of one payment (keys prefixed `<paymentRef>:`), in ledger order. */
  operations(paymentRef: string): GatewayOperation[];
}

interface ResolvedOptions {
  latencyMs: number;
  failureRate: number;
  timeoutMs: number;
  random: () => number;
  synchronous: 'FULL' | 'NORMAL';
  now: () => Date;
}

export function resolveSimulatedGatewayOptions(options: SimulatedGatewayOptions): ResolvedOptions {
  const latencyMs = options.latencyMs ?? 0;
  const failureRate = options.failureRate ?? 0;
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw InvalidOptionsError.format('latencyMs', `must be 0 or more (got ${latencyMs})`);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw InvalidOptionsError.format('timeoutMs', `must be more than 0 (got ${timeoutMs})`);
  }
  if (latencyMs >= timeoutMs) {
    throw InvalidOptionsError.format(
      'latencyMs',
      `must be less than timeoutMs (got ${latencyMs}, timeoutMs ${timeoutMs})`,
    );
  }
  if (!(failureRate >= 0 && failureRate <= 1)) {
    throw InvalidOptionsError.format('failureRate', `must be from 0 to 1 (got ${failureRate})`);
  }
  return {
    latencyMs,
    failureRate,
    timeoutMs,
    random: options.random ?? Math.random,
    synchronous: options.synchronous ?? 'FULL',
    now: options.now ?? (() => new Date()),
  };
}

interface OperationRow {
  seq: number;
  idempotency_key: string;
  payment_ref: string;
  kind: GatewayOperationKind;
  outcome: GatewayOperationOutcome;
  amount: number;
  currency: string;
  token: string | null;
  target: string | null;
  reference: string | null;
  decline_code: string | null;
  decline_detail: string | null;
  created_at: string;
}

type Request =
  | { kind: 'authorize'; key: string; amount: number; currency: string; token: string }
  | { kind: 'capture'; key: string; authorizationId: string; amount: number }
  | { kind: 'void'; key: string; authorizationId: string }
  | { kind: 'refund'; key: string; captureId: string; amount: number };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS operations (
  seq INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  payment_ref TEXT NOT NULL,
  kind TEXT NOT NULL,
  outcome TEXT NOT NULL,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  token TEXT,
  target TEXT,
  reference TEXT UNIQUE,
  decline_code TEXT,
  decline_detail TEXT,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS operations_payment ON operations (payment_ref, kind);
CREATE INDEX IF NOT EXISTS operations_target ON operations (target, kind);
`;

export function createSimulatedGateway(options: SimulatedGatewayOptions): SimulatedGateway {
  const resolved = resolveSimulatedGatewayOptions(options);
  const { timeoutMs, random, now } = resolved;
  let { latencyMs, failureRate } = resolved;
  const file = path.resolve(options.file);
  const database = openSqliteDatabase({ filename: file, synchronous: resolved.synchronous });
  const { db } = database;
  // Several processes may share the ledger (distributed mode): wait for the other writer.
  db.pragma('busy_timeout = 5000');
  // Run directly rather than through `migrate`: every statement is idempotent and commits on its
  // own, so processes opening a new ledger at the same time do not race to record a migration.
  db.exec(SCHEMA);

  const byKey = db.prepare<[string], OperationRow>('SELECT * FROM operations WHERE idempotency_key = ?');
  const byReference = db.prepare<[string], OperationRow>('SELECT * FROM operations WHERE reference = ?');
  const sumByTarget = db.prepare<[string, string], { total: number | null; count: number }>(
    'SELECT SUM(amount) AS total, COUNT(*) AS count FROM operations WHERE target = ? AND kind = ?',
  );
  const countAuthorizations = db.prepare<[string], { count: number }>(
    "SELECT COUNT(*) AS count FROM operations WHERE payment_ref = ? AND kind = 'authorize'",
  );
  const insert = db.prepare(
    `INSERT INTO operations (idempotency_key, payment_ref, kind, outcome, amount, currency, token, target,
       reference, decline_code, decline_detail, created_at)
     VALUES (@idempotency_key, @payment_ref, @kind, @outcome, @amount, @currency, @token, @target,
       @reference, @decline_code, @decline_detail, @created_at)`,
  );
  const byPayment = db.prepare<[string], OperationRow>(
    'SELECT * FROM operations WHERE payment_ref = ? ORDER BY seq',
  );
  let closed = false;

  /** Decides one call inside the open transaction: the recorded row, or a new one. */
  function decide(request: Request): OperationRow {
    const existing = byKey.get(request.key);
    if (existing !== undefined) {
      assertSameRequest(existing, request);
      return existing;
    }
    const base = {
      idempotency_key: request.key,
      payment_ref: paymentRefOfKey(request.key),
      kind: request.kind,
      token: null as string | null,
      target: null as string | null,
      reference: null as string | null,
      decline_code: null as string | null,
      decline_detail: null as string | null,
      created_at: now().toISOString(),
    };
    let row: Omit<OperationRow, 'seq'>;
    switch (request.kind) {
      case 'authorize': {
        const outcome = authorizationOutcome(request, base.payment_ref);
        row = {
          ...base,
          token: request.token,
          amount: request.amount,
          currency: request.currency,
          ...(outcome === 'approve'
            ? { outcome: 'approved', reference: newId('auth') }
            : outcome === 'time_out'
              ? { outcome: 'timed_out' }
              : { outcome: 'declined', decline_code: outcome.code, decline_detail: outcome.detail }),
        };
        break;
      }
      case 'capture': {
        const authorization = approvedAuthorization(request.authorizationId);
        if (sumByTarget.get(authorization.reference!, 'void')!.count > 0) {
          throw new GatewayRequestRefusedError(
            `authorization ${request.authorizationId} was voided; it cannot be captured`,
          );
        }
        const captured = sumByTarget.get(authorization.reference!, 'capture')!.total ?? 0;
        if (
          !Number.isSafeInteger(request.amount) ||
          request.amount < 0 ||
          captured + request.amount > authorization.amount
        ) {
          throw new GatewayRequestRefusedError(
            `capture of ${request.amount} exceeds what authorization ${request.authorizationId} still holds (${authorization.amount - captured})`,
          );
        }
        row = {
          ...base,
          outcome: 'captured',
          amount: request.amount,
          currency: authorization.currency,
          target: authorization.reference,
          reference: newId('cap'),
        };
        break;
      }
      case 'void': {
        const authorization = approvedAuthorization(request.authorizationId);
        if (sumByTarget.get(authorization.reference!, 'capture')!.count > 0) {
          throw new GatewayRequestRefusedError(
            `authorization ${request.authorizationId} was captured; refund it instead of voiding it`,
          );
        }
        const earlier = sumByTarget.get(authorization.reference!, 'void')!.count > 0;
        if (earlier) {
          throw new GatewayRequestRefusedError(`authorization ${request.authorizationId} was voided already`);
        }
        row = {
          ...base,
          outcome: 'voided',
          amount: authorization.amount,
          currency: authorization.currency,
          target: authorization.reference,
        };
        break;
      }
      case 'refund': {
        const capture = byReference.get(request.captureId);
        if (capture?.kind !== 'capture') {
          throw new GatewayRequestRefusedError(`there is no capture ${request.captureId}`);
        }
        const refunded = sumByTarget.get(capture.reference!, 'refund')!.total ?? 0;
        if (
          !Number.isSafeInteger(request.amount) ||
          request.amount <= 0 ||
          refunded + request.amount > capture.amount
        ) {
          throw new GatewayRequestRefusedError(
            `refund of ${request.amount} exceeds what capture ${request.captureId} has left (${capture.amount - refunded})`,
          );
        }
        row = {
          ...base,
          outcome: 'refunded',
          amount: request.amount,
          currency: capture.currency,
          target: capture.reference,
          reference: newId('ref'),
        };
        break;
      }
    }
    const info = insert.run(row);
    return { ...row, seq: Number(info.lastInsertRowid) };
  }

  /** What the test token decides: approve, decline (with code and detail) or time out. */
  function authorizationOutcome(
    request: Extract<Request, { kind: 'authorize' }>,
    paymentRef: string,
  ): 'approve' | 'time_out' | { code: string; detail: string } {
    switch (tokenFamily(request.token)) {
      case 'tok_visa':
      case 'tok_risky':
        return 'approve';
      case 'tok_declined':
        return { code: 'card_declined', detail: 'the card issuer declined the authorization' };
      case 'tok_timeout':
        // Times out on the payment's first authorization only; the ledger remembers it.
        return countAuthorizations.get(paymentRef)!.count === 0 ? 'time_out' : 'approve';
      default:
        return { code: 'invalid_token', detail: `unknown payment token ${request.token}` };
    }
  }

  function approvedAuthorization(authorizationId: string): OperationRow {
    const authorization = byReference.get(authorizationId);
    if (authorization?.kind !== 'authorize' || authorization.outcome !== 'approved') {
      throw new GatewayRequestRefusedError(`there is no approved authorization ${authorizationId}`);
    }
    return authorization;
  }

  /**
   * Decides the call in the next group commit. A refusal is the call's own answer; any other failure
   * means the transaction did not commit and nothing of its tick was recorded.
   */
  async function record(request: Request): Promise<OperationRow> {
    let refusal: { error: unknown } | undefined;
    try {
      return await database.write(() => {
        try {
          return decide(request);
        } catch (error) {
          refusal = { error };
          throw error;
        }
      });
    } catch (error) {
      if (refusal?.error === error) throw error;
      throw new GatewayUnavailableError('the payment gateway could not record the operation', {
        cause: error,
      });
    }
  }

  async function perform(request: Request): Promise<OperationRow> {
    if (closed) throw new GatewayUnavailableError('the payment gateway simulator is closed');
    // One call keeps the latency it started with, whatever an operator changes meanwhile.
    const latency = latencyMs;
    if (failureRate > 0 && random() < failureRate) {
      throw new GatewayUnavailableError(
        `the payment gateway is unavailable (simulated ${request.kind} failure)`,
      );
    }
    if (latency > 0) await sleep(latency);
    if (closed) throw new GatewayUnavailableError('the payment gateway simulator is closed');
    const row = await record(request);
    if (row.outcome === 'timed_out') {
      await sleep(timeoutMs - latency);
      throw new GatewayTimeoutError(request.kind, timeoutMs, { details: { idempotencyKey: request.key } });
    }
    return row;
  }

  return {
    file,

    settings: () => ({ latencyMs, failureRate, timeoutMs }),

    configure(settings) {
      const next = resolveSimulatedGatewayOptions({
        file,
        timeoutMs,
        latencyMs: settings.latencyMs ?? latencyMs,
        failureRate: settings.failureRate ?? failureRate,
      });
      latencyMs = next.latencyMs;
      failureRate = next.failureRate;
    },

    async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
      const row = await perform({
        kind: 'authorize',
        key: request.idempotencyKey,
        amount: request.amount,
        currency: request.currency,
        token: request.token,
      });
      return row.outcome === 'approved'
        ? { outcome: 'approved', authorizationId: row.reference! }
        : { outcome: 'declined', code: row.decline_code ?? 'declined', detail: row.decline_detail ?? '' };
    },

    async capture(request: CaptureRequest): Promise<CaptureResult> {
      const row = await perform({
        kind: 'capture',
        key: request.idempotencyKey,
        authorizationId: request.authorizationId,
        amount: request.amount,
      });
      return { captureId: row.reference! };
    },

    async void(request: VoidRequest): Promise<void> {
      await perform({ kind: 'void', key: request.idempotencyKey, authorizationId: request.authorizationId });
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      const row = await perform({
        kind: 'refund',
        key: request.idempotencyKey,
        captureId: request.captureId,
        amount: request.amount,
      });
      return { refundId: row.reference! };
    },

    ledgerStats(): GatewayLedgerStats {
      const counts = db
        .prepare<[], { kind: string; outcome: string; count: number; total: number | null }>(
          'SELECT kind, outcome, COUNT(*) AS count, SUM(amount) AS total FROM operations GROUP BY kind, outcome',
        )
        .all();
      const find = (kind: string, outcome: string) =>
        counts.find((c) => c.kind === kind && c.outcome === outcome);
      const twice = db
        .prepare<[], { count: number }>(
          `SELECT COUNT(*) AS count FROM (SELECT payment_ref FROM operations WHERE kind = 'capture'
             GROUP BY payment_ref HAVING COUNT(*) > 1)`,
        )
        .get()!;
      return {
        operations: counts.reduce((sum, c) => sum + c.count, 0),
        authorizations: {
          approved: find('authorize', 'approved')?.count ?? 0,
          declined: find('authorize', 'declined')?.count ?? 0,
          timedOut: find('authorize', 'timed_out')?.count ?? 0,
        },
        captures: find('capture', 'captured')?.count ?? 0,
        capturedAmount: find('capture', 'captured')?.total ?? 0,
        voids: find('void', 'voided')?.count ?? 0,
        refunds: find('refund', 'refunded')?.count ?? 0,
        refundedAmount: find('refund', 'refunded')?.total ?? 0,
        paymentsCapturedMoreThanOnce: twice.count,
      };
    },

    operations(paymentRef: string): GatewayOperation[] {
      return byPayment.all(paymentRef).map(toOperation);
    },

    async close() {
      if (closed) return;
      closed = true;
      // Commits the calls already queued, then closes the ledger.
      await database.close();
    },
  };
}

/** A key decides once: the same key with a different request is a client bug the provider refuses. */
function assertSameRequest(row: OperationRow, request: Request): void {
  const same =
    row.kind === request.kind &&
    (request.kind === 'authorize'
      ? row.amount === request.amount && row.currency === request.currency && row.token === request.token
      : request.kind === 'capture'
        ? row.target === request.authorizationId && row.amount === request.amount
        : request.kind === 'void'
          ? row.target === request.authorizationId
          : row.target === request.captureId && row.amount === request.amount);
  if (!same) {
    throw new GatewayRequestRefusedError(
      `idempotency key ${request.key} was used for a different ${row.kind} request`,
      { details: { idempotencyKey: request.key } },
    );
  }
}

function toOperation(row: OperationRow): GatewayOperation {
  return {
    sequence: row.seq,
    idempotencyKey: row.idempotency_key,
    paymentRef: row.payment_ref,
    kind: row.kind,
    outcome: row.outcome,
    amount: row.amount,
    currency: row.currency,
    token: row.token,
    target: row.target,
    reference: row.reference,
    declineCode: row.decline_code,
    time: row.created_at,
  };
}

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
