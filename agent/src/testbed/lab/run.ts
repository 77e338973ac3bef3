// `lab run` and the image flow on a lab that is up: push fresh test images to the China core, replicate
// them to the other cores through Harbor (the emulator's replication API), pull them on every node of
// every region through its peer and then directly (the baseline), with the bytes each core served per
// region from its registry's access log; and the report with its target (<= 1.1x the image per region).
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labDown } from './down.js';
import {
  buildTestImage,
  fileSize,
  formatBytes,
  missingOnNode,
  parseRegistryLog,
  pullOnNode,
  pushImage,
  readFrom,
  servedTo,
  type PullResult,
  type TestImage,
} from './images.js';
import { registryLog } from './layout.js';
import { LabError, loadState, sleep, type LabState, type NodeRecord } from './processes.js';
import { waitUntil, type Say } from './startup.js';
import { formatTable } from './status.js';
import { siteOf, type LabSite } from './topology.js';
import { labUp, type UpOptions } from './up.js';

export interface RunOptions extends UpOptions {
  /** Size of each test image in bytes (default 16 MiB). */
  imageBytes: number;
  /** Remove the lab when done. */
  down: boolean;
}

export interface PhaseResult {
  served: number;
  requests: number;
  pulled: number;
  ms: number;
  pulls: PullResult[];
  complete: boolean;
}

interface RegionRun {
  region: string;
  core: string;
  nodes: number;
  imageBytes: number;
  mirror: PhaseResult;
  baseline: PhaseResult;
}

export interface RunReport {
  regions: RegionRun[];
  skipped: string[];
  replication: { ms: number; status: string };
  peer: 'dfproxy' | 'registry';
}

async function harborApi(url: string, password: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/api/v2.0${path}`, {
    ...init,
    headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
}

/** Start the source core's replication to the other core and wait for it (as an event-based trigger would). */
async function replicate(state: LabState, from: LabSite, to: LabSite, say: Say): Promise<{ ms: number; status: string }> {
  const h = state.services!.harbors[from.name]!;
  const password = state.secrets['HARBOR_ADMIN_PASSWORD']!;
  const started = Date.now();
  let policy: { id: number; name: string } | undefined;
  await waitUntil(`the replication policy on ${from.name}'s Harbor (made by its hub agent)`, 60_000, async () => {
    const res = await harborApi(h.url, password, '/replication/policies?page_size=100');
    const list = (await res.json()) as { id: number; name: string; dest_registry?: { url?: string } | null; trigger?: { type?: string } }[];
    const dest = state.services!.harbors[to.name]!.url;
    policy = list.find((p) => p.dest_registry?.url === dest && p.trigger?.type === 'event_based') ?? list.find((p) => p.dest_registry?.url === dest);
    return policy !== undefined;
  });
  say(`replication: ${from.name} -> ${to.name} with policy ${policy!.name} (id ${policy!.id})`);
  const res = await harborApi(h.url, password, '/replication/executions', { method: 'POST', body: JSON.stringify({ policy_id: policy!.id }) });
  if (res.status !== 201) throw new LabError(`starting the replication failed: HTTP ${res.status} ${await res.text()}`);
  const location = res.headers.get('location') ?? '';
  const id = Number(location.split('/').pop());
  let status = 'InProgress';
  let text = '';
  await waitUntil('the replication execution', 300_000, async () => {
    const e = (await (await harborApi(h.url, password, `/replication/executions/${id}`)).json()) as { status: string; status_text?: string };
    status = e.status;
    text = e.status_text ?? '';
    return status !== 'InProgress';
  });
  if (status !== 'Succeed') throw new LabError(`the replication ${from.name} -> ${to.name} ended ${status}: ${text}`);
  say(`replication: ${status} in ${((Date.now() - started) / 1000).toFixed(1)} s (${text})`);
  return { ms: Date.now() - started, status };
}

