// containerd mirrors: one hosts.toml per mirrored registry under containerd's config_path, dfdaemon's proxy
// first (with X-Dragonfly-Registry), the registry itself as the fallback, pull/resolve only. Never touches
// the directories of registries it does not manage. Files under config_path apply without a restart. What
// containerd reads of each key, per version, is the inventory's (model/constraints/containerd.ts).
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { MirrornetError } from '../../errors.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Desired, DesiredRegistryMirror } from '../../desired/types.js';
import { BACKUP_SUFFIX } from '../../host/files.js';
import { containerdIgnores, readersOf, versionDependent, type ContainerdVersion } from '../../model/constraints/containerd.js';
import { goDuration } from '../../model/go-duration.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import { ContainerdConfig } from './schema.js';

const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
export const DEFAULT_CONFIG_PATH = '/etc/containerd/certs.d';

export interface ActualContainerd {
  configPath: string;
  /** Why config_path could not be used as is (unset, several paths, legacy mirrors), for the user. */
  notes: string[];
  /** hosts.toml path -> its current text, for the files mirrornet wants or owns. */
  files: Map<string, string | undefined>;
}

export interface ConfigPathResult {
  configPath: string;
  notes: string[];
}

/** Find config_path in containerd's config.toml, for both plugin names. Pure. */
export function findConfigPath(text: string | undefined): ConfigPathResult {
  const restart = 'then restart containerd (config.toml changes need a restart; hosts.toml files do not)';
  const unset =
    `containerd's config_path is not set, so containerd ignores hosts.toml: add \`[plugins."io.containerd.grpc.v1.cri".registry] ` +
    `config_path = "${DEFAULT_CONFIG_PATH}"\` (containerd 1.x, version = 2) or \`[plugins."io.containerd.cri.v1.images".registry] config_path = ` +
    `"${DEFAULT_CONFIG_PATH}"\` (2.x, version = 3) to ${CONTAINERD_CONFIG}, ${restart}. mirrornet writes the files there meanwhile.`;
  if (text === undefined) return { configPath: DEFAULT_CONFIG_PATH, notes: [`${CONTAINERD_CONFIG} does not exist. ${unset}`] };
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    return {
      configPath: DEFAULT_CONFIG_PATH,
      notes: [
        `${CONTAINERD_CONFIG} is not valid TOML (${(err as Error).message.split('\n')[0]}): fix it; mirrornet cannot tell where containerd reads mirrors.`,
      ],
    };
  }
  const parsed = ContainerdConfig.safeParse(raw);
  if (!parsed.success) return { configPath: DEFAULT_CONFIG_PATH, notes: [unset] };
  const cfg = parsed.data;
  const v2 = cfg.plugins?.['io.containerd.grpc.v1.cri']?.registry;
  const v3 = cfg.plugins?.['io.containerd.cri.v1.images']?.registry;
  const registry = (cfg.version ?? 2) >= 3 ? (v3 ?? v2) : (v2 ?? v3);
  const notes: string[] = [];
  if (registry?.mirrors && Object.keys(registry.mirrors).length) {
    notes.push(
      'config.toml still has legacy registry.mirrors blocks next to config_path: containerd 2.2 refuses to start with both; ' +
        'remove the mirrors blocks (mirrornet writes hosts.toml instead).',
    );
  }
  const value = registry?.config_path;
  if (!value) return { configPath: DEFAULT_CONFIG_PATH, notes: [...notes, unset] };
  const paths = value.split(':').filter(Boolean);
  if (paths.length > 1) {
    notes.push(
      `config_path lists several directories (${value}); containerd 2.2 silently ignores mirrors then: mirrornet uses the first, ${paths[0]}; ` +
        'set a single directory.',
    );
  }
  return { configPath: paths[0]!, notes };
}

