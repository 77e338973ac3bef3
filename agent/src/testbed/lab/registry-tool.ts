// The lab's registry client, run INSIDE a site's network namespace (`ip netns exec <ns> node
// registry-tool.js ...`), so its traffic to another site crosses the WireGuard tunnels:
//   push --layout DIR --to URL --repo NAME --tag TAG   push an image from the lab's layout (blobs + manifest)
//   copy --from URL --to URL --filter GLOB [--filter ...] [--tag-filter GLOB]
//                                                      what a Harbor replication execution does: every
//                                                      repository matching the name filter, every tag,
//                                                      blobs the destination lacks, then the manifest
//   serve                                              copies asked for as JSON lines on stdin, answered on stdout
// Prints one JSON line with counts and bytes. Plain HTTP registry API v2 (distribution), no auth.
import pLimit from 'p-limit';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

export interface CopyResult {
  total: number;
  succeed: number;
  failed: number;
  blobs: number;
  bytes: number;
  skipped: number;
  errors: string[];
}

/**
 * Harbor's name filter (doublestar): `**` any path, `*` and `?` within one segment, `{a,b}` alternatives.
 * Pure.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  let depth = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i += 2;
      continue;
    }
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      re += '(?:';
      depth++;
    } else if (c === '}' && depth > 0) {
      re += ')';
      depth--;
    } else if (c === ',' && depth > 0) re += '|';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
    i++;
  }
  return new RegExp(`^${re}$`);
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function must(res: Response, what: string, ok: number[]): Promise<Response> {
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${(await res.text().catch(() => '')).slice(0, 200)}`);
  return res;
}

async function hasBlob(base: string, repo: string, digest: string): Promise<boolean> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.body?.cancel();
  return res.status === 200;
}

export async function pushBlob(base: string, repo: string, data: Buffer, digest = sha256(data)): Promise<boolean> {
  if (await hasBlob(base, repo, digest)) return false;
  const post = await must(await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), `start upload to ${base}/${repo}`, [202]);
  await post.body?.cancel();
  const location = new URL(post.headers.get('location') ?? '', base);
  location.searchParams.set('digest', digest);
  const put = await must(
    await fetch(location, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } }),
    `upload ${digest} to ${base}/${repo}`,
    [201],
  );
  await put.body?.cancel();
  return true;
}

async function putManifest(base: string, repo: string, ref: string, body: Buffer, mediaType: string): Promise<void> {
  const res = await must(
    await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body, headers: { 'content-type': mediaType } }),
    `put manifest ${repo}:${ref} to ${base}`,
    [201],
  );
  await res.body?.cancel();
}

async function getManifest(base: string, repo: string, ref: string): Promise<{ body: Buffer; mediaType: string }> {
  const res = await must(
    await fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_TYPES.join(', ') } }),
    `get manifest ${repo}:${ref} from ${base}`,
    [200],
  );
  return { body: Buffer.from(await res.arrayBuffer()), mediaType: (res.headers.get('content-type') ?? MANIFEST_TYPES[0]!).split(';')[0]! };
}

interface ManifestJson {
  mediaType?: string;
  config?: { digest: string; size: number };
  layers?: { digest: string; size: number }[];
  manifests?: { digest: string; mediaType?: string }[];
}

/** Copy one manifest (and what it references) from one registry to another. */
async function copyManifest(from: string, to: string, repo: string, ref: string, result: CopyResult): Promise<void> {
  const { body, mediaType } = await getManifest(from, repo, ref);
  const m = JSON.parse(body.toString('utf8')) as ManifestJson;
  for (const child of m.manifests ?? []) await copyManifest(from, to, repo, child.digest, result);
  for (const blob of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) {
    if (await hasBlob(to, repo, blob.digest)) continue;
    const res = await must(await fetch(`${from}/v2/${repo}/blobs/${blob.digest}`), `get blob ${blob.digest} from ${from}/${repo}`, [200]);
    const data = Buffer.from(await res.arrayBuffer());
    if (sha256(data) !== blob.digest) throw new Error(`blob ${blob.digest} from ${from}/${repo} does not match its digest`);
    await pushBlob(to, repo, data, blob.digest);
    result.blobs++;
    result.bytes += data.length;
  }
  await putManifest(to, repo, ref, body, mediaType);
}

