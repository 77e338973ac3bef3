// policies/agent.yaml: the schema and its findings (with file and line), the lenient read an agent makes before
// validating, when a mirrornet is too old for a revision and the sentence that says so; and the PR diff's data
// and lines when a change raises what it needs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDeclared } from '../../src/model/compatibility-file.js';
import { tooOldFor, tooOldSentence } from '../../src/model/compatibility.js';
import { validateFiles } from '../../src/policy/validate.js';
import { compatibilityChange, compatibilityLines } from '../../src/report/diff/compatibility.js';
import type { VirtualFile } from '../../src/model/loader.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** The example fleet's files, with policies/agent.yaml replaced by `agent` (absent: left out), plus `extra`. */
function fleetWith(agent: string | undefined, extra: VirtualFile[] = []): VirtualFile[] {
  const files: VirtualFile[] = [];
  for (const dir of ['hubs', 'regions', 'harbor', 'policies']) {
    for (const name of readdirSync(join(repoRoot, dir)).sort()) {
      const path = `${dir}/${name}`;
      if (path === 'policies/agent.yaml') continue;
      files.push({ path, content: readFileSync(join(repoRoot, path), 'utf8') });
    }
  }
  if (agent !== undefined) files.push({ path: 'policies/agent.yaml', content: agent });
  return [...files, ...extra];
}

const declaration = (min: string, schema = 1) => `kind: AgentCompatibility\nname: agent\nminAgentVersion: ${min}\nschemaVersion: ${schema}\n`;

const agent020 = { version: '0.2.0', reads: 1 };

describe('policies/agent.yaml: which mirrornet a revision needs', () => {
  it('the example fleet declares minimum 0.2.0 and schema 1, and is valid', () => {
    assert.deepEqual(readDeclared(readFileSync(join(repoRoot, 'policies/agent.yaml'), 'utf8')), { minAgentVersion: '0.2.0', schemaVersion: 1 });
    const report = validateFiles(fleetWith(readFileSync(join(repoRoot, 'policies/agent.yaml'), 'utf8')));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.fleet.policies.compatibility?.value, { kind: 'AgentCompatibility', name: 'agent', minAgentVersion: '0.2.0', schemaVersion: 1 });
  });

  it('a version that is not major.minor.patch, a schema below 1 and an unknown key are findings with their line', () => {
    const report = validateFiles(fleetWith('kind: AgentCompatibility\nname: agent\nminAgentVersion: v0.3\nschemaVersion: 0\nminVersion: 1\n'));
    assert.deepEqual(
      report.errors.map((e) => [e.rule, e.file, e.line, e.message]),
      [
        [
          'schema/range',
          'policies/agent.yaml',
          3,
          'minAgentVersion: must be a version such as 0.2.0 (major.minor.patch, no "v", quoted if YAML reads it as a number).',
        ],
        ['schema/range', 'policies/agent.yaml', 4, 'schemaVersion must be at least 1; got 0.'],
        [
          'schema/unknown-key',
          'policies/agent.yaml',
          5,
          'Unknown key "minVersion" in (top level). Allowed here: kind, name, description, minAgentVersion, schemaVersion.',
        ],
      ],
    );
  });

  it('a declaration anywhere but policies/agent.yaml is a compatibility/location error (agents read only that file)', () => {
    const report = validateFiles(
      fleetWith(undefined, [{ path: 'policies/versions.yaml', content: declaration('0.2.0').replace('name: agent', 'name: versions') }]),
    );
    assert.deepEqual(
      report.errors.map((e) => [e.rule, e.file, e.line, e.message]),
      [
        [
          'compatibility/location',
          'policies/versions.yaml',
          1,
          'An AgentCompatibility declaration is read from policies/agent.yaml only (an agent reads that one file before it validates a revision): ' +
            'move it there from policies/versions.yaml.',
        ],
      ],
    );
  });

  it('is read leniently before validating: keys a later format adds are ignored, an unusable value counts as undeclared', () => {
    assert.deepEqual(readDeclared(`${declaration('0.3.0', 2)}rolloutWaves: [canary]\n`), { minAgentVersion: '0.3.0', schemaVersion: 2 });
    assert.deepEqual(readDeclared('minAgentVersion: 1.2\nschemaVersion: two\n'), {});
    assert.equal(readDeclared('minAgentVersion: [unclosed\n'), undefined);
    assert.equal(readDeclared('- a list\n'), undefined);
    assert.equal(readDeclared(undefined), undefined);
  });

  it('an agent is too old for a newer minimum or a higher schema, never for its own version, an older one or nothing declared', () => {
    assert.equal(tooOldFor('revision x', { minAgentVersion: '0.2.0', schemaVersion: 1 }, agent020), undefined);
    assert.equal(tooOldFor('revision x', { minAgentVersion: '0.1.5' }, agent020), undefined);
    assert.equal(tooOldFor('revision x', {}, agent020), undefined);
    assert.equal(tooOldFor('revision x', undefined, agent020), undefined);
    const newer = tooOldFor('revision 0123456789ab', { minAgentVersion: '0.3.0', schemaVersion: 2 }, agent020)!;
    assert.equal(tooOldSentence(newer), 'revision 0123456789ab needs mirrornet ≥ 0.3.0 (repository schema 2); this agent is 0.2.0 (reads repository schema 1)');
    const schemaOnly = tooOldFor('revision 0123456789ab', { schemaVersion: 2 }, agent020)!;
    assert.equal(
      tooOldSentence(schemaOnly, 'this mirrornet'),
      'revision 0123456789ab needs mirrornet ≥ 0.0.0 (repository schema 2); this mirrornet is 0.2.0 (reads repository schema 1)',
    );
  });
});

