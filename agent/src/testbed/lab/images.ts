// Images in the lab: build a test image (random layers, so no cache anywhere has them), push it to a
// core's real registry from inside the core's namespace, pull it on a region's containerd nodes with
// `ctr content fetch --hosts-dir` (the hosts.toml the node agents wrote, or none for the baseline), and
// count the bytes a core's registry served from its JSON access log.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './processes.js';
import { REGISTRY_TOOL, type LayoutIndex } from './registry-tool.js';

const LAB_REPOSITORY = 'library/mirrornet-lab';
const CTR_NAMESPACE = 'mirrornet-lab';

export interface TestImage {
  layout: string;
  repo: string;
  tag: string;
  manifest: string;
  /** Every blob (config and layers) with the manifest: what a node fetches. */
  blobs: { digest: string; size: number }[];
  /** Manifest + config + layers, in bytes. */
  size: number;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Split `total` bytes into `layers` layers, the first ones larger (like real images). Pure. */
export function layerSizes(total: number, layers: number): number[] {
  if (layers < 1 || total < layers) throw new Error('an image needs at least one byte per layer');
  const weights = Array.from({ length: layers }, (_, i) => layers - i);
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.floor((total * w) / sum));
  sizes[0]! += total - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

/** A fresh OCI image of random layers in the lab's layout (`blobs/sha256/<hex>`, `image.json`). */
export function buildTestImage(dir: string, opts: { tag: string; bytes: number; layers?: number; repo?: string }): TestImage {
  const blobsDir = join(dir, 'blobs/sha256');
  mkdirSync(blobsDir, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(blobsDir, d.slice(7)), b);
    return d;
  };
  const layers = layerSizes(opts.bytes, opts.layers ?? 3).map((size) => {
    const data = randomBytes(size);
    return { digest: put(data), size };
  });
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Labels: { 'org.mirrornet.lab': opts.tag } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configDigest = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = put(manifest);
  const blobs = [{ digest: configDigest, size: config.length }, ...layers];
  const index: LayoutIndex = { mediaType: 'application/vnd.oci.image.manifest.v1+json', manifest: manifestDigest, blobs };
  writeFileSync(join(dir, 'image.json'), `${JSON.stringify(index, null, 2)}\n`);
  return {
    layout: dir,
    repo: opts.repo ?? LAB_REPOSITORY,
    tag: opts.tag,
    manifest: manifestDigest,
    blobs,
    size: manifest.length + blobs.reduce((a, b) => a + b.size, 0),
  };
}

/** Push from inside a namespace (e.g. the Beijing core's, where CI pushes). */
export async function pushImage(ns: string, registryUrl: string, image: TestImage): Promise<void> {
  const r = await run(
    'ip',
    ['netns', 'exec', ns, process.execPath, REGISTRY_TOOL, 'push', '--layout', image.layout, '--to', registryUrl, '--repo', image.repo, '--tag', image.tag],
    { timeoutMs: 300_000 },
  );
  if (r.code !== 0) throw new Error(`pushing ${image.repo}:${image.tag} to ${registryUrl} failed: ${r.stderr.trim() || r.stdout.trim()}`);
}

export interface PullResult {
  node: string;
  ok: boolean;
  ms: number;
  error?: string;
}

/** `ctr content fetch` on one node, inside the region's namespace. */
export async function pullOnNode(ns: string, node: { name: string; socket: string }, ref: string, hostsDir: string): Promise<PullResult> {
  const r = await run(
    'ip',
    ['netns', 'exec', ns, 'ctr', '-a', node.socket, '-n', CTR_NAMESPACE, 'content', 'fetch', '--hosts-dir', hostsDir, '--plain-http', ref],
    { timeoutMs: 300_000 },
  );
  return {
    node: node.name,
    ok: r.code === 0,
    ms: r.ms,
    ...(r.code !== 0 ? { error: (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' ') } : {}),
  };
}

/** The digests of `image` a node does not have (empty: it has the whole image). */
export async function missingOnNode(ns: string, socket: string, image: TestImage): Promise<string[]> {
  const r = await run('ip', ['netns', 'exec', ns, 'ctr', '-a', socket, '-n', CTR_NAMESPACE, 'content', 'ls', '-q'], { timeoutMs: 60_000 });
  const have = new Set(r.stdout.split('\n').map((l) => l.trim()));
  return [image.manifest, ...image.blobs.map((b) => b.digest)].filter((d) => !have.has(d));
}

// ---- the core registry's access log ---------------------------------------------------------------------

export interface AccessEntry {
  method: string;
  uri: string;
  status: number;
  /** Response body bytes written. */
  written: number;
  /** The client's address (without the port). */
  remote: string;
}

/** distribution's JSON log: one `response completed` entry per request. Other lines are skipped. Pure. */
export function parseRegistryLog(text: string): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"response completed"')) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const remote = String(j['http.request.remoteaddr'] ?? '');
    out.push({
      method: String(j['http.request.method'] ?? ''),
      uri: String(j['http.request.uri'] ?? ''),
      status: Number(j['http.response.status'] ?? 0),
      written: Number(j['http.response.written'] ?? 0),
      remote: remote.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
    });
  }
  return out;
}

function ipToInt(ip: string): number | undefined {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const a = ipToInt(ip);
  const b = ipToInt(base ?? '');
  if (a === undefined || b === undefined) return false;
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

export interface Served {
  bytes: number;
  requests: number;
  blobGets: number;
}

/** What the registry served to clients in `cidr` for one repository (GETs of blobs and manifests). Pure. */
export function servedTo(entries: readonly AccessEntry[], cidr: string, repo: string): Served {
  const prefix = `/v2/${repo}/`;
  let bytes = 0;
  let requests = 0;
  let blobGets = 0;
  for (const e of entries) {
    if (!inCidr(e.remote, cidr) || !e.uri.startsWith(prefix)) continue;
    requests++;
    bytes += e.written;
    if (e.method === 'GET' && e.uri.startsWith(`${prefix}blobs/`)) blobGets++;
  }
  return { bytes, requests, blobGets };
}

export function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** The text of a log file from a byte offset. */
export function readFrom(path: string, offset: number): string {
  const size = fileSize(path);
  if (size <= offset) return '';
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