/** Tags copied at once by one replication. */
const COPIES_AT_ONCE = 8;

export async function copyRepositories(from: string, to: string, filters: string[], tagFilter?: string): Promise<CopyResult> {
  const result: CopyResult = { total: 0, succeed: 0, failed: 0, blobs: 0, bytes: 0, skipped: 0, errors: [] };
  const res = await must(await fetch(`${from}/v2/_catalog?n=1000`), `list repositories of ${from}`, [200]);
  const repos = ((await res.json()) as { repositories?: string[] }).repositories ?? [];
  const res2 = filters.map(globToRegExp);
  const tagRe = tagFilter ? globToRegExp(tagFilter) : undefined;
  for (const repo of repos) {
    if (res2.length && !res2.some((r) => r.test(repo))) continue;
    const t = await must(await fetch(`${from}/v2/${repo}/tags/list`), `list tags of ${from}/${repo}`, [200]);
    const tags = ((await t.json()) as { tags?: string[] | null }).tags ?? [];
    // A few at once, as Harbor's jobservice workers do.
    const limit = pLimit(COPIES_AT_ONCE);
    await Promise.all(
      tags
        .filter((tag) => !tagRe || tagRe.test(tag))
        .map((tag) =>
          limit(async () => {
            result.total++;
            try {
              await copyManifest(from, to, repo, tag, result);
              result.succeed++;
            } catch (err) {
              result.failed++;
              result.errors.push(`${repo}:${tag}: ${(err as Error).message}`);
            }
          }),
        ),
    );
  }
  return result;
}

/** The lab's image layout: `blobs/sha256/<hex>` and `image.json` {manifest digest, media type}. */
export interface LayoutIndex {
  mediaType: string;
  manifest: string;
  blobs: { digest: string; size: number }[];
}

export async function pushLayout(layout: string, to: string, repo: string, tag: string): Promise<{ bytes: number; blobs: number }> {
  const index = JSON.parse(readFileSync(join(layout, 'image.json'), 'utf8')) as LayoutIndex;
  const blob = (d: string) => readFileSync(join(layout, 'blobs/sha256', d.slice('sha256:'.length)));
  let bytes = 0;
  let blobs = 0;
  for (const b of index.blobs) {
    if (await pushBlob(to, repo, blob(b.digest), b.digest)) {
      bytes += b.size;
      blobs++;
    }
  }
  await putManifest(to, repo, tag, blob(index.manifest), index.mediaType);
  return { bytes, blobs };
}

function flags(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    out.set(a.slice(2), [...(out.get(a.slice(2)) ?? []), argv[i + 1] ?? '']);
    i++;
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const f = flags(rest);
  const one = (k: string) => {
    const v = f.get(k)?.[0];
    if (!v) throw new Error(`--${k} is required`);
    return v;
  };
  if (command === 'push') {
    const r = await pushLayout(one('layout'), one('to'), one('repo'), one('tag'));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  if (command === 'copy') {
    const tagFilter = f.get('tag-filter')?.[0];
    const r = await copyRepositories(one('from'), one('to'), f.get('filter') ?? [], tagFilter);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return r.failed ? 1 : 0;
  }
  if (command === 'serve') {
    // Copies asked for one per line on stdin ({id, from, to, filters, tagFilter}), answered one per line
    // ({id, result} or {id, error}): a long-running copier, as Harbor's jobservice workers are.
    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) {
      if (!line.trim()) continue;
      const job = JSON.parse(line) as { id: number; from: string; to: string; filters: string[]; tagFilter?: string };
      void copyRepositories(job.from, job.to, job.filters, job.tagFilter).then(
        (result) => process.stdout.write(`${JSON.stringify({ id: job.id, result })}\n`),
        (err: Error) => process.stdout.write(`${JSON.stringify({ id: job.id, error: err.message })}\n`),
      );
    }
    return 0;
  }
  throw new Error(`unknown command ${command ?? ''}: push, copy or serve`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`registry-tool: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}

export const REGISTRY_TOOL = fileURLToPath(import.meta.url);
