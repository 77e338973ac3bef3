// Decommission in the lab (root + Debian packages; issue 14): the smallest lab that shows it — both cores and
// ap-jakarta (a Huawei Cloud region, so its routes are also in the VPC emulator's tables), one node — on the
// git path (every agent clones the origin) and on the bundle path (the site's signed layer carries it). A
// commit marks ap-jakarta `lifecycle: retiring` and is pushed as a user would: the region's agents remove
// everything but their uplink, report retired over it, then remove the uplink and end (the lab counts them
// retired, not down); its core still has its side (route, tunnel, cloud route). Then the change that deletes
// its file validates against that revision and is pushed: afterwards no host has a route or tunnel to
// 10.136.0.0/16, no cloud route table one, and the region's hosts hold no file its agents wrote.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listModelFiles } from '../../src/model/loader.js';
import { validateFiles } from '../../src/policy/validate.js';
import { agentState } from '../../src/testbed/lab/agents.js';
import { fleetSites, selectSites } from '../../src/testbed/lab/fleet-sites.js';
import { labDown } from '../../src/testbed/lab/down.js';
import { originHead } from '../../src/testbed/lab/origin.js';
import { missingForLab } from '../../src/testbed/lab/preflight.js';
import { isSame, listNamespaces, loadState, pidsUsingDir, type LabState } from '../../src/testbed/lab/processes.js';
import { formatStatus, labStatus } from '../../src/testbed/lab/status.js';
import { coreUrls } from '../../src/testbed/lab/site-tree.js';
import { labTopology } from '../../src/testbed/lab/topology.js';
import { labUp } from '../../src/testbed/lab/up.js';
import { need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { agentRoutes, busyLabInterface, sh, waitFor } from './helpers.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');
const REGION = 'ap-jakarta';
const CIDR = '10.136.0.0/16';

/** Every file under `dir`, relative, that an agent writes on a host: hosts.toml under certs.d, dfdaemon.yaml, daemon.json. */
function agentFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/(^|\/)(hosts\.toml|dfdaemon\.yaml|daemon\.json)$/.test(p)) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** The routes of every table of the lab's VPC emulator (its state file, services/vpc-state.json), as `table destination description`. */
function cloudRoutes(dir: string): string[] {
  const state = JSON.parse(readFileSync(join(dir, 'services', 'vpc-state.json'), 'utf8')) as {
    projects: Record<string, { routetables: { id: string; routes: { destination: string; description?: string }[] }[] }>;
  };
  return Object.values(state.projects)
    .flatMap((p) => p.routetables.flatMap((t) => t.routes.map((r) => `${t.id} ${r.destination} ${r.description ?? ''}`)))
    .sort();
}

