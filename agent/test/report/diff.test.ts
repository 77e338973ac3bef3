// `mirrornet diff` on a real git repository built from the example fleet: a new region (region add
// --write), a link MTU and a Harbor project quota change -> the right sites and items, the Mermaid
// highlights, the address table showing the new block used; the JSON shape; an invalid head; the work tree
// never read or touched.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { parseDocument } from 'yaml';
import { diffRevisions } from '../../src/cli/diff.js';
import { md, mermaidTopology, renderMarkdown, type DiffReport, type SiteDiff } from '../../src/report/diff/index.js';
import { cli, createFleetRepo, type FleetRepo } from './fixture.js';

function wgPublicKey(): string {
  const { publicKey } = generateKeyPairSync('x25519');
  return Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}

function site(report: DiffReport, name: string): SiteDiff {
  const s = report.sites.find((x) => x.site === name);
  assert.ok(s, `${name} is in the diff (sites: ${report.sites.map((x) => x.site).join(', ')})`);
  return s;
}

function items(s: SiteDiff, category: string): string[] {
  return s.changes.filter((c) => c.category === category).map((c) => `${c.action} ${c.id}`);
}

describe('mirrornet diff', function () {
  this.timeout(60_000);
  let repo: FleetRepo;
  let base: string;
  let head: string;

  before(async () => {
    repo = createFleetRepo();
    base = repo.git(['rev-parse', 'HEAD']);
    // 1. a new region, as a user adds one
    const added = await cli(['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'idc', '--write', '--repo', repo.fleet]);
    assert.equal(added.code, 0, added.stderr);
    const doc = parseDocument(repo.read('regions/eu-frankfurt.yaml'));
    doc.setIn(['links', 0, 'local', 'publicKey'], wgPublicKey());
    repo.write('regions/eu-frankfurt.yaml', doc.toString());
    // 2. a link MTU
    repo.replace('regions/cn-hangzhou-idc.yaml', 'mtu: 1420', 'mtu: 1380');
    // 3. a Harbor project quota
    repo.replace('harbor/harbor-ap-singapore.yaml', /(- name: base\n\s+public: true\n\s+quota: )500Gi/, '$11Ti');
    head = repo.commit('eu-frankfurt, a smaller MTU to Hangzhou, more room for base images');
  });
  after(() => repo.cleanup());

  async function report(b = base, h = head): Promise<DiffReport> {
    return diffRevisions(repo.fleet, b, h);
  }

  it('lists every site whose desired state changes, with what is added, changed and removed', async () => {
    const r = await report();
    assert.equal(r.head.valid, true, JSON.stringify(r.head.errors));
    assert.equal(r.compared, true);
    assert.equal(r.changed, true);
    assert.deepEqual(
      r.sites.map((s) => `${s.site} ${s.status}`),
      ['ap-singapore changed', 'cn-beijing changed', 'cn-hangzhou-idc changed', 'eu-frankfurt added'],
    );

    const fra = site(r, 'eu-frankfurt');
    assert.deepEqual(fra.roles, ['gateway', 'node']);
    assert.deepEqual(items(fra, 'tunnels'), ['add ap-singapore--eu-frankfurt']);
    assert.deepEqual(items(fra, 'routes'), ['add 10.128.0.0/16']);
    assert.deepEqual(items(fra, 'containerd'), ['add harbor.sg.mirrornet.internal']);
    assert.ok(items(fra, 'dragonfly').includes('add proxy.server.port'));
    assert.equal(fra.counts.change + fra.counts.remove, 0);
    const tunnel = fra.changes.find((c) => c.category === 'tunnels')!;
    assert.ok(
      tunnel.fields.some((f) => f.field === 'privateKey' && f.after === 'file:/etc/mirrornet/wireguard/eu-frankfurt.key'),
      'secrets only as references',
    );

    const sg = site(r, 'ap-singapore');
    assert.deepEqual(sg.roles, ['gateway', 'hub']);
    assert.deepEqual(items(sg, 'tunnels'), ['add ap-singapore--eu-frankfurt']);
    assert.deepEqual(items(sg, 'routes'), ['add 10.160.0.0/16']);
    assert.deepEqual(items(sg, 'harbor-projects'), ['change base']);
    assert.deepEqual(sg.changes.find((c) => c.category === 'harbor-projects')!.fields, [{ field: 'quota', before: '500Gi', after: '1Ti' }]);
    // the new region's block reaches the core's cloud route table too (the region is behind the gateway ECS)
    assert.ok(items(sg, 'cloud-routes').every((i) => i.startsWith('add ')));

    for (const name of ['cn-beijing', 'cn-hangzhou-idc']) {
      const s = site(r, name);
      assert.deepEqual(
        s.changes.map((c) => [c.category, c.action, c.id, c.fields]),
        [['tunnels', 'change', 'cn-beijing--cn-hangzhou-idc', [{ field: 'mtu', before: '1420', after: '1380' }]]],
        name,
      );
    }

    assert.deepEqual(
      r.links.map((l) => `${l.id} ${l.status}`),
      ['ap-singapore--eu-frankfurt added', 'cn-beijing--cn-hangzhou-idc changed'],
    );
    assert.deepEqual(r.links[1]!.fields, [{ field: 'mtu', before: '1420', after: '1380' }]);
  });

  it('draws the topology with the changed sites and links highlighted', async () => {
    const r = await report();
    const { text } = mermaidTopology(r.topology);
    assert.match(text, /^flowchart LR\n/);
    assert.match(text, /subgraph area_cn\["cn"\]/);
    assert.match(text, /subgraph area_overseas\["overseas"\]/);
    assert.match(text, /s_ap_singapore\{\{"ap-singapore \(changed\)<br\/>core · 10\.128\.0\.0\/16"\}\}/);
    assert.match(text, /classDef added /);
    assert.match(text, /class s_eu_frankfurt added/);
    assert.match(text, /class s_ap_singapore,s_cn_beijing,s_cn_hangzhou_idc changed/);
    const edges = text.split('\n').filter((l) => /\|"/.test(l));
    const added = edges.findIndex((l) => l.includes('s_ap_singapore ===|"wireguard (new)"| s_eu_frankfurt'));
    const changed = edges.findIndex((l) => l.includes('s_cn_beijing ===|"wireguard (changed)"| s_cn_hangzhou_idc'));
    assert.ok(added >= 0 && changed >= 0, text);
    assert.match(text, new RegExp(`linkStyle ${added} stroke:#1a7f37`));
    assert.match(text, new RegExp(`linkStyle ${changed} stroke:#9a6700`));
    assert.ok(
      edges.some((l) => l.includes('s_ap_jakarta ---|"cloud-connect"| s_ap_singapore')),
      'unchanged links drawn plain',
    );
  });

  it('shows the address plan with the new block used and the free runs collapsed', async () => {
    const r = await report();
    const overseas = r.addressPlan.find((a) => a.area === 'overseas')!;
    assert.equal(overseas.supernet, '10.128.0.0/9');
    assert.equal(overseas.blockPrefix, 13);
    const fra = overseas.rows.find((row) => row.cidr === '10.160.0.0/13')!;
    assert.deepEqual(fra, {
      first: '10.160.0.0',
      last: '10.167.255.255',
      cidr: '10.160.0.0/13',
      blocks: 1,
      status: 'used',
      owners: ['eu-frankfurt 10.160.0.0/16'],
      change: 'added',
      before: [],
    });
    const free = overseas.rows.filter((row) => row.status === 'free');
    assert.deepEqual(
      free.map((row) => [row.first, row.last, row.blocks]),
      [['10.168.0.0', '10.247.255.255', 10]],
    );
    assert.deepEqual(overseas.counts, { used: 5, reserved: 1, free: 10, conflict: 0 });
    const cn = r.addressPlan.find((a) => a.area === 'cn')!;
    assert.ok(
      cn.rows.every((row) => !row.change),
      'nothing changes in cn',
    );
    assert.equal(cn.rows[0]!.status, 'reserved');

    const markdown = renderMarkdown(r);
    assert.match(markdown, /\| `10\.160\.0\.0\/13` \| used \| eu-frankfurt 10\.160\.0\.0\/16 \| \*\*new\*\* \|/);
    assert.match(markdown, /\| `10\.168\.0\.0` – `10\.247\.255\.255` \(10 blocks\) \| free \| {2}\| {2}\|$/m);
  });

  it('renders markdown with findings, summary, Mermaid and per-site tables; exit 2 for changes', async () => {
    const res = await cli(['diff', '--repo', repo.fleet, '--base', base, '--head', head, '--format', 'markdown']);
    assert.equal(res.code, 2, res.stderr);
    const out = res.stdout;
    assert.match(out, /^## mirrornet plan: `[0-9a-f]{7}` → `[0-9a-f]{7}`/);
    assert.match(out, /✅ \*\*The fleet is valid\*\*/);
    assert.match(out, /```mermaid\nflowchart LR\n/);
    assert.match(out, /<details><summary><b>eu-frankfurt<\/b> — new region/);
    assert.match(out, /\| ✏️ \| `base` \| `quota`: `500Gi` → `1Ti` \|/);
    assert.match(out, /\| ✏️ \| `cn-beijing--cn-hangzhou-idc` \| `mtu`: `1420` → `1380` \|/);
    assert.match(out, /\*\*Harbor projects\*\*/);
    assert.match(out, /### Address plan/);
    // every <details> closed, every fence closed
    assert.equal((out.match(/<details/g) ?? []).length, (out.match(/<\/details>/g) ?? []).length);
    assert.equal((out.match(/^```/gm) ?? []).length % 2, 0);
  });

  it('prints JSON with a stable shape', async () => {
    const res = await cli(['diff', '--repo', repo.fleet, '--base', base, '--head', head, '--format', 'json']);
    assert.equal(res.code, 2, res.stderr);
    const j = JSON.parse(res.stdout);
    assert.deepEqual(Object.keys(j).sort(), [
      'addressPlan',
      'addressPlanChanged',
      'base',
      'changed',
      'compared',
      'guardrails',
      'guardrailsChanged',
      'head',
      'links',
      'notes',
      'sites',
      'summary',
      'topology',
    ]);
    assert.equal(j.base.sha, base);
    assert.equal(j.head.sha, head);
    assert.equal(j.base.rev, base);
    assert.equal(typeof j.base.errors, 'number');
    assert.ok(Array.isArray(j.head.errors));
    assert.deepEqual(Object.keys(j.sites[0]).sort(), [
      'area',
      'changes',
      'counts',
      'files',
      'notes',
      'provider',
      'restarts',
      'role',
      'roles',
      'site',
      'status',
      'wave',
    ]);
    // The head's policies/rollout.yaml: the new overseas region gets the revision with the overseas wave.
    assert.equal(j.sites.find((s: { site: string }) => s.site === 'eu-frankfurt')?.wave, 'overseas');
    assert.deepEqual(Object.keys(j.sites[0].changes[0]).sort(), ['action', 'category', 'fields', 'id', 'summary']);
    assert.deepEqual(Object.keys(j.topology).sort(), ['edges', 'nodes']);
    assert.deepEqual(Object.keys(j.addressPlan[0]).sort(), [
      'allocation',
      'area',
      'blockPrefix',
      'blockSize',
      'counts',
      'outside',
      'rows',
      'sitePrefix',
      'stride',
      'supernet',
    ]);
  });

  it('exits 0 with no changes between the same revisions, and text output says so', async () => {
    const res = await cli(['diff', '--repo', repo.fleet, '--base', head, '--head', 'HEAD']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /No changes\./);
  });

  it('reads committed revisions only: the work tree is neither read nor touched', async () => {
    repo.replace('regions/us-virginia.yaml', 'mtu: 1400', 'mtu: 1300'); // uncommitted
    const status = repo.git(['status', '--porcelain']);
    try {
      const r = await report();
      assert.ok(!r.sites.some((s) => s.site === 'us-virginia'));
      assert.equal(repo.git(['status', '--porcelain']), status);
      assert.equal(repo.git(['rev-parse', 'HEAD']), head);
    } finally {
      repo.git(['checkout', '--', 'regions/us-virginia.yaml']);
    }
  });

  it('an invalid head: the findings are the report, exit 1', async () => {
    repo.replace('regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16'); // overlaps ap-jakarta
    repo.write('regions/broken.yaml', 'kind: Region\nname: broken\ncidr: [\n');
    const bad = repo.commit('overlap and a syntax error');
    try {
      const md1 = await cli(['diff', '--repo', repo.fleet, '--base', head, '--head', bad, '--format', 'markdown']);
      assert.equal(md1.code, 1);
      assert.match(md1.stderr, /is invalid \(\d+ errors\)/);
      assert.match(md1.stdout, /❌ \*\*The fleet is invalid\*\*/);
      assert.match(md1.stdout, /\| ❌ \| `regions\/us-virginia\.yaml:\d+:\d+` \| `cidr\/overlap` \|/);
      assert.match(md1.stdout, /`yaml\/syntax`/);
      assert.doesNotMatch(md1.stdout, /```mermaid/);
      const json = await cli(['diff', '--repo', repo.fleet, '--base', head, '--head', bad, '--format', 'json']);
      assert.equal(json.code, 1);
      const j = JSON.parse(json.stdout);
      assert.equal(j.compared, false);
      assert.equal(j.head.valid, false);
      assert.ok(j.head.errors.some((e: { rule: string }) => e.rule === 'cidr/overlap'));
    } finally {
      repo.git(['reset', '-q', '--hard', head]);
    }
  });

  it('a removed region: its site, link and block go, drawn dashed', async () => {
    repo.remove('regions/eu-frankfurt.yaml');
    const removed = repo.commit('eu-frankfurt goes');
    try {
      const r = await report(head, removed);
      assert.deepEqual(
        r.sites.map((s) => `${s.site} ${s.status}`),
        ['ap-singapore changed', 'eu-frankfurt removed'],
      );
      assert.ok(site(r, 'eu-frankfurt').changes.every((c) => c.action === 'remove'));
      assert.deepEqual(items(site(r, 'ap-singapore'), 'tunnels'), ['remove ap-singapore--eu-frankfurt']);
      assert.deepEqual(
        r.links.map((l) => `${l.id} ${l.status}`),
        ['ap-singapore--eu-frankfurt removed'],
      );
      const row = r.addressPlan.find((a) => a.area === 'overseas')!.rows.find((x) => x.change)!;
      assert.deepEqual([row.first, row.status, row.change, row.before], ['10.160.0.0', 'free', 'removed', ['eu-frankfurt 10.160.0.0/16']]);
      const { text } = mermaidTopology(r.topology);
      assert.match(text, /s_ap_singapore -\.-\|"wireguard \(removed\)"\| s_eu_frankfurt/);
      assert.match(text, /class s_eu_frankfurt removed/);
    } finally {
      repo.git(['reset', '-q', '--hard', head]);
    }
  });

  it('says which fleet-wide guardrails a change that deletes every region trips, judged by the base, and that its own raise comes later', async () => {
    const r0 = createFleetRepo();
    try {
      const b = r0.git(['rev-parse', 'HEAD']);
      for (const region of ['ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'])
        r0.remove(`regions/${region}.yaml`);
      r0.replace('policies/guardrails.yaml', 'maxSiteRemovals: 2', 'maxSiteRemovals: 100');
      const h = r0.commit('every region goes; the limit goes up with it');
      const r = await diffRevisions(r0.fleet, b, h);
      assert.deepEqual(
        r.guardrails.map((t) => `${t.guardrail} ${t.site ?? 'fleet-wide'}`),
        ['maxSiteRemovals fleet-wide', 'maxLinkRemovals fleet-wide'],
        'the cores each delete fewer resources than maxDeletionsPerApply: only the fleet-wide limits speak',
      );
      assert.equal(
        r.guardrails[0]!.message,
        'This revision removes every region (ap-jakarta, cn-guangzhou, cn-hangzhou-idc, cn-shanghai, eu-amsterdam-idc, us-virginia), which ' +
          'takes the fleet down: refused whatever the limit (maxSiteRemovals: 2 in policies/guardrails.yaml of the revision before it). To ' +
          'remove them on purpose, either mark each `lifecycle: retiring` in its file in a change of its own and let the agents apply it ' +
          'before the change that deletes it, or name them with a reason in policies/acknowledged-removals.yaml in the change that deletes them.',
      );
      assert.deepEqual(r.guardrailsChanged, ['maxSiteRemovals: 2 → 100']);
      const markdown = renderMarkdown(r);
      assert.match(
        markdown,
        /### Guardrails\n\n🛑 \*\*This change would trip 2 guardrails\*\*, judged by the base’s guardrails as the agents will judge it:\n/,
      );
      assert.match(markdown, /^- `maxSiteRemovals` \(fleet-wide: every agent refuses\): This revision removes every region \(ap-jakarta,/m);
      assert.match(markdown, /^- `maxLinkRemovals` \(fleet-wide: every agent refuses\): This revision removes 6 links /m);
      assert.match(
        markdown,
        /^> ℹ️ The guardrails change \(`maxSiteRemovals: 2 → 100`\): they take effect one revision after this change is applied, and this change is judged by the old ones\.$/m,
      );
      const text = await cli(['diff', '--repo', r0.fleet, '--base', b, '--head', h, '--format', 'text']);
      assert.match(text.stdout, /^guardrail maxSiteRemovals: This revision removes every region/m);
    } finally {
      r0.cleanup();
    }
  });

  it('says which site’s agent a change trips maxDeletionsPerApply and protectedDestinations on, by the base’s values', async () => {
    const r0 = createFleetRepo();
    try {
      r0.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 0');
      r0.replace('policies/guardrails.yaml', '  - 10.128.0.0/16\n', '  - 10.128.0.0/16\n  - 10.144.0.0/16\n');
      const b = r0.commit('strict guardrails; the Virginia range is protected');
      r0.remove('regions/us-virginia.yaml');
      const h = r0.commit('us-virginia goes');
      const r = await diffRevisions(r0.fleet, b, h);
      assert.deepEqual(r.guardrails, [
        {
          guardrail: 'maxDeletionsPerApply',
          site: 'ap-singapore',
          message:
            'ap-singapore: its gateway would delete about 1 resource (1 cloud route), more than maxDeletionsPerApply: 0 (policies/guardrails.yaml ' +
            'of the base); its agent will refuse this revision and apply nothing. Raise the limit in a change of its own first, or split this change.',
        },
        {
          guardrail: 'protectedDestinations',
          site: 'ap-singapore',
          message:
            'ap-singapore: its gateway would delete the cloud route to 10.144.0.0/16, a protected destination (policies/guardrails.yaml of the ' +
            'base); its agent will refuse this revision and apply nothing.',
        },
      ]);
      assert.deepEqual(r.guardrailsChanged, []);
      // ap-singapore's own section names them too; us-virginia's says its agents change nothing.
      const sections = renderMarkdown(r).split('<details');
      const sg = sections.find((x) => x.includes('<b>ap-singapore</b>'))!;
      assert.ok(sg.includes('**Guardrails it trips**\n\n- 🛑 `maxDeletionsPerApply`: ap-singapore: its gateway would delete about 1 resource'), sg);
      assert.ok(sg.includes('- 🛑 `protectedDestinations`: ap-singapore: its gateway would delete the cloud route to 10.144.0.0/16'), sg);
      const va = sections.find((x) => x.includes('<b>us-virginia</b>'))!;
      assert.ok(va.includes('> The agents of us-virginia refuse a revision without their site: they change nothing on its hosts'), va);
      assert.ok(!va.includes('```diff'), 'no file diffs for a removed site');
      // The same removal under the example fleet's guardrails trips nothing, and the comment has no guardrail section.
      const relaxed = await diffRevisions(r0.fleet, r0.git(['rev-parse', 'HEAD~2']), h);
      assert.deepEqual(relaxed.guardrails, []);
      assert.doesNotMatch(renderMarkdown(relaxed), /### Guardrails/);
    } finally {
      r0.cleanup();
    }
  });

  it("counts a removal the way the agent's guardrails count it: a region leaving Docker for containerd deletes its Docker mirror setting", async () => {
    const r0 = createFleetRepo();
    try {
      r0.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 0');
      const b = r0.commit('no deletions allowed');
      r0.replace('regions/cn-hangzhou-idc.yaml', 'runtime: docker', 'runtime: containerd');
      const h = r0.commit('Hangzhou moves to containerd');
      const r = await diffRevisions(r0.fleet, b, h);
      assert.deepEqual(items(site(r, 'cn-hangzhou-idc'), 'docker'), ['remove registry-mirrors']);
      assert.deepEqual(r.guardrails, [
        {
          guardrail: 'maxDeletionsPerApply',
          site: 'cn-hangzhou-idc',
          message:
            'cn-hangzhou-idc: its node would delete about 1 resource (1 Docker registry-mirrors setting), more than maxDeletionsPerApply: 0 ' +
            '(policies/guardrails.yaml of the base); its agent will refuse this revision and apply nothing. Raise the limit in a change of its ' +
            'own first, or split this change.',
        },
      ]);
    } finally {
      r0.cleanup();
    }
  });

  it('a fleet in a subdirectory, symlinks that leave it, and an unknown revision', async () => {
    const sub = createFleetRepo({ subdir: 'fleet' });
    try {
      const b = sub.git(['rev-parse', 'HEAD']);
      sub.symlink('../../../etc/hostname', 'regions/evil.yaml');
      sub.replace('regions/us-virginia.yaml', 'mtu: 1400', 'mtu: 1450');
      const h = sub.commit('a symlink out and an MTU');
      const res = await cli(['diff', '--repo', sub.fleet, '--base', b, '--head', h, '--format', 'json']);
      assert.equal(res.code, 1, res.stderr);
      const j = JSON.parse(res.stdout);
      assert.deepEqual(
        j.head.errors.map((e: { rule: string; file: string }) => `${e.rule} ${e.file}`),
        ['file/symlink regions/evil.yaml'],
      );
      sub.remove('regions/evil.yaml');
      const fixed = sub.commit('no symlink');
      const ok = await cli(['diff', '--repo', sub.fleet, '--base', b, '--head', fixed, '--format', 'json']);
      assert.equal(ok.code, 2, ok.stderr);
      // An IPsec link's MTU is not in any host's desired state: no site changes, the link does.
      const jj = JSON.parse(ok.stdout);
      assert.deepEqual(jj.sites, []);
      assert.deepEqual(
        jj.links.map((l: { id: string; status: string }) => `${l.id} ${l.status}`),
        ['ap-singapore--us-virginia changed'],
      );
      const unknown = await cli(['diff', '--repo', sub.fleet, '--base', 'no-such-branch', '--head', fixed]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no-such-branch is not a commit in .*fetch-depth: 0/);
    } finally {
      sub.cleanup();
    }
  });

  it('a base without a fleet (the pull request that adds it): every site is new', async () => {
    const r0 = createFleetRepo();
    try {
      const full = r0.git(['rev-parse', 'HEAD']);
      r0.git(['rm', '-q', '-r', 'hubs', 'regions', 'harbor', 'policies']);
      const empty = r0.commit('no fleet');
      const res = await cli(['diff', '--repo', r0.fleet, '--base', empty, '--head', full, '--format', 'json']);
      assert.equal(res.code, 2, res.stderr);
      const j = JSON.parse(res.stdout);
      assert.ok(j.sites.length >= 8 && j.sites.every((s: { status: string }) => s.status === 'added'));
      assert.match(j.notes[0], /has no fleet yet: everything is new/);
      const back = await cli(['diff', '--repo', r0.fleet, '--base', full, '--head', empty]);
      assert.equal(back.code, 1, 'a head without a fleet is an error');
      assert.match(back.stderr, /has none of hubs\/, regions\/, harbor\/, policies\//);
    } finally {
      r0.cleanup();
    }
  });

  it('cuts a topology of more than 20 sites down to the changed sites and their direct neighbours', () => {
    const nodes = [
      { name: 'core-a', area: 'cn', role: 'hub' as const, cidr: '10.120.0.0/16', status: 'unchanged' as const },
      ...Array.from({ length: 100 }, (_, i) => ({
        name: `r-${i}`,
        area: 'cn',
        role: 'region' as const,
        cidr: `10.${i}.0.0/16`,
        status: (i === 7 ? 'changed' : 'unchanged') as 'changed' | 'unchanged',
      })),
    ];
    const edges = nodes.slice(1).map((n) => ({
      id: `core-a--${n.name}`,
      a: 'core-a',
      b: n.name,
      type: 'wireguard' as const,
      mtu: 1420,
      status: (n.name === 'r-7' ? 'changed' : 'unchanged') as 'changed' | 'unchanged',
    }));
    const { text, hidden } = mermaidTopology({ nodes, edges });
    assert.equal(hidden, 99);
    assert.match(text, /s_core_a\{\{/);
    assert.match(text, /s_r_7\[/);
    assert.doesNotMatch(text, /s_r_8\[/);
    assert.match(text, /linkStyle 0 stroke:#9a6700/);
  });

  it('escapes repository text in markdown', () => {
    assert.equal(md('a | b <!-- mirrornet:plan --> `x` *y*'), 'a \\| b &lt;!-- mirrornet:plan --&gt; \\`x\\` \\*y\\*');
  });
});
