#!/usr/bin/env node
// Writes the GitHub emulator's API description (agent/src/testbed/emulators/github/api.github.com.json): GitHub's
// published OpenAPI document (the @octokit/openapi package, ~385 MB installed) trimmed to the operations the
// emulator serves and the components they reference, so no host and no test installs the whole package.
// Run after adding an operation to the emulator (npm run build first):
//   npm pack @octokit/openapi@VERSION && tar xzf octokit-openapi-VERSION.tgz   (a package/ directory)
//   node agent/scripts/trim-github-openapi.js package/generated/api.github.com.json
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const AGENT = new URL('..', import.meta.url);
const OUT = fileURLToPath(new URL('src/testbed/emulators/github/api.github.com.json', AGENT));
const source = process.argv[2];
if (!source) {
  process.stderr.write('usage: node agent/scripts/trim-github-openapi.js PATH/TO/@octokit/openapi/generated/api.github.com.json\n');
  process.exit(2);
}
const { COMMENT_OPERATIONS } = await import(new URL('dist/src/testbed/emulators/github/comments.js', AGENT).href);
const { STATUS_OPERATIONS } = await import(new URL('dist/src/testbed/emulators/github/statuses.js', AGENT).href);
const served = new Set([...COMMENT_OPERATIONS.keys(), ...STATUS_OPERATIONS.keys()]);

const doc = JSON.parse(readFileSync(source, 'utf8'));
const paths = {};
for (const [template, item] of Object.entries(doc.paths)) {
  const kept = Object.fromEntries(Object.entries(item).filter(([key, op]) => key === 'parameters' || served.has(op?.operationId)));
  if (Object.keys(kept).some((k) => k !== 'parameters')) paths[template] = kept;
}
const found = new Set(Object.values(paths).flatMap((item) => Object.values(item).map((op) => op.operationId ?? '')));
const missing = [...served].filter((id) => !found.has(id));
if (missing.length) {
  process.stderr.write(`GitHub's description has no operation ${missing.join(', ')}\n`);
  process.exit(1);
}

// Every component a kept operation reaches, through $refs of $refs.
const components = {};
const seen = new Set();
function visit(node) {
  if (Array.isArray(node)) return node.forEach(visit);
  if (!node || typeof node !== 'object') return;
  if (typeof node.$ref === 'string' && !seen.has(node.$ref)) {
    seen.add(node.$ref);
    const [, kind, name] = node.$ref.split('/').slice(1);
    const target = doc.components?.[kind]?.[name];
    if (target === undefined) throw new Error(`dangling $ref ${node.$ref}`);
    (components[kind] ??= {})[name] = target;
    visit(target);
  }
  for (const value of Object.values(node)) visit(value);
}
visit(paths);
for (const kind of Object.keys(components)) components[kind] = Object.fromEntries(Object.entries(components[kind]).sort(([a], [b]) => a.localeCompare(b)));

const trimmed = {
  openapi: doc.openapi,
  info: { ...doc.info, description: `${doc.info.description ?? ''} (trimmed to the operations the mirrornet emulator serves)`.trim() },
  paths,
  components,
};
writeFileSync(OUT, `${JSON.stringify(trimmed, null, 2)}\n`);
process.stdout.write(`${OUT}: ${Object.keys(paths).length} paths, ${served.size} operations, ${seen.size} components (from ${doc.info.version})\n`);
