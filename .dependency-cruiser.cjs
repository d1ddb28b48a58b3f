// The layers of src/ (docs/architecture.md, STYLE.md §1), enforced: `npm run lint` runs this after
// ESLint, and src/architecture.int.spec.ts proves that each rule catches a wrong import.
//
//   kernel → event-store → messaging → contexts/*, sagas, operations → adapters/<technology>
//     → simulators → config → http, console, cli → app
//
// A file imports only from its own layer or the layers before it. Contexts reach each other only
// through a context's public surface (messages.ts, index.ts); sagas and operations only through
// messages.ts. Only app/ imports adapters (simulators may use the SQLite database module: they are
// outside parties with a ledger of their own). Tests (*.spec.ts) are wiring, like app/: they are
// not cruised.

const PORTS = 'kernel|event-store|messaging';
const PUBLIC_SURFACE = 'src/contexts/[^/]+/(messages|index)\\.ts$';
const MESSAGES = 'src/contexts/[^/]+/messages\\.ts$';

/** A rule: files under `from` may import nothing under src/ but `allowed` (regex alternatives). */
function layer(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^src/', pathNot: `^(?:${allowed.join('|')})` },
  };
}

module.exports = {
  forbidden: [
    layer(
      'kernel-imports-only-kernel',
      '^src/kernel/',
      ['src/kernel/'],
      'The kernel is the top layer: it imports no other folder of src/.',
    ),
    layer(
      'event-store-imports-kernel',
      '^src/event-store/',
      ['src/kernel/', 'src/event-store/'],
      'The event-store port knows the kernel only (the envelope lives there).',
    ),
    layer(
      'messaging-imports-ports',
      '^src/messaging/',
      ['src/kernel/', 'src/event-store/', 'src/messaging/'],
      'Messaging sits on the kernel and the event-store port, never on contexts or adapters.',
    ),
    layer(
      'contexts-import-ports-and-public-surfaces',
      '^src/contexts/',
      [`src/(${PORTS})/`, PUBLIC_SURFACE, 'src/contexts/'],
      "A context uses the ports and other contexts' public surfaces (messages.ts, index.ts); never adapters, simulators, http, config or app.",
    ),
    {
      name: 'no-context-internals',
      comment: 'Another context is reached through its messages.ts or index.ts, never its internals.',
      severity: 'error',
      from: { path: '^src/contexts/([^/]+)/' },
      to: { path: '^src/contexts/', pathNot: ['^src/contexts/$1/', `^${PUBLIC_SURFACE}`] },
    },
    layer(
      'sagas-import-message-contracts',
      '^src/sagas/',
      [`src/(${PORTS})/`, 'src/sagas/', MESSAGES],
      'Sagas see contexts only through their message contracts (messages.ts).',
    ),
    layer(
      'operations-import-message-contracts',
      '^src/operations/',
      [`src/(${PORTS})/`, 'src/operations/', MESSAGES, 'src/sagas/messages\\.ts$'],
      'Operations see contexts and sagas only through their message contracts (messages.ts).',
    ),
    {
      name: 'adapters-import-ports-and-their-own-technology',
      comment: 'An adapter implements ports; it uses its own technology folder and the ports, nothing else.',
      severity: 'error',
      from: { path: '^src/adapters/([^/]+)/' },
      to: { path: '^src/', pathNot: [`^src/(${PORTS})/`, '^src/adapters/$1/'] },
    },
    layer(
      'simulators-implement-context-ports',
      '^src/simulators/',
      [`src/(${PORTS})/`, PUBLIC_SURFACE, 'src/simulators/', 'src/adapters/sqlite/sqlite-database\\.ts$'],
      "A simulator implements a context's port (its public surface) and may keep a ledger with the SQLite database module.",
    ),
    layer(
      'config-imports-kernel',
      '^src/config/',
      ['src/kernel/', 'src/config/'],
      "Configuration is validated with the kernel's errors only.",
    ),
    layer(
      'ways-in-import-ports-and-config',
      '^src/(http|console|cli)/',
      [`src/(${PORTS})/`, PUBLIC_SURFACE, 'src/config/', 'src/(http|console|cli)/'],
      'http/, console/ and cli/ are given what they run by app/; they never import adapters, simulators or app.',
    ),
    {
      name: 'only-app-imports-adapters',
      comment:
        'src/app is the composition root, the one importer of adapters/ (simulators: the SQLite database module only).',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/(app|adapters|simulators)/'] },
      to: { path: '^src/adapters/' },
    },
    {
      name: 'no-file-cycle',
      comment: 'No import cycle between files.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      comment: 'No import cycle between folders (layers, contexts, adapter families).',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)node_modules/', '\\.spec\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