/** The same decommission on both delivery paths: git (every agent clones) and signed bundles (the site's layer). */
for (const delivery of ['git', 'bundle'] as const) {
  describe(`lab: a region retired as carefully as it was added (root, ${delivery} delivery)`, function () {
    this.timeout(300_000);
    const prefix = `mnr${process.pid.toString(36)}`;
    let dir = '';
    let work = '';
    let clone = '';
    let allowedBefore: string | undefined;
    const lines: string[] = [];
    const say = (l: string) => lines.push(`${new Date().toISOString().slice(11, 23)} ${l}`);
    const state = (): LabState => loadState(dir)!;
    const mirrornet = (...args: string[]) => sh(process.execPath, [CLI, ...args], { allowFail: true });

    before(async function () {
      this.timeout(180_000);
      const missing = missingForLab();
      need(
        this,
        missing.reasons.length
          ? `${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install ${missing.packages.join(' ')})` : ''}`
          : undefined,
      );
      const busy = busyLabInterface(repoRoot, [REGION]);
      need(this, busy ? `a lab with the same sites is up on this machine (${busy} exists): run \`mirrornet lab down\` first` : undefined);
      // The lab owns its cores' registry addresses while it is up: publishing the first bundle reaches them from here.
      allowedBefore = process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
      const topology = labTopology(selectSites(fleetSites(validateFiles(listModelFiles(repoRoot).files).fleet), [REGION]), { prefix, nodes: 1 });
      const cores = topology.sites.filter((s) => s.role === 'hub').map((s) => s.lan);
      process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = [...(allowedBefore ? [allowedBefore] : []), ...cores].join(',');
      dir = mkdtempSync(join(tmpdir(), 'mn-retire-'));
      work = mkdtempSync(join(tmpdir(), 'mn-retire-work-'));
      await labUp({
        repo: repoRoot,
        dir,
        nodes: 1,
        sites: [REGION],
        prefix,
        peer: 'dfproxy',
        interval: '5s',
        pushWebhook: true,
        delivery,
        say,
        timeoutMs: 120_000,
      });
      clone = join(work, 'clone');
      await git(work, ['clone', '-q', state().origin, clone]);
    });

    after(async function () {
      this.timeout(60_000);
      if (allowedBefore === undefined) delete process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
      else process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = allowedBefore;
      if (!dir) return;
      const failed = (this.test?.parent?.tests ?? []).some((t) => t.state === 'failed');
      const r = await labDown({ dir, prefix, say });
      if (failed || r.problems.length || process.env['MIRRORNET_LAB_VERBOSE']) process.stderr.write(`${lines.join('\n')}\n`);
      if (work) rmSync(work, { recursive: true, force: true });
      assert.deepEqual(r.problems, [], 'lab down problems');
      assert.deepEqual(
        listNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
        [],
      );
      assert.deepEqual(pidsUsingDir(dir), [], 'no process left');
    });

    it('retiring ap-jakarta: its agents report retired over the uplink, then drop it and end; deleting its file drops the core’s side', async function () {
      const head = (await originHead(state()))!;
      await waitFor('every agent applied the origin', 60_000, () => state().agents.every((a) => agentState(a)?.appliedRevision === head));
      const sites = state().topology!.sites;
      const jakarta = sites.find((s) => s.name === REGION)!;
      assert.equal(jakarta.cidr, CIDR);
      const mine = state().agents.filter((a) => a.site === REGION);
      assert.deepEqual(
        mine.map((a) => a.role),
        ['gateway', 'node'],
      );
      // Before: the core routes 10.136.0.0/16 into its tunnel and its cloud table; the region's node has its files.
      assert.ok(agentRoutes(`${prefix}-ap-singapore`).some((r) => r.startsWith(`${CIDR} `)));
      assert.ok(
        cloudRoutes(dir).some((r) => r.includes(` ${CIDR} `)),
        cloudRoutes(dir).join('\n'),
      );
      const node = mine.find((a) => a.role === 'node')!;
      assert.ok(agentFiles(node.root).length > 0, 'the node agent wrote hosts.toml and dfdaemon.yaml');

      const file = `regions/${REGION}.yaml`;
      const text = readFileSync(join(clone, file), 'utf8');
      assert.match(text, /^kind: Region$/m);
      writeFileSync(join(clone, file), text.replace(/^kind: Region$/m, 'kind: Region\nlifecycle: retiring'));
      assert.equal(mirrornet('validate', '--repo', clone, '--base', head).code, 0);
      await git(clone, ['commit', '-q', '-am', `${REGION} is retiring`]);
      await git(clone, ['push', '-q', 'origin', 'main']);
      const retiring = await git(clone, ['rev-parse', 'HEAD']);
      const t0 = Date.now();

      // Every other agent applies it; the region's agents retire and end.
      const others = state().agents.filter((a) => a.site !== REGION);
      await waitFor(
        'the other sites applied the retiring revision and the region retired',
        90_000,
        () =>
          others.every((a) => agentState(a)?.appliedRevision === retiring) &&
          mine.every((a) => agentState(a)?.retired?.revision === retiring && agentState(a)?.retired?.uplinkRemoved !== undefined),
        async () => formatStatus((await labStatus(dir))!),
      );
      for (const a of state().agents) {
        const s = agentState(a)!;
        const at = s.retired?.at ?? s.appliedAt;
        say(`(test) ${a.node ?? a.site} ${s.retired ? 'retired' : 'applied'} ${at ? ((Date.parse(at) - t0) / 1000).toFixed(1) : '?'} s after the push`);
      }
      const procs = mine.map((a) => state().processes.find((p) => p.name === `agent ${a.node ?? a.site}`)!);
      await waitFor('the region’s agents ended on their own', 30_000, () => procs.every((p) => !isSame(p)));
      say(`(test) ${REGION} retired and its agents ended ${((Date.now() - t0) / 1000).toFixed(1)} s after the push`);

      // Its core still has its side of the uplink (route, tunnel, cloud route); nobody else routes to it, and
      // nothing is left in its own namespace or of it in the cloud.
      const core = sites.find((x) => x.name === 'ap-singapore')!;
      for (const s of sites.filter((x) => x.name !== REGION && x.name !== core.name)) {
        assert.deepEqual(
          agentRoutes(s.ns).filter((r) => r.startsWith(`${CIDR} `)),
          [],
          `${s.name} has no route to ${CIDR}`,
        );
      }
      assert.equal(agentRoutes(core.ns).filter((r) => r.startsWith(`${CIDR} `)).length, 1, `${core.name} keeps its route to ${CIDR}`);
      assert.deepEqual(agentRoutes(jakarta.ns), [], `${REGION} has no route left`);
      let status = (await labStatus(dir))!;
      const tunnelsOf = (st: typeof status) => st.tunnels.filter((x) => x.site === REGION || x.peer === REGION);
      assert.ok(
        tunnelsOf(status).some((x) => x.site === core.name && x.exists),
        `${core.name} keeps its tunnel to ${REGION}: ${formatStatus(status)}`,
      );
      assert.ok(
        tunnelsOf(status).every((x) => x.site !== REGION || !x.exists),
        `no tunnel of ${REGION}: ${formatStatus(status)}`,
      );
      const toRegion = cloudRoutes(dir).filter((r) => r.includes(` ${CIDR} `) || r.includes(`mirrornet:${REGION}`));
      assert.ok(toRegion.length > 0, cloudRoutes(dir).join('\n'));
      assert.ok(
        toRegion.every((r) => r.includes(` ${CIDR} mirrornet:${core.name} `)),
        toRegion.join('\n'),
      );
      // Its hosts hold no file the agents wrote.
      for (const a of mine) assert.deepEqual(agentFiles(a.root), [], `${a.node ?? a.site} has no file the agent wrote`);
      // Each ended by itself, cleanly: its one-line retired message, no error and no forced exit in its log.
      for (const [i, p] of procs.entries()) {
        const log = readFileSync(p.log, 'utf8').split('\n');
        assert.deepEqual(
          log.filter((l) => l.startsWith('mirrornet:')),
          [
            `mirrornet: ${REGION} is retired (revision ${retiring.slice(0, 12)}): everything this agent created is removed; nothing left to do. ` +
              `To bring the site back, set lifecycle: active and remove ${mine[i]!.stateDir}/state.json before starting the agent again.`,
          ],
          `${p.name}: ${log.slice(-6).join('\n')}`,
        );
        assert.deepEqual(
          log.filter((l) => /"level":(50|60)|did not finish stopping/.test(l)),
          [],
          `${p.name}: ${log.slice(-6).join('\n')}`,
        );
      }
      // The lab counts them retired, not down.
      status = (await labStatus(dir))!;
      assert.deepEqual(
        status.agents.filter((a) => a.site === REGION).map((a) => [a.running, a.retired]),
        [
          [false, retiring],
          [false, retiring],
        ],
      );
      assert.match(formatStatus(status), new RegExp(`^  ${REGION} +gateway +retired `, 'm'));

      // The cores hear the whole site retired (its gateway waited for its node): `mirrornet status` shows every host retired, exit 0.
      const operator = sh(
        process.execPath,
        [CLI, 'status', '--site', REGION, ...coreUrls(state()).flatMap((u) => ['--core', u]), '--key', state().operator!.key],
        { allowFail: true },
      );
      assert.equal(operator.code, 0, operator.out);
      const rows = operator.stdout.split('\n').filter((l) => l.startsWith(`${REGION} `));
      assert.equal(rows.length, 2, operator.out);
      assert.ok(
        rows.every((r) => r.trimEnd().endsWith(' retired')),
        operator.out,
      );
      assert.match(operator.stdout, new RegExp(`^${REGION}: retired: its agents removed everything they created; its file may be deleted$`, 'm'));

      // Now the file may go: compared with the retiring revision it validates; compared with the one before, it does not.
      rmSync(join(clone, file));
      assert.equal(mirrornet('validate', '--repo', clone, '--base', retiring).code, 0);
      const early = mirrornet('validate', '--repo', clone, '--base', head);
      assert.equal(early.code, 1);
      assert.match(early.out, /guardrails\/not-retired/);
      await git(clone, ['commit', '-q', '-am', `${REGION} is gone`]);
      await git(clone, ['push', '-q', 'origin', 'main']);
      const deleted = await git(clone, ['rev-parse', 'HEAD']);
      await waitFor(
        'the other sites applied the deletion',
        90_000,
        () => others.every((a) => agentState(a)?.appliedRevision === deleted),
        async () => formatStatus((await labStatus(dir))!),
      );

      // Its neighbours dropped their side: no route, tunnel or cloud route to it anywhere; its hosts keep no file the agents wrote.
      for (const s of sites) {
        assert.deepEqual(
          agentRoutes(s.ns).filter((r) => r.startsWith(`${CIDR} `)),
          [],
          `${s.name} has no route to ${CIDR}`,
        );
      }
      status = (await labStatus(dir))!;
      assert.ok(
        tunnelsOf(status).every((x) => !x.exists),
        `no tunnel to or of ${REGION}: ${formatStatus(status)}`,
      );
      assert.deepEqual(
        cloudRoutes(dir).filter((r) => r.includes(` ${CIDR} `) || r.includes(`mirrornet:${REGION}`)),
        [],
      );
      for (const a of mine) assert.deepEqual(agentFiles(a.root), [], `${a.node ?? a.site} has no file the agent wrote`);
    });
  });
}
