// Golden pull-request comments (agent/test/fixtures/plan-comments/*.md, reviewed line by line): what a reviewer
// sees for a new region, a changed mirror setting and a change in a 60-region fleet. Each opens with the
// fleet-wide summary line, holds no secret value (the harbor.yml and WireGuard settings show references), and
// every Mermaid diagram in it parses with the real mermaid package. The comment stays under GitHub's size.
//
// A new case is one entry in CASES: a name (its golden file) and the change to commit on top of the example
// Write a missing or changed golden with MIRRORNET_WRITE_GOLDEN=1, then read the diff of it before committing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { diffRevisions } from '../../src/cli/diff.js';
import { mermaidTopology, renderMarkdown, type DiffReport } from '../../src/report/diff/index.js';
import { mermaidBlocks, parseMermaid } from '../support/mermaid.js';
import { cli, createFleetRepo, type FleetRepo } from './fixture.js';
import { growFleet } from './generated-fleet.js';

const GOLDEN = fileURLToPath(new URL('../../../test/fixtures/plan-comments/', import.meta.url));

/** A fixed WireGuard public key, so the golden does not change from run to run. */
const FRANKFURT_PUBLIC_KEY = 'bWlycm9ybmV0IGdvbGRlbiBmcmFua2Z1cnQga2V5ISE=';

/** Values the secret references of the example fleet resolve to on a host: none may appear in a comment. */
const SECRET_VALUES: Record<string, string> = {
  HARBOR_ADMIN_PASSWORD: 'golden-admin-Pw-81c2',
  HARBOR_DB_PASSWORD: 'golden-db-Pw-5e7a',
  HARBOR_S3_SECRET_KEY: 'golden-s3-Sk-09bd',
  MIRRORNET_PSK_US_VIRGINIA: 'golden-psk-3f4e',
};

interface Case {
  name: string;
  summary: string;
  /** Before the base commit (e.g. a larger fleet). */
  setup?: (repo: FleetRepo) => void;
  change: (repo: FleetRepo) => Promise<void> | void;
}