async function pullPhase(state: LabState, region: LabSite, core: LabSite, image: TestImage, hostsDir: (n: NodeRecord) => string): Promise<PhaseResult> {
  const nodes = state.nodes.filter((n) => n.site === region.name);
  const log = registryLog(state.dir, core.name);
  const offset = fileSize(log);
  const ref = `${core.registry!.host}:${core.registry!.port}/${image.repo}:${image.tag}`;
  const t0 = Date.now();
  const pulls = await Promise.all(nodes.map((n) => pullOnNode(region.ns, { name: n.name, socket: n.socket }, ref, hostsDir(n))));
  const ms = Date.now() - t0;
  await sleep(300); // the registry logs a response after it completed
  const served = servedTo(parseRegistryLog(readFrom(log, offset)), region.cidr, image.repo);
  let complete = pulls.every((p) => p.ok);
  for (const n of nodes) if ((await missingOnNode(region.ns, n.socket, image)).length) complete = false;
  return { served: served.bytes, requests: served.requests, pulled: complete ? image.size * nodes.length : 0, ms, pulls, complete };
}

/** Up (after taking down a lab left in the directory), the image flow, and down when asked. */
export async function labRun(opts: RunOptions): Promise<RunReport> {
  const say = opts.say;
  const dir = resolve(opts.dir);
  if (loadState(dir)) {
    say(`A lab is up in ${dir}: taking it down first.`);
    const r = await labDown({ dir, prefix: opts.prefix, say });
    if (r.problems.length) throw new LabError(`lab down left problems: ${r.problems.join('; ')}`);
  }
  const state = await labUp(opts);
  try {
    return await runOn(state, opts);
  } catch (err) {
    if (err instanceof LabError)
      throw new LabError(
        `${err.userMessage}\nThe lab is still up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`,
        { cause: err },
      );
    throw err;
  }
}

async function runOn(state: LabState, opts: RunOptions): Promise<RunReport> {
  const report = await labPulls(state, { imageBytes: opts.imageBytes, say: opts.say });
  if (opts.down) await labDown({ dir: state.dir, say: opts.say });
  return report;
}

/**
 * The image flow on a lab that is up: push two fresh test images to the China core, replicate them to
 * the other cores, pull them on every node of every region through its peer and then directly (the
 * baseline), with the bytes each core served per region.
 */
export async function labPulls(state: LabState, opts: { imageBytes: number; say: Say }): Promise<RunReport> {
  const say = opts.say;
  const t = state.topology!;
  const cores = t.sites.filter((s) => s.role === 'hub');
  // CI pushes in China: to the core of the `cn` area (the Harbor that replicates), else the first core.
  const source = cores.find((c) => c.area === 'cn') ?? cores[0]!;
  const stamp = Date.now().toString(36);
  const mirrorImage = await labPushImage(state, source.name, { tag: `mirror-${stamp}`, bytes: opts.imageBytes });
  const directImage = await labPushImage(state, source.name, { tag: `direct-${stamp}`, bytes: opts.imageBytes });
  say(
    `images: pushed ${mirrorImage.repo}:${mirrorImage.tag} and :${directImage.tag} (${formatBytes(mirrorImage.size)} each, random layers) ` +
      `to ${source.name} ${source.registry!.url}`,
  );
  let replication = { ms: 0, status: 'none' };
  for (const other of cores.filter((c) => c !== source)) replication = await replicate(state, source, other, say);
  const regions: RegionRun[] = [];
  const skipped: string[] = [];
  for (const r of t.sites.filter((s) => s.role === 'region')) {
    if (!r.registrySite) {
      skipped.push(`${r.name}: mirrors Docker Hub only (Docker's registry-mirrors cannot mirror a Harbor), so it has no lab pulls`);
      continue;
    }
    if (!r.nodes.length) {
      skipped.push(`${r.name}: ${r.runtime === 'docker' ? 'Docker nodes (registry-mirrors covers Docker Hub only)' : 'no nodes'}`);
      continue;
    }
    const core = siteOf(t, r.registrySite);
    say(`pulls: ${r.name} (${r.nodes.length} nodes, from ${core.name}) through its peer, then directly ...`);
    const mirror = await labPull(state, r.name, mirrorImage, 'peer');
    const baseline = await labPull(state, r.name, directImage, 'direct');
    regions.push({ region: r.name, core: core.name, nodes: r.nodes.length, imageBytes: mirrorImage.size, mirror, baseline });
  }
  return { regions, skipped, replication, peer: state.peer };
}

