import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * What the embedded mode keeps in its data directory besides the SQLite file: the generated admin
 * key and the pid file of the server that runs on it.
 */
export const ADMIN_KEY_FILE = 'admin-key';
export const PID_FILE = 'orderflow.pid';

export interface ResolvedAdminKey {
  key: string;
  /** Set when this call generated the key (first start): the caller prints it once. */
  generatedIn?: string;
}

/**
 * The admin key: ORDERFLOW_ADMIN_KEY when set; else the key kept in the data dir; else a new random
 * key, written there with mode 0600 (created exclusively, so two processes starting at once agree).
 */
export async function resolveAdminKey(
  configured: string | undefined,
  dataDir: string,
): Promise<ResolvedAdminKey> {
  if (configured !== undefined) return { key: configured };
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  const existing = await readKey(file);
  if (existing !== undefined) return { key: existing };
  await fs.mkdir(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  try {
    await fs.writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = await readKey(file);
    if (raced !== undefined) return { key: raced };
    throw error;
  }
  return { key, generatedIn: file };
}

async function readKey(file: string): Promise<string | undefined> {
  try {
    const key = (await fs.readFile(file, 'utf8')).trim();
    return key === '' ? undefined : key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Records that this process serves the data dir (read by CLI commands that must not run beside it). */
export async function writePidFile(dataDir: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(path.join(dataDir, PID_FILE), `${process.pid}\n`);
}

/** Removes the pid file if it is this process's. */
export async function removePidFile(dataDir: string): Promise<void> {
  if ((await readPid(dataDir)) === process.pid) await fs.rm(path.join(dataDir, PID_FILE), { force: true });
}

/** The pid of a live Orderflow server on this data dir, if any (a stale file after a crash is ignored). */
export async function runningServerPid(dataDir: string): Promise<number | undefined> {
  const pid = await readPid(dataDir);
  if (pid === undefined || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive but someone else's; ESRCH: gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

async function readPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await fs.readFile(path.join(dataDir, PID_FILE), 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