const CASES: Case[] = [
  {
    name: 'new-region',
    summary: '2 sites change: 21 to add, 0 to change, 0 to destroy.',
    async change(repo) {
      const added = await cli(['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'idc', '--write', '--repo', repo.fleet]);
      assert.equal(added.code, 0, added.stderr);
      const doc = parseDocument(repo.read('regions/eu-frankfurt.yaml'));
      doc.setIn(['links', 0, 'local', 'publicKey'], FRANKFURT_PUBLIC_KEY);
      repo.write('regions/eu-frankfurt.yaml', doc.toString());
    },
  },
  {
    name: 'changed-mirror-setting',
    summary: '1 site changes: 0 to add, 2 to change, 0 to destroy.',
    change(repo) {
      repo.replace('regions/cn-shanghai.yaml', 'dialTimeout: 2s', 'dialTimeout: 5s');
      repo.replace('regions/cn-shanghai.yaml', 'taskTTL: 6h', 'taskTTL: 12h');
    },
  },
  {
    name: 'retiring-region',
    summary: '2 sites change: 0 to add, 1 to change, 16 to destroy.',
    change(repo) {
      repo.replace('regions/ap-jakarta.yaml', 'provider: huaweicloud\n', 'provider: huaweicloud\nlifecycle: retiring\n');
    },
  },
  {
    name: 'fleet-of-60-regions',
    summary: '1 site changes: 0 to add, 2 to change, 0 to destroy.',
    setup: (repo) => growFleet(repo, 60),
    change(repo) {
      repo.replace('regions/gen-overseas-07.yaml', 'proxyPort: 4001', 'proxyPort: 4011');
    },
  },
];

/** The report with its commits named `base` and `head`: a golden does not depend on commit ids. */
function stable(report: DiffReport): DiffReport {
  return { ...report, base: { ...report.base, sha: 'base' }, head: { ...report.head, sha: 'head' } };
}

describe('the pull request comment (golden markdown)', function () {
  this.timeout(120_000);
  const saved = new Map<string, string | undefined>();
  before(() => {
    for (const [k, v] of Object.entries(SECRET_VALUES)) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }
  });
  after(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  for (const c of CASES) {
    it(`${c.name}: matches its golden, opens with "${c.summary}", holds no secret value and only diagrams that parse`, async () => {
      const repo = createFleetRepo();
      try {
        if (c.setup) {
          c.setup(repo);
          repo.commit('setup');
        }
        const base = repo.git(['rev-parse', 'HEAD']);
        await c.change(repo);
        const head = repo.commit(c.name);
        const report = await diffRevisions(repo.fleet, base, head);
        assert.equal(report.head.valid, true, JSON.stringify(report.head.errors));
        const text = renderMarkdown(stable(report), { command: 'mirrornet diff --base base --head head' });

        const file = `${GOLDEN}${c.name}.md`;
        if (process.env['MIRRORNET_WRITE_GOLDEN'] === '1' || !existsSync(file)) writeFileSync(file, text);
        assert.equal(
          text,
          readFileSync(file, 'utf8'),
          `${c.name}.md differs; if the change is intended, rewrite it with MIRRORNET_WRITE_GOLDEN=1 and review it`,
        );

        const whatChanges = text.split('\n').indexOf('### What changes');
        assert.equal(text.split('\n')[whatChanges + 2], `**${c.summary}**`);
        for (const [name, value] of Object.entries(SECRET_VALUES)) assert.ok(!text.includes(value), `the value of ${name} is in the comment`);
        assert.doesNotMatch(text, /PrivateKey = (?!file:|env:)/, 'a WireGuard private key is shown only as its reference');
        assert.ok(text.length < 65_536);
        for (const section of text.split('<details').slice(1)) {
          const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| |') && !l.startsWith('| Block'));
          assert.deepEqual(rows, [...new Set(rows)], 'every row (a cloud route too) appears once in its site');
        }
        const diagrams = mermaidBlocks(text);
        assert.ok(diagrams.length >= 1);
        for (const d of diagrams) await parseMermaid(d);
      } finally {
        repo.cleanup();
      }
    });
  }
});

describe('a core’s harbor.yml in the plan', function () {
  this.timeout(60_000);

  it('shows its secrets as their references, never a value, and names the Harbor restart', async () => {
    const repo = createFleetRepo();
    process.env['HARBOR_DB_PASSWORD'] = SECRET_VALUES['HARBOR_DB_PASSWORD'];
    try {
      const base = repo.git(['rev-parse', 'HEAD']);
      repo.replace('harbor/harbor-ap-singapore.yaml', 'password: env:HARBOR_DB_PASSWORD', 'password: env:HARBOR_DB_PASSWORD_V2');
      repo.replace('harbor/harbor-ap-singapore.yaml', 'port: 5432', 'port: 5433');
      const report = await diffRevisions(repo.fleet, base, repo.commit('a new database password reference and port'));
      const sg = report.sites.find((x) => x.site === 'ap-singapore')!;
      assert.deepEqual(
        sg.files.map((f) => `${f.action} ${f.path}`),
        ['change /opt/harbor/harbor.yml'],
      );
      const lines = sg.files[0]!.diff.split('\n');
      assert.ok(lines.includes('-    password: env:HARBOR_DB_PASSWORD') && lines.includes('+    password: env:HARBOR_DB_PASSWORD_V2'), sg.files[0]!.diff);
      assert.ok(lines.includes('-    port: 5432') && lines.includes('+    port: 5433'), sg.files[0]!.diff);
      assert.ok(lines.includes('     username: harbor'), 'context lines around the change');
      assert.deepEqual(sg.restarts, ['regenerate and restart Harbor (`./prepare && docker compose up -d` in its install directory)']);
      const text = renderMarkdown(report);
      assert.ok(!text.includes(SECRET_VALUES['HARBOR_DB_PASSWORD']!));
      assert.ok(text.includes('- regenerate and restart Harbor (`./prepare && docker compose up -d` in its install directory)'));
    } finally {
      delete process.env['HARBOR_DB_PASSWORD'];
      repo.cleanup();
    }
  });
});

describe('a plan longer than a comment allows', function () {
  this.timeout(60_000);

  it('leaves out the largest sites’ file diffs first, says so in each, and points to the JSON', async () => {
    const repo = createFleetRepo();
    try {
      const base = repo.git(['rev-parse', 'HEAD']);
      await CASES[0]!.change(repo);
      const report = stable(await diffRevisions(repo.fleet, base, repo.commit('eu-frankfurt')));
      const full = renderMarkdown(report);
      const cut = renderMarkdown(report, { maxLength: full.length - 500 });
      assert.ok(cut.length <= full.length - 500, `${cut.length} characters`);
      const [singapore, frankfurt] = cut.split('<details').slice(1);
      assert.match(singapore!, /```diff\n--- \/dev\/null\n\+\+\+ wireguard:/, 'the smaller site keeps its diff');
      assert.doesNotMatch(frankfurt!, /```diff/);
      assert.match(frankfurt!, /`\/etc\/dragonfly\/dfdaemon\.yaml` — new/, 'the files are still named');
      assert.ok(
        frankfurt!.includes(
          "> The diffs of these files are left out to keep this comment under GitHub's size limit: run `mirrornet diff --format json` for them.",
        ),
      );
    } finally {
      repo.cleanup();
    }
  });
});

describe('the diagrams a plan comment can hold (parsed by mermaid)', () => {
  const statuses = ['added', 'changed', 'removed', 'unchanged'] as const;
  const nodes = statuses.flatMap((status, i) => [
    { name: `core-${status}`, area: i % 2 ? 'cn' : 'overseas', role: 'hub' as const, cidr: `10.${120 + i}.0.0/16`, status },
    { name: `r "${status}" <b>|x`, area: 'area with space', role: 'region' as const, cidr: `10.${i}.0.0/16`, status },
  ]);
  const edges = statuses.map((status, i) => ({
    id: `e${i}`,
    a: nodes[2 * i]!.name,
    b: nodes[2 * i + 1]!.name,
    type: 'wireguard' as const,
    mtu: 1420,
    status,
  }));

  it('draws every node shape, status and link style as a diagram mermaid parses', async () => {
    const { text, hidden } = mermaidTopology({ nodes, edges });
    assert.equal(hidden, 0);
    assert.match(text, /classDef removed/);
    assert.match(text, /-\.-/);
    await parseMermaid(text);
  });

  it('a cut-down diagram of a large fleet parses too', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ ...nodes[1]!, name: `r${i}`, status: i === 5 ? ('changed' as const) : ('unchanged' as const) }));
    const links = many.map((n, i) => ({ ...edges[0]!, id: `l${i}`, a: 'core-unchanged', b: n.name, status: 'unchanged' as const }));
    const { text, hidden } = mermaidTopology({ nodes: [nodes[6]!, ...many], edges: links });
    assert.equal(hidden, 29, 'only r5 and its neighbour, the core, are drawn');
    assert.match(text, /s_r5\[/);
    assert.doesNotMatch(text, /s_r6\[/);
    await parseMermaid(text);
  });

  it('the parse fails on a diagram GitHub would show as broken', async () => {
    await assert.rejects(parseMermaid('flowchart LR\n  a["unclosed] --- b'));
  });
});
