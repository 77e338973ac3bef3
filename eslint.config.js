// Lint: TypeScript rules (typescript-eslint) and the layer boundaries of agent/src (eslint-plugin-boundaries).
// The layers and what each may import are listed in README.md ("Layers"); a test keeps the two in step.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/** Layers, bottom first; each may import itself and any layer listed in its `may` (see README.md). */
export const LAYERS = [
  { type: 'base', pattern: 'agent/src/{errors,log,redact,version}.ts', may: [] },
  { type: 'host', pattern: 'agent/src/host/**', may: ['base'] },
  { type: 'model', pattern: 'agent/src/model/**', may: ['base'] },
  { type: 'source', pattern: 'agent/src/source/**', may: ['base', 'host', 'model'] },
  { type: 'net', pattern: 'agent/src/net/**', may: ['base', 'model'] },
  { type: 'policy', pattern: 'agent/src/policy/**', may: ['base', 'model', 'net'] },
  { type: 'desired', pattern: 'agent/src/desired/**', may: ['base', 'model', 'net'] },
  { type: 'scaffold', pattern: 'agent/src/scaffold/**', may: ['base', 'model', 'net', 'policy'] },
  { type: 'bundle', pattern: 'agent/src/bundle/**', may: ['base', 'host', 'model', 'desired'] },
  { type: 'provider', pattern: 'agent/src/providers/*/**', may: ['base', 'host', 'model', 'net', 'desired', 'provider-contract'] },
  { type: 'provider-contract', pattern: 'agent/src/providers/{types,lazy}.ts', may: ['base', 'host', 'model', 'desired'] },
  { type: 'provider-registry', pattern: 'agent/src/providers/registry.ts', may: ['base', 'host', 'model', 'desired', 'provider', 'provider-contract'] },
  {
    type: 'reconcile',
    pattern: 'agent/src/reconcile/**',
    may: ['base', 'host', 'model', 'source', 'net', 'policy', 'desired', 'provider-contract', 'provider-registry'],
  },
  { type: 'report', pattern: 'agent/src/report/**', may: ['base', 'host', 'model', 'net', 'desired', 'provider-contract', 'reconcile'] },
  { type: 'server', pattern: 'agent/src/server/**', may: ['base', 'host', 'model', 'reconcile', 'report'] },
  {
    type: 'cli',
    pattern: 'agent/src/cli/**',
    may: [
      'base',
      'host',
      'model',
      'source',
      'net',
      'policy',
      'desired',
      'scaffold',
      'bundle',
      'provider-contract',
      'provider-registry',
      'reconcile',
      'report',
      'server',
    ],
  },
  // The test bed (lab, emulators, their commands) may use the product; no product layer may use it (not even
  // by import() or a type): agent/bin/mirrornet.js, outside agent/src, registers its commands.
  {
    type: 'testbed',
    pattern: 'agent/src/testbed/**',
    may: [
      'base',
      'host',
      'model',
      'source',
      'net',
      'policy',
      'desired',
      'scaffold',
      'bundle',
      'provider',
      'provider-contract',
      'provider-registry',
      'reconcile',
      'report',
      'server',
      'cli',
    ],
  },
];

export default tseslint.config(
  { ignores: ['agent/dist/**', 'agent/release/**', 'node_modules/**', 'agent/schemas/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // One job per file: a source file that grows past 500 lines holds several and is split by job.
  { files: ['agent/src/**/*.ts'], rules: { 'max-lines': [2, { max: 500 }] } },
  { files: ['**/*.js'], languageOptions: { globals: { process: 'readonly', URL: 'readonly' } } },
  {
    files: ['agent/**/*.ts'],
    plugins: { boundaries },
    settings: {
      // Single files first: the first element whose pattern matches a file classifies it.
      'boundaries/elements': [...LAYERS]
        .sort((a, b) => Number(b.pattern.endsWith('.ts')) - Number(a.pattern.endsWith('.ts')))
        .map(({ type, pattern }) => ({ type, pattern, mode: 'full', ...(type === 'provider' ? { capture: ['id'] } : {}) })),
      // `mode: 'full'` (the whole path from the repository root) is the only way v7 classifies single files.
      'boundaries/legacy-warnings': false,
      'boundaries/include': ['agent/src/**/*.ts'],
      // Besides import, export, require and import(): a type written as import('…').Name crosses layers too.
      'boundaries/additional-dependency-nodes': [{ selector: 'TSImportType > Literal', kind: 'type', name: 'type-import' }],
      'import/resolver': { typescript: { project: 'tsconfig.json' } },
    },
    rules: {
      'boundaries/dependencies': [
        2,
        {
          default: 'disallow',
          policies: [
            ...LAYERS.map(({ type, may }) => ({
              from: { element: { type } },
              allow: { to: { element: { types: { anyOf: type === 'provider' ? may : [type, ...may] } } } },
            })),
            // Within a provider's own folder: yes; another provider's folder: never (the engine orders them).
            { from: { element: { type: 'provider' } }, allow: { to: { element: { type: 'provider', captured: { id: '{{ from.captured.id }}' } } } } },
          ],
        },
      ],
      'boundaries/no-unknown-files': 2,
      '@typescript-eslint/no-unused-vars': [2, { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Prettier wraps code at 160; strings and comments are wrapped by hand.
      'max-len': [2, { code: 160, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
);
