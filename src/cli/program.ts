import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { loadConfig, type AppConfig } from '../config/load-config.ts';
import { parseRoles, ROLES, type Role } from '../kernel/roles.ts';
import type { DeadLetter, DeadLetterStatus, ListDeadLettersOptions } from '../messaging/index.ts';
import { startDemoTraffic } from './demo-traffic.ts';
import {
  ensureError,
  ERROR_CODES,
  InvalidOptionsError,
  isAppError,
  type AppError,
} from '../kernel/errors.ts';

/**
 * The `orderflow` command (bin/orderflow.mjs → src/app/main.ts). Exit codes: 0 done, 1 failed, 2 bad
 * usage or bad configuration. Errors are one readable line on stderr (the config's problems one per
 * line). The commands are parsed and printed here; what they run is given by the composition root.
 */

/** A running Orderflow, as `orderflow start` drives it (src/app's App). */
export interface CliApp {
  readonly adminKey: string;
  /** Where a newly generated admin key was written; printed once. */
  readonly generatedAdminKeyFile: string | undefined;
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
}

/** The dead letters of a data dir or a distributed deployment, without a running server. */
export interface CliDeadLetterAdmin {
  list(options: ListDeadLettersOptions): Promise<DeadLetter[]>;
  redrive(id: string): Promise<DeadLetter>;
  close(): Promise<void>;
}

/** What the commands run: given by src/app/main.ts, the only place that knows the adapters. */
export interface CliCommands {
  createApp(config: AppConfig, options: { roles: readonly Role[] }): Promise<CliApp>;
  openDeadLetterAdmin(config: AppConfig): Promise<CliDeadLetterAdmin>;
  /** The alert rules (built-in + `operations.alertRulesFile`) as Prometheus rule groups (YAML). */
  exportAlertRules(config: AppConfig): string;
  /** A Grafana dashboard (classic JSON model) over the metrics and those rules. */
  exportDashboard(config: AppConfig): string;
}

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function fail(code: number, message: string): never {
  throw new CliExit(code, message);
}

/** Bad configuration or options (InvalidOptionsError, CONFIG_INVALID): runCli exits with EXIT_USAGE. */
function isUsageError(error: unknown): error is AppError {
  return isAppError(error) && error.code === ERROR_CODES.CONFIG_INVALID;
}

async function start(
  commands: CliCommands,
  options: { roles?: string; demoTraffic?: boolean },
): Promise<void> {
  const roles: Role[] = options.roles === undefined ? [...ROLES] : parseRoles(options.roles);
  const config = loadConfig();

  let app: CliApp;
  try {
    app = await commands.createApp(config, { roles });
  } catch (error) {
    if (isUsageError(error)) throw error;
    fail(EXIT_FAILED, `could not start: ${ensureError(error).message}`);
  }
  if (app.generatedAdminKeyFile !== undefined) {
    // Shown once: later starts read it from the file.
    console.log(`Generated admin key (kept in ${app.generatedAdminKeyFile}): ${app.adminKey}`);
  }
  let url: string;
  try {
    ({ url } = await app.start());
  } catch (error) {
    const cause = ensureError(error) as NodeJS.ErrnoException;
    if (cause.code === 'EADDRINUSE')
      fail(EXIT_FAILED, `cannot listen on ${config.host}:${config.port}: the address is in use`);
    fail(EXIT_FAILED, `could not start: ${cause.message}`);
  }

  const demo =
    options.demoTraffic === true && roles.includes('api')
      ? startDemoTraffic({
          baseUrl: url,
          onError: (error) => console.error(`orderflow: demo order failed: ${error.message}`),
        })
      : undefined;

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      console.error(`orderflow: ${signal} again, exiting without finishing the shutdown`);
      process.exit(EXIT_FAILED);
    }
    signalled = true;
    console.log(`Orderflow stopping (${signal})…`);
    (demo?.stop() ?? Promise.resolve())
      .then(() => app.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`orderflow: shutdown failed: ${ensureError(error).message}`);
          process.exit(EXIT_FAILED);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const where =
    config.store.kind === 'postgres'
      ? `distributed, namespace ${config.namespace}, roles ${roles.join(',')}`
      : `embedded, data in ${config.dataDir}`;
  console.log(`Orderflow listening on ${url} (${where})`);
  if (demo !== undefined) console.log('Placing demo orders every 2 s (--demo-traffic)');
}

async function withDeadLetters<T>(
  commands: CliCommands,
  work: (admin: CliDeadLetterAdmin) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  let admin: CliDeadLetterAdmin;
  try {
    admin = await commands.openDeadLetterAdmin(config);
  } catch (error) {
    if (isUsageError(error)) throw error;
    fail(EXIT_FAILED, ensureError(error).message);
  }
  try {
    return await work(admin);
  } catch (error) {
    fail(EXIT_FAILED, ensureError(error).message);
  } finally {
    await admin.close();
  }
}

