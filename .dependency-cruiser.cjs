/**
 * The layering rules of src/ (docs/architecture.md), checked by `npm run lint`.
 * Only run-time imports count: TypeScript drops `import type` (and imports used only as types)
 * when it compiles, so such an import may cross these lines, and cannot make a cycle at run time.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A run-time import cycle: modules that load each other half-initialised. Move the shared piece down, or pass it in.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'platform-imports-no-feature',
      severity: 'error',
      comment:
        'src/platform/ is the shared machinery every feature stands on: it never imports a feature (take what it needs as a parameter).',
      from: { path: '^src/platform/' },
      to: { path: '^src/features/' },
    },
    {
      name: 'features-meet-through-index',
      severity: 'error',
      comment: 'A feature is reached from outside only through its index.ts, the list of what it offers.',
      from: { path: '^src/features/([^/]+)/' },
      to: { path: '^src/features/[^/]+/', pathNot: ['^src/features/$1/', '^src/features/[^/]+/index\\.ts$'] },
    },
    {
      name: 'wiring-meets-features-through-index',
      severity: 'error',
      comment: 'The wiring (src/*.ts) mounts and starts features through their index.ts too.',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/features/[^/]+/', pathNot: ['^src/features/[^/]+/index\\.ts$'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    // Compiled dependencies only: `import type` and type-only uses are not run-time imports.
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
};