/** The hosts.toml text of one registry, in Dragonfly's documented form. */
export function renderHostsToml(r: DesiredRegistryMirror, site: string): string {
  const host: Record<string, unknown> = {
    capabilities: ['pull', 'resolve'],
    ...(r.dialTimeout ? { dial_timeout: goDuration(r.dialTimeout) } : {}),
    header: { 'X-Dragonfly-Registry': r.server },
  };
  const body = stringifyToml({ server: r.server, host: { [r.mirror]: host } });
  return `# Managed by mirrornet for ${site}: dfdaemon first, ${r.server} as the fallback. Edits are overwritten.\n${body}\n`;
}

/** The keys a hosts.toml text sets, as the inventory names them (`host.*.dial_timeout`: a host table's URL is `*`). */
export function hostsTomlKeys(text: string): string[] {
  const keys: string[] = [];
  const walk = (value: unknown, path: string[]): void => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      if (path.length) keys.push(path.join('.'));
      for (const [k, v] of Object.entries(value)) walk(v, path.length === 1 && path[0] === 'host' ? [...path, '*'] : [...path, k]);
    } else keys.push(path.join('.'));
  };
  walk(parseToml(text), []);
  return keys.filter((k) => k !== 'host' && k !== 'host.*.header');
}

/** `containerd github.com/containerd/containerd/v2 v2.1.0 <commit>`, or Debian's `... 1.6.20~ds1 1.6.20~ds1-1+deb12u3`. */
export function parseContainerdVersion(output: string): ContainerdVersion | undefined {
  const m = /^containerd\s+\S+\s+v?(\d+)\.(\d+)\.(\d+)/m.exec(output);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

/**
 * The containerd binary this agent would run (the first in PATH), as its identity: path, inode, size, mtime.
 * An upgrade replaces it, so an answer of `containerd --version` holds while this stays the same.
 */
async function containerdBinary(): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':').filter(Boolean)) {
    const file = join(dir, 'containerd');
    const s = await stat(file).catch(() => undefined);
    if (s?.isFile()) return `${file}:${s.ino}:${s.size}:${s.mtimeMs}`;
  }
  return undefined;
}

/** Answers of `containerd --version` per agent (its Exec) and binary: a Go binary's start costs every tick of every node. */
const versionAnswers = new WeakMap<object, { binary: string; stdout: string }>();

async function containerdVersionOutput(exec: ProviderContext['exec']): Promise<{ code: number; stdout: string; stderr: string }> {
  const binary = await containerdBinary();
  const known = versionAnswers.get(exec);
  if (binary !== undefined && known?.binary === binary) return { code: 0, stdout: known.stdout, stderr: '' };
  const res = await exec.run('containerd', ['--version'], { allowFail: true, hostNamespace: true, timeoutMs: 10_000 });
  if (res.code === 0 && binary !== undefined) versionAnswers.set(exec, { binary, stdout: res.stdout });
  return res;
}

/** Notes for the keys the installed containerd does not read; asks `containerd --version` only when a written key depends on it. */
export async function versionNotes(ctx: Pick<ProviderContext, 'exec'>, texts: string[]): Promise<string[]> {
  const keys = [...new Set(texts.flatMap(hostsTomlKeys))].filter(versionDependent);
  if (!keys.length) return [];
  const unknown = (why: string) =>
    `mirrornet cannot tell which containerd runs here (${why}), so not whether it reads ${keys.map(readersOf).join(', ')} in hosts.toml.`;
  let output: string;
  try {
    const res = await containerdVersionOutput(ctx.exec);
    if (res.code !== 0) return [unknown(`\`containerd --version\` exited ${res.code}: ${(res.stderr || res.stdout).trim().split('\n')[0]}`)];
    output = res.stdout;
  } catch (err) {
    return [unknown((err instanceof MirrornetError ? err.userMessage : String(err)).replace(/\.$/, ''))];
  }
  const version = parseContainerdVersion(output);
  if (!version) return [unknown(`\`containerd --version\` printed ${JSON.stringify(output.trim().slice(0, 120))}`)];
  return containerdIgnores(keys, version);
}

/**
 * The directory containerd looks up first for a registry: `host_port_` for a host with a port (then
 * `host:port`, then `_default`), the plain host otherwise.
 */
