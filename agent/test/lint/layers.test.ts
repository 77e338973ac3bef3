// The layer boundaries are enforced by ESLint (eslint.config.js): an import that crosses a layer the wrong
// way is an error, and the README's layer table says exactly what the configuration enforces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

interface Layer {
  type: string;
  pattern: string;
  may: string[];
}

/** The boundary findings ESLint reports for `code` as if it were the file at `path` (relative to the repository). */
async function boundaryErrors(eslint: ESLint, path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId?.startsWith('boundaries/')).map((m) => m.message);
}

describe('layer boundaries (eslint.config.js)', function () {
  this.timeout(60_000);
  let eslint: ESLint;
  before(() => {
    eslint = new ESLint({ cwd: repoRoot });
  });

  it('refuses product code that imports the test bed', async () => {
    const errors = await boundaryErrors(eslint, 'agent/src/reconcile/example.ts', "export { labUp } from '../testbed/lab/up.js';\n");
    assert.deepEqual(errors, ['There is no policy allowing dependencies from elements of type "reconcile" to elements of type "testbed"']);
  });

  it('refuses an import upwards: policy may not use report, model may not use net', async () => {
    assert.deepEqual(await boundaryErrors(eslint, 'agent/src/policy/example.ts', "export { createChatDispatcher } from '../report/chat/index.js';\n"), [
      'There is no policy allowing dependencies from elements of type "policy" to elements of type "report"',
    ]);
    assert.deepEqual(await boundaryErrors(eslint, 'agent/src/model/example.ts', "export { parseCidr } from '../net/cidr.js';\n"), [
      'There is no policy allowing dependencies from elements of type "model" to elements of type "net"',
    ]);
  });

  it('refuses a provider that imports another provider, and allows the provider contract', async () => {
    const code = "export { wireguardProvider } from '../wireguard/index.js';\nexport type { Provider } from '../types.js';\n";
    assert.deepEqual(await boundaryErrors(eslint, 'agent/src/providers/docker/example.ts', code), [
      'There is no policy allowing dependencies from elements of type "provider" and captured values: id="docker" ' +
        'to elements of type "provider" and captured values: id="wireguard"',
    ]);
  });

  it('allows imports downwards', async () => {
    assert.deepEqual(await boundaryErrors(eslint, 'agent/src/reconcile/example.ts', "export { compile } from '../desired/compile.js';\n"), []);
  });

  it('refuses the CLI any import of the test bed: static, import() or a type (agent/bin/mirrornet.js adds its commands)', async () => {
    const refused = ['There is no policy allowing dependencies from elements of type "cli" to elements of type "testbed"'];
    for (const code of [
      "export { registerTestbedCommands } from '../testbed/commands.js';\n",
      "export const load = () => import('../testbed/commands.js');\n",
      "export type Options = import('../testbed/cli/start.js').StartOptions;\n",
    ]) {
      assert.deepEqual(await boundaryErrors(eslint, 'agent/src/cli/example.ts', code), refused, code);
    }
  });

  it('README.md lists exactly the layers and imports that eslint.config.js enforces', async () => {
    const { LAYERS } = (await import(pathToFileURL(join(repoRoot, 'eslint.config.js')).href)) as { LAYERS: Layer[] };
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- layers:begin -->'), readme.indexOf('<!-- layers:end -->'));
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map(([, type, pattern, may]) => ({
        type: type!.replace(/`/g, ''),
        pattern: pattern!.replace(/`/g, ''),
        may: may === '—' ? [] : may!.split(', '),
      }));
    assert.ok(rows.length >= 10, 'the README has the layer table');
    assert.deepEqual(rows, LAYERS);
  });
});
