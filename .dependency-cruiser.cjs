/**
 * The import rules of the repository (docs/decisions/0006-package-boundaries.md), checked by `npm run lint`.
 * Imports of a workspace package resolve through node_modules to its built dist/, so the rules name both src/ and
 * dist/ of a package.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle makes load order matter and hides which module is the lower layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-between-folders',
      severity: 'error',
      comment:
        'Within core/src each folder is a layer (kernel, tasks, cli, ...): two folders importing each other are one layer in two places.',
      scope: 'folder',
      from: { path: '^core/src/[^/]+' },
      to: { path: '^core/src/[^/]+', circular: true },
    },
    {
      name: 'sdk-imports-no-opspawn-package',
      severity: 'error',
      comment:
        'plugin-sdk is the bottom layer: every plugin and the kernel import it, so it imports none of them (the test kernel lives in @opspawn/testing).',
      from: { path: '^plugin-sdk/' },
      to: { path: '^(core|plugins)/' },
    },
    {
      name: 'core-imports-no-sdk-testing',
      severity: 'error',
      comment: 'The kernel does not run on test code: mocha and chai are not among its dependencies.',
      from: { path: '^core/src/' },
      to: { path: '^plugin-sdk/(src|dist)/(testing|exports/testing)' },
    },
    {
      name: 'core-imports-no-test-kernel',
      severity: 'error',
      comment: '@opspawn/testing depends on core; the other way round would be a circle between packages.',
      from: { path: '^core/src/' },
      to: { path: '^core/testing/' },
    },
    {
      name: 'plugin-imports-no-core',
      severity: 'error',
      comment: 'A plugin receives kernel services by token from the SDK; it never imports the kernel.',
      from: { path: '^plugins/[^/]+/src/' },
      to: { path: '^core/' },
    },
    {
      name: 'plugin-imports-no-other-plugin',
      severity: 'error',
      comment: "A plugin depends on tokens, never on another plugin's classes or internals.",
      from: { path: '^plugins/([^/]+)/' },
      to: { path: '^plugins/[^/]+/', pathNot: '^plugins/$1/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment:
        'An import that does not resolve (a workspace package not built, a typo) would slip past every rule above; `npm run lint` builds first.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '/dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