describe('the PR diff: a change that needs a newer agent than the base declared', () => {
  const fleetOf = (agent: string | undefined) => validateFiles(fleetWith(agent)).fleet;

  it('base 0.2.0 -> head 0.3.0: the data says it needs a newer agent, and the comment warns with both versions', () => {
    const change = compatibilityChange(fleetOf(declaration('0.2.0')), fleetOf(declaration('0.3.0')));
    assert.deepEqual(change, {
      base: { minAgentVersion: '0.2.0', schemaVersion: 1 },
      head: { minAgentVersion: '0.3.0', schemaVersion: 1 },
      needsNewerAgent: true,
      schemaRaised: false,
    });
    assert.deepEqual(compatibilityLines(change, 'markdown'), [
      '> [!WARNING]',
      '> **Needs a newer agent.** This change sets `minAgentVersion` from 0.2.0 to 0.3.0 in `policies/agent.yaml`. It needs mirrornet ≥ 0.3.0: ' +
        'every agent still older refuses it (status `agent-too-old`, `agent --once` exit code 4) and keeps the revision it applied. ' +
        "This assumes the fleet runs at least the base's minimum (0.2.0); merge it only once every agent runs the new version " +
        '(upgrade them wave by wave first).',
      '',
    ]);
  });

  it('a raised schema warns too; a lowered minimum only informs; no change says nothing', () => {
    const raised = compatibilityChange(fleetOf(declaration('0.2.0')), fleetOf(declaration('0.2.0', 2)));
    assert.equal(raised?.schemaRaised, true);
    assert.equal(raised?.needsNewerAgent, false);
    assert.deepEqual(compatibilityLines(raised, 'text'), [
      'warning: needs a newer agent: This change sets schemaVersion from 1 to 2 in policies/agent.yaml. It needs an agent that reads repository ' +
        'schema 2: every agent still older refuses it (status agent-too-old, agent --once exit code 4) and keeps the revision it applied. ' +
        "This assumes the fleet runs at least the base's minimum (0.2.0); merge it only once every agent runs the new version " +
        '(upgrade them wave by wave first).',
    ]);
    const lowered = compatibilityChange(fleetOf(declaration('0.2.0')), fleetOf(declaration('0.1.0')));
    assert.deepEqual(compatibilityLines(lowered, 'text'), ['compatibility: This change sets minAgentVersion from 0.2.0 to 0.1.0 in policies/agent.yaml.']);
    assert.equal(compatibilityChange(fleetOf(declaration('0.2.0')), fleetOf(declaration('0.2.0'))), undefined);
    assert.deepEqual(compatibilityLines(undefined, 'markdown'), []);
  });
});
