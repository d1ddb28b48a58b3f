import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { newKey, orderBody, postOrder } from '../support/orders.ts';
import { removeDir, ROOT, sleep, tempDataDir } from '../support/test-app.ts';

const BIN = path.join(ROOT, 'bin/orderflow.mjs');
const READY_LINE = /^Orderflow listening on (http:\/\/127\.0\.0\.1:(\d+)) \(embedded, data in (.+)\)$/m;

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function run(
  args: string[],
  env: Record<string, string>,
  command = process.execPath,
  commandArgs = [BIN],
): Run {
  const child = spawn(command, [...commandArgs, ...args], {
    cwd: ROOT,
    // Only what the test sets: an ORDERFLOW_* variable of the developer's shell must not leak in.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ORDERFLOW_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const result: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout.on('data', (chunk: Buffer) => (result.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk.toString()));
  return result;
}

/** waitUntil, not waitFor: it gives up at once when the process exits. */
async function readyUrl(started: Run, timeoutMs = 30_000): Promise<string> {
  try {
    return await vi.waitUntil(
      () => {
        const url = READY_LINE.exec(started.stdout)?.[1];
        if (url === undefined && started.child.exitCode !== null) {
          throw new Error(`exited with ${started.child.exitCode}`);
        }
        return url;
      },
      { timeout: timeoutMs, interval: 25 },
    );
  } catch (error) {
    throw new Error(`no ready line; stdout: ${started.stdout}\nstderr: ${started.stderr}`, { cause: error });
  }
}

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('orderflow start', () => {
  const dataDir = tempDataDir('orderflow-cli-');
  afterAll(() => removeDir(dataDir));

  it('prints the ready line with the real port, the admin key once, serves, and exits 0 on SIGTERM', async () => {
    const first = run(['start'], { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' });
    const url = await readyUrl(first);
    expect(READY_LINE.exec(first.stdout)![3]).toBe(dataDir);
    expect(Number(READY_LINE.exec(first.stdout)![2])).toBeGreaterThan(0);

    // First start without ORDERFLOW_ADMIN_KEY: a key is generated, kept with mode 0600, printed once.
    const keyFile = path.join(dataDir, 'admin-key');
    const key = fs.readFileSync(keyFile, 'utf8').trim();
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(first.stdout).toContain(`Generated admin key (kept in ${keyFile}): ${key}`);

    const catalog = await fetch(`${url}/v1/catalog`);
    expect(catalog.status).toBe(200);
    const admin = await fetch(`${url}/v1/admin/dead-letters`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(admin.status).toBe(200);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Second start: same key, not printed again; the data is still there.
    const second = run(['start'], { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' });
    const again = await readyUrl(second);
    expect(second.stdout).not.toContain(key);
    expect(
      (await fetch(`${again}/v1/admin/dead-letters`, { headers: { authorization: `Bearer ${key}` } })).status,
    ).toBe(200);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('runs only the roles asked for: --roles api serves the API but starts no saga', async () => {
    const started = run(['start', '--roles', 'api'], { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' });
    const url = await readyUrl(started);
    const order = (await (await postOrder(url, orderBody(), newKey())).json()) as { id: string };
    // No marker: an api-only process consumes nothing, so no later event can show the saga did not start.
    await sleep(300);
    const trail = (await (await fetch(`${url}/v1/orders/${order.id}/events`)).json()) as {
      events: { type: string }[];
    };
    expect(trail.events.map((e) => e.type)).toEqual(['OrderPlaced']);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  });

  it('serves only health and metrics without the api role', async () => {
    const started = run(['start', '--roles', 'saga'], { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' });
    const url = await readyUrl(started);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect((await fetch(`${url}/v1/catalog`)).status).toBe(404);
    expect((await fetch(`${url}/`)).status).toBe(404);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  });

  it('exits 2 naming a bad ORDERFLOW_PORT, and every other problem, one per line', async () => {
    const failed = run(['start'], {
      ORDERFLOW_DATA_DIR: dataDir,
      ORDERFLOW_PORT: 'eighty',
      ORDERFLOW_PARTITIONS: '0',
    });
    expect(await failed.exited).toBe(2);
    const lines = failed.stderr.trim().split('\n');
    expect(lines[0]).toBe('orderflow: invalid configuration:');
    expect(lines.slice(1)).toEqual([
      '  - ORDERFLOW_PORT must be an integer from 0 to 65535 (got "eighty")',
      '  - ORDERFLOW_PARTITIONS must be an integer from 1 to 1024 (got "0")',
    ]);
    expect(failed.stdout).not.toMatch(READY_LINE);
  });

  it('exits 2 with one readable line for an unknown role', async () => {
    const failed = run(['start', '--roles', 'api,shipping'], {
      ORDERFLOW_DATA_DIR: dataDir,
      ORDERFLOW_PORT: '0',
    });
    expect(await failed.exited).toBe(2);
    expect(failed.stderr.trim()).toBe(
      'orderflow: --roles must be a comma-separated list of roles from: api, saga, inventory, payments, fulfillment, notifications, operations (got unknown role "shipping")',
    );
  });

  it('passes npm start arguments through to orderflow start', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const failed = run(['--roles', 'nope'], { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' }, npm, [
      'start',
      '--silent',
      '--',
    ]);
    expect(await failed.exited).toBe(2);
    expect(failed.stderr).toContain('orderflow: --roles must be a comma-separated list of roles from: ');
    expect(failed.stderr).toContain('(got unknown role "nope")');
  });
});

describe('orderflow dead-letters', () => {
  const dataDir = tempDataDir('orderflow-cli-dl-');
  afterAll(() => removeDir(dataDir));

  it('exits 2 with one line for a bad option', async () => {
    const env = { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' };
    const status = run(['dead-letters', 'list', '--status', 'lost'], env);
    expect(await status.exited).toBe(2);
    expect(status.stderr.trim()).toBe('orderflow: --status must be parked or redriven (got "lost")');
    const limit = run(['dead-letters', 'list', '--limit', '0'], env);
    expect(await limit.exited).toBe(2);
    expect(limit.stderr.trim()).toBe('orderflow: --limit must be a positive integer (got "0")');
  });

  it('lists, refuses to redrive beside a running server, and reports errors in one line', async () => {
    const env = { ORDERFLOW_DATA_DIR: dataDir, ORDERFLOW_PORT: '0' };
    const missing = run(['dead-letters', 'list'], env);
    expect(await missing.exited).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^orderflow: no Orderflow data in .+$/);

    const server = run(['start'], env);
    await readyUrl(server);
    const beside = run(['dead-letters', 'redrive', 'some-id'], env);
    expect(await beside.exited).toBe(1);
    expect(beside.stderr.trim()).toMatch(
      /^orderflow: Orderflow \(pid \d+\) is running on .+ POST \/v1\/admin\/dead-letters\/some-id\/redrive/,
    );
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const list = run(['dead-letters', 'list'], env);
    expect(await list.exited).toBe(0);
    expect(list.stdout.trim()).toBe('no dead letters');
    const json = run(['dead-letters', 'list', '--json'], env);
    expect(await json.exited).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);

    const unknown = run(['dead-letters', 'redrive', 'no-such-entry'], env);
    expect(await unknown.exited).toBe(1);
    expect(unknown.stderr.trim()).toBe('orderflow: dead letter no-such-entry not found');
  });
});
