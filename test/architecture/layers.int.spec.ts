import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/test-app.ts';

// The layer rules of .dependency-cruiser.cjs (the lint step that `npm run lint` and CI run): the
// real tree passes them, and each kind of wrong import, written into a scratch tree, fails them.
const config = createRequire(import.meta.url)(path.join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

async function violations(baseDir: string): Promise<string[]> {
  const result = await cruise(['src'], {
    ruleSet: { forbidden: config.forbidden ?? [] },
    validate: true,
    baseDir,
    tsPreCompilationDeps: true,
    exclude: { path: ['(^|/)node_modules/', '\\.spec\\.ts$'] },
    outputType: 'json',
  });
  const output = (
    typeof result.output === 'string' ? JSON.parse(result.output) : result.output
  ) as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
}

let scratch: string | undefined;
afterEach(() => {
  if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** A scratch tree: path → the files it imports (relative to it). */
function tree(files: Record<string, readonly string[]>): string {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-layers-'));
  for (const [file, imports] of Object.entries(files)) {
    const full = path.join(scratch, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    const lines = imports.map((target, i) => {
      let specifier = path.relative(path.dirname(file), target);
      if (!specifier.startsWith('.')) specifier = `./${specifier}`;
      return `import { x as x${i} } from '${specifier}';\nvoid x${i};`;
    });
    fs.writeFileSync(full, `${lines.join('\n')}\nexport const x = 1;\n`);
  }
  return scratch;
}

describe('layers (dependency-cruiser)', () => {
  it('the source tree has no import against the layers and no cycle, file or folder', async () => {
    expect(await violations(ROOT)).toEqual([]);
  });

  it('refuses a context that imports an adapter', async () => {
    const base = tree({
      'src/contexts/orders/handlers.ts': ['src/adapters/sqlite/sqlite-database.ts'],
      'src/adapters/sqlite/sqlite-database.ts': [],
    });
    const found = await violations(base);
    expect(found).toContain(
      'contexts-import-ports-and-public-surfaces: src/contexts/orders/handlers.ts -> src/adapters/sqlite/sqlite-database.ts',
    );
    expect(found).toContain(
      'only-app-imports-adapters: src/contexts/orders/handlers.ts -> src/adapters/sqlite/sqlite-database.ts',
    );
  });

  it("refuses sagas that import a context's domain file, and lets them import its messages.ts", async () => {
    const base = tree({
      'src/sagas/order/order-saga.ts': [
        'src/contexts/orders/domain/order.ts',
        'src/contexts/orders/messages.ts',
      ],
      'src/contexts/orders/domain/order.ts': [],
      'src/contexts/orders/messages.ts': [],
    });
    expect(await violations(base)).toEqual([
      'sagas-import-message-contracts: src/sagas/order/order-saga.ts -> src/contexts/orders/domain/order.ts',
    ]);
  });

  it("refuses a context that reaches into another context's internals", async () => {
    const base = tree({
      'src/contexts/inventory/handlers.ts': [
        'src/contexts/orders/domain/order.ts',
        'src/contexts/orders/index.ts',
      ],
      'src/contexts/orders/domain/order.ts': [],
      'src/contexts/orders/index.ts': [],
    });
    expect(await violations(base)).toEqual([
      'no-context-internals: src/contexts/inventory/handlers.ts -> src/contexts/orders/domain/order.ts',
    ]);
  });

  it('refuses an import against the direction of the layers', async () => {
    const base = tree({
      'src/event-store/event-store.ts': ['src/messaging/transport.ts'],
      'src/messaging/transport.ts': [],
      'src/kernel/errors.ts': ['src/http/problem-details.ts'],
      'src/http/problem-details.ts': [],
      'src/cli/program.ts': ['src/app/create-app.ts'],
      'src/app/create-app.ts': [],
    });
    expect((await violations(base)).sort()).toEqual([
      'event-store-imports-kernel: src/event-store/event-store.ts -> src/messaging/transport.ts',
      'kernel-imports-only-kernel: src/kernel/errors.ts -> src/http/problem-details.ts',
      'ways-in-import-ports-and-config: src/cli/program.ts -> src/app/create-app.ts',
    ]);
  });

  it('refuses an adapter that uses another technology', async () => {
    const base = tree({
      'src/adapters/nats/nats-transport.ts': ['src/adapters/postgres/postgres-schema.ts'],
      'src/adapters/postgres/postgres-schema.ts': [],
    });
    expect(await violations(base)).toEqual([
      'adapters-import-ports-and-their-own-technology: src/adapters/nats/nats-transport.ts -> src/adapters/postgres/postgres-schema.ts',
    ]);
  });

  it('refuses a file cycle', async () => {
    const base = tree({
      'src/messaging/a.ts': ['src/messaging/b.ts'],
      'src/messaging/b.ts': ['src/messaging/a.ts'],
    });
    const found = await violations(base);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-file-cycle: src\/messaging\/[ab]\.ts -> src\/messaging\/[ab]\.ts$/);
  });

  it('refuses a folder cycle that no file cycle and no layer rule shows', async () => {
    // Each import is allowed (a context's public surface), and no file imports itself back.
    const base = tree({
      'src/contexts/orders/index.ts': ['src/contexts/inventory/messages.ts'],
      'src/contexts/orders/messages.ts': [],
      'src/contexts/inventory/index.ts': ['src/contexts/orders/messages.ts'],
      'src/contexts/inventory/messages.ts': [],
    });
    const found = await violations(base);
    expect(
      found.some((v) => v.startsWith('no-folder-cycle: src/contexts/orders -> src/contexts/inventory')),
    ).toBe(true);
    expect(found.every((v) => v.startsWith('no-folder-cycle'))).toBe(true);
  });
});
