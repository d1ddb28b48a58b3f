import { spawnSync } from 'node:child_process';
import path from 'node:path';

// Runs every micro-benchmark in its own process (so one's heap and caches do not colour the other's)
// and prints their JSON results as one object, last on stdout.
const ROOT = path.resolve(import.meta.dirname, '..');
const results: Record<string, unknown> = {};
for (const name of ['micro-event-store', 'micro-bus']) {
  const run = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bin/run-ts.mjs'), path.join(ROOT, 'bench', `${name}.ts`)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    },
  );
  if (run.status !== 0) {
    console.error(`${name} failed with exit code ${String(run.status)}`);
    process.exit(1);
  }
  const lastLine = run.stdout.trim().split('\n').at(-1) ?? '{}';
  results[name] = JSON.parse(lastLine) as unknown;
}
console.log(JSON.stringify(results));