export function hostDirName(host: string): string {
  const m = /^(.*):(\d+)$/.exec(host);
  return m ? `${m[1]}_${m[2]}_` : host;
}

export function hostsTomlPath(configPath: string, host: string): string {
  return `${configPath.replace(/\/+$/, '')}/${hostDirName(host)}/hosts.toml`;
}

function sameToml(a: string, b: string): boolean {
  try {
    return isDeepStrictEqual(parseToml(a), parseToml(b));
  } catch {
    return false;
  }
}

export function diffContainerd(desired: Desired, actual: ActualContainerd, owned: ReadonlySet<string>): Change[] {
  const changes: Change[] = [];
  const wanted = new Set<string>();
  for (const r of desired.containerd?.registries ?? []) {
    const path = hostsTomlPath(actual.configPath, r.host);
    wanted.add(path);
    const content = renderHostsToml(r, desired.site);
    const have = actual.files.get(path);
    const after = { file: path, server: r.server, mirror: r.mirror };
    if (have === undefined)
      changes.push({
        provider: 'containerd',
        id: path,
        action: 'create',
        reason: `no mirror for ${r.host} yet`,
        after,
        data: { path, content },
        file: { path, after: content },
      });
    else if (!sameToml(have, content))
      changes.push({
        provider: 'containerd',
        id: path,
        action: 'update',
        reason: `${path} differs from the repository (edited by hand?)`,
        after,
        data: { path, content },
        file: { path, before: have, after: content },
      });
    else changes.push({ provider: 'containerd', id: path, action: 'noop', reason: 'in sync', after });
  }
  for (const path of owned) {
    if (wanted.has(path)) continue;
    if (actual.files.get(path) !== undefined)
      changes.push({
        provider: 'containerd',
        id: path,
        action: 'delete',
        reason: 'this registry is no longer mirrored',
        before: { file: path },
        data: { path },
        file: { path, before: actual.files.get(path) },
      });
  }
  return changes;
}

export const containerdProvider: Provider<ActualContainerd> = {
  id: 'containerd',
  wants: (desired) => desired.containerd !== undefined,
  async read(ctx: ProviderContext, desired: Desired): Promise<ActualContainerd> {
    const { configPath, notes } = findConfigPath(await ctx.files.read(CONTAINERD_CONFIG));
    ctx.notes.push(...notes);
    const files = new Map<string, string | undefined>();
    const paths = new Set((desired.containerd?.registries ?? []).map((r) => hostsTomlPath(configPath, r.host)));
    for (const p of ctx.inventory ?? []) paths.add(p);
    for (const p of paths) {
      await ctx.files.cleanTemps(p.slice(0, p.lastIndexOf('/')));
      files.set(p, await ctx.files.read(p));
    }
    ctx.notes.push(
      ...(await versionNotes(
        ctx,
        (desired.containerd?.registries ?? []).map((r) => renderHostsToml(r, desired.site)),
      )),
    );
    for (const r of desired.containerd?.registries ?? []) {
      if (hostDirName(r.host) === r.host) continue;
      const other = `${configPath.replace(/\/+$/, '')}/${r.host}/hosts.toml`;
      if (await ctx.files.exists(other)) {
        ctx.notes.push(`${other} is ignored by containerd (it reads ${hostsTomlPath(configPath, r.host)} first): remove it to avoid confusion.`);
      }
    }
    return { configPath, notes, files };
  },
  diff: diffContainerd,
  async apply(ctx, changes): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], deleted: [] };
    for (const c of changes) {
      if (c.action === 'noop') continue;
      const { path, content } = c.data as { path: string; content?: string };
      if (c.action === 'delete') {
        await ctx.files.remove(path);
        await ctx.files.remove(`${path}${BACKUP_SUFFIX}`);
        await ctx.files.removeDirIfEmpty(path.slice(0, path.lastIndexOf('/')));
        outcome.deleted.push(c.id);
      } else {
        await ctx.files.writeAtomic(path, content!, { mode: 0o644 });
      }
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    return outcome;
  },
};
