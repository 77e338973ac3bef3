import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../src/cli/main.js';
import { RULES } from '../src/policy/registry.js';
import { registerTestbedCommands } from '../src/testbed/commands.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

describe('the README', () => {
  it('documents every validation rule id with an example', () => {
    const missing = [...RULES.keys()].filter((id) => !readme.includes(`\`${id}\``));
    assert.deepEqual(missing, [], 'rule ids missing from README.md: run `mirrornet rules --format markdown` and paste the table');
  });

  it("mentions every top-level command, the test bed's too", () => {
    const io = { stdout: () => undefined, stderr: () => undefined, color: false };
    const program = buildProgram(io, () => undefined);
    registerTestbedCommands(program, io, () => undefined);
    const missing = program.commands.map((c) => c.name()).filter((name) => !readme.includes(`mirrornet ${name}`));
    assert.deepEqual(missing, []);
  });

  it('keeps the two-command quick start', () => {
    assert.match(readme, /npm install && npm start/);
    assert.match(readme, /npm test/);
  });
});