/** The loaded configuration, with `--rules <file>` in place of ORDERFLOW_ALERT_RULES when given. */
function configWithRules(rulesFile: string | undefined): AppConfig {
  const config = loadConfig();
  if (rulesFile === undefined) return config;
  return { ...config, operations: { ...config.operations, alertRulesFile: rulesFile } };
}

function formatDeadLetter(entry: DeadLetter): string {
  return [
    entry.id,
    entry.status,
    entry.group,
    entry.message.type,
    `attempts=${entry.attempts}`,
    entry.deadLetteredAt,
    `${entry.error.code ?? entry.error.name}: ${entry.error.message}`.replace(/\s+/g, ' '),
  ].join('  ');
}

function createProgram(commands: CliCommands): Command {
  const program = new Command('orderflow')
    .description('Orderflow: the order-processing backbone of the marketplace')
    .version(packageJson.version)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');

  program
    .command('start')
    .description('run Orderflow (embedded mode: one process, data in ORDERFLOW_DATA_DIR)')
    .option('--roles <list>', `comma-separated roles to run: ${ROLES.join(', ')} (default: all)`)
    .option('--demo-traffic', 'also place a steady trickle of varied demo orders (needs the api role)')
    .action((options: { roles?: string; demoTraffic?: boolean }) => start(commands, options));

  const deadLetters = program
    .command('dead-letters')
    .description('inspect and re-drive dead letters of the embedded data dir');
  deadLetters
    .command('list')
    .description('list dead letters, newest first')
    .option('--status <status>', 'parked or redriven')
    .option('--group <group>', 'only this consumer group')
    .option('--limit <n>', 'at most this many (default 100)')
    .option('--json', 'print JSON')
    .action(async (options: { status?: string; group?: string; limit?: string; json?: boolean }) => {
      if (options.status !== undefined && options.status !== 'parked' && options.status !== 'redriven') {
        throw InvalidOptionsError.format(
          '--status',
          `must be parked or redriven (got ${JSON.stringify(options.status)})`,
        );
      }
      const limit = options.limit === undefined ? undefined : Number(options.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
        throw InvalidOptionsError.format(
          '--limit',
          `must be a positive integer (got ${JSON.stringify(options.limit)})`,
        );
      }
      const entries = await withDeadLetters(commands, (admin) =>
        admin.list({
          ...(options.status !== undefined ? { status: options.status as DeadLetterStatus } : {}),
          ...(options.group !== undefined ? { group: options.group } : {}),
          ...(limit !== undefined ? { limit } : {}),
        }),
      );
      if (options.json === true) console.log(JSON.stringify(entries, null, 2));
      else if (entries.length === 0) console.log('no dead letters');
      else for (const entry of entries) console.log(formatDeadLetter(entry));
    });
  deadLetters
    .command('redrive <id>')
    .description('send a parked message back to the group that gave up on it')
    .action(async (id: string) => {
      const entry = await withDeadLetters(commands, (admin) => admin.redrive(id));
      console.log(`re-driven ${entry.id} (${entry.message.type}) to group ${entry.group}`);
    });

  const ops = program
    .command('ops')
    .description('exports for teams that run their own Prometheus and Grafana');
  const rulesOption = '--rules <file>';
  const rulesHelp = 'alert rules file to add or override rules (default: ORDERFLOW_ALERT_RULES)';
  ops
    .command('export-rules')
    .description('print the alert rules as Prometheus rule groups (for promtool check rules)')
    .option(rulesOption, rulesHelp)
    .action((options: { rules?: string }) => {
      process.stdout.write(commands.exportAlertRules(configWithRules(options.rules)));
    });
  ops
    .command('export-dashboard')
    .description('print a Grafana dashboard (classic JSON model) of the metrics and alert rules')
    .option(rulesOption, rulesHelp)
    .action((options: { rules?: string }) => {
      console.log(commands.exportDashboard(configWithRules(options.rules)));
    });
  return program;
}

/** Runs the command line; exits the process when a command fails or has finished with a code. */
export async function runCli(argv: readonly string[], commands: CliCommands): Promise<void> {
  try {
    await createProgram(commands).parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CliExit) {
      console.error(`orderflow: ${error.message}`);
      process.exit(error.code);
    }
    if (isUsageError(error)) {
      // The configuration's problems, or a bad option, one per line.
      console.error(`orderflow: ${error.message}`);
      process.exit(EXIT_USAGE);
    }
    if (error instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    console.error(`orderflow: ${ensureError(error).message}`);
    process.exit(EXIT_FAILED);
  }
}