/**
 * Pull an image that is in a region's core registry on every node of the region, through the region's
 * peer (the node agents' hosts.toml) or directly (no mirror settings: the baseline); the bytes the core
 * served to the region for the image's repository, from the core registry's access log.
 */
export async function labPull(state: LabState, region: string, image: TestImage, via: 'peer' | 'direct'): Promise<PhaseResult> {
  const t = state.topology!;
  const r = siteOf(t, region);
  if (!r.registrySite) throw new LabError(`${region} mirrors no Harbor of the lab: nothing to pull`);
  const core = siteOf(t, r.registrySite);
  const empty = join(state.dir, 'no-mirror');
  mkdirSync(empty, { recursive: true });
  return pullPhase(state, r, core, image, via === 'peer' ? (n) => n.hostsDir : () => empty);
}

/** Build a fresh test image (random layers) and push it to a core's registry. */
export async function labPushImage(state: LabState, core: string, opts: { tag: string; bytes: number }): Promise<TestImage> {
  const c = siteOf(state.topology!, core);
  if (!c.registry) throw new LabError(`${core} is not a core: it has no registry`);
  const image = buildTestImage(join(state.dir, 'images', opts.tag), { tag: opts.tag, bytes: opts.bytes });
  await pushImage(c.ns, c.registry.url, image);
  return image;
}

/** The target: a core serves at most this many times the image to a region (through its peer). */
export const TARGET_RATIO = 1.1;

/** The report as text: per region, the bytes served through the peer and without it. */
export function formatRun(r: RunReport): string {
  const out: string[] = [];
  const peer =
    r.peer === 'dfproxy' ? "the region's peer (dfdaemon's proxy rule: blobs once per region)" : "the region's peer (distribution's pull-through cache)";
  for (const x of r.regions) {
    const ratio = (p: PhaseResult) => `${(p.served / x.imageBytes).toFixed(2)}x`;
    const pulled = (p: PhaseResult) => (p.complete ? formatBytes(p.pulled) : 'INCOMPLETE');
    out.push(`${x.region}: ${x.nodes} nodes pull ${formatBytes(x.imageBytes)} from ${x.core}`);
    out.push(
      formatTable([
        ['', 'nodes', 'core served', 'pulled by nodes', 'ratio', 'pull time'],
        ['through peer', String(x.nodes), formatBytes(x.mirror.served), pulled(x.mirror), ratio(x.mirror), `${(x.mirror.ms / 1000).toFixed(2)} s`],
        ['baseline', String(x.nodes), formatBytes(x.baseline.served), pulled(x.baseline), ratio(x.baseline), `${(x.baseline.ms / 1000).toFixed(2)} s`],
      ]),
    );
    const ok = x.mirror.complete && x.mirror.served <= TARGET_RATIO * x.imageBytes;
    out.push(
      `  target: the core serves <= ${TARGET_RATIO}x the image per region: ${ok ? 'PASS' : 'MISS'} ` +
        `(${ratio(x.mirror)} through the peer, ${ratio(x.baseline)} without)`,
    );
    for (const p of [...x.mirror.pulls, ...x.baseline.pulls].filter((p) => !p.ok)) out.push(`  pull failed on ${p.node}: ${p.error}`);
    out.push('');
  }
  for (const s of r.skipped) out.push(`not pulled: ${s}`);
  out.push(`Pulls go through ${peer}; the baseline pulls the same size of image with the mirror settings removed (no hosts.toml), straight from the core.`);
  return `${out.join('\n')}\n`;
}

/** Every region pulled completely, both ways, and met the target. */
export function runPassed(r: RunReport): boolean {
  return r.regions.length > 0 && r.regions.every((x) => x.mirror.complete && x.baseline.complete && x.mirror.served <= TARGET_RATIO * x.imageBytes);
}
