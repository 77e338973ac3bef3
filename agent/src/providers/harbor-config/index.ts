// harbor.yml of the core's Harbor (hub role). `./prepare` writes fresh random secrets on every run, so the
// provider compares the rendered harbor.yml (parsed, comments ignored), never the generated files, and runs
// the configured commands (default `./prepare && docker compose up -d`, in the install directory) only when
// harbor.yml changed. Secret values never reach a plan, a Change or a log: read compares each secret slot of
// the file with the resolved reference on the host and keeps only same/differs; before/after are masked.
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod, stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import diff from 'microdiff';
import { parse } from 'yaml';
import type { Desired } from '../../desired/types.js';
import { SecretError } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import { DEFAULT_COMMANDS, DEFAULT_HOOK_TIMEOUT_MS, type ApplyOutcome, type Change, type Provider, type ProviderContext } from '../types.js';
import { HARBOR_YML, harborYmlDisplay, harborYmlModel, harborYmlPath, maskHarborConfig, renderHarborYml } from './render.js';

const HARBOR_YML_MODE = 0o600;
/** Next to harbor.yml while it is newer than what the commands applied (the dragonfly provider's convention). */
export const PENDING_MARKER = `${HARBOR_YML}.mirrornet-pending`;

type SecretStatus = 'same' | 'differs' | 'unresolved';

export interface ActualHarborConfig {
  /** Host path of harbor.yml (undefined: nothing to look at). */
  path?: string;
  installDir?: string;
  exists: boolean;
  /** The parsed file with every secret masked; undefined when missing or not valid YAML. */
  config?: unknown;
  invalid?: boolean;
  mode?: number;
  /** Per secret slot (key path joined with '.'): whether the file holds the resolved secret. */
  secrets: Record<string, SecretStatus>;
  /** harbor.yml was written but the commands that apply it did not finish. */
  pending: boolean;
}

/** What apply needs; never the rendered text (it holds secrets). */
interface ApplyData {
  path: string;
  installDir: string;
  write: boolean;
  run: boolean;
}

function pendingPath(installDir: string): string {
  return `${installDir.replace(/\/+$/, '')}/${PENDING_MARKER}`;
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const k of path) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Key paths in the order of their keys, level by level: a.b before a-b, although "." sorts after "-". */
function keyPathOrder(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

/**
 * The key paths (joined with '.') where two parsed harbor.yml documents differ, for the reason line (values are
 * not shown): a list that differs is named by its key, not by its items; '(document)' when either is no mapping.
 */
function differingPaths(a: unknown, b: unknown): string[] {
  if (!isObject(a) || !isObject(b)) return ['(document)'];
  const keyPaths = diff(a, b).map((d) => {
    const firstIndex = d.path.findIndex((k) => typeof k === 'number');
    return d.path.slice(0, firstIndex < 0 ? undefined : firstIndex).map(String);
  });
  return [...new Map(keyPaths.map((p) => [p.join('.'), p])).values()].sort(keyPathOrder).map((p) => p.join('.'));
}

async function readHarborConfig(ctx: ProviderContext, desired: Desired): Promise<ActualHarborConfig> {
  const instance = desired.harbor?.instance;
  if (!instance) {
    const path = ctx.inventory?.[0];
    if (path && (await ctx.files.exists(path))) {
      ctx.notes.push(`harbor-config: ${path} is no longer managed (this host has no HarborInstance); it is left in place and Harbor keeps running.`);
    }
    return { exists: false, secrets: {}, pending: false };
  }
  const path = harborYmlPath(instance);
  const installDir = instance.installDir;
  if (instance.loadBalancer.mode === 'l7-tls-offload' && !instance.externalUrl.startsWith('https://')) {
    ctx.notes.push(
      `harbor-config: ${instance.name} sits behind a TLS-offloading load balancer but externalUrl is not https://; ` +
        'docker login fails unless external_url is the https:// address clients use.',
    );
  }
  const pending = await ctx.files.exists(pendingPath(installDir));
  const text = await ctx.files.read(path);
  if (text === undefined) return { path, installDir, exists: false, secrets: {}, pending };
  const mode = (await stat(ctx.files.path(path))).mode & 0o7777;
  let raw: unknown;
  try {
    raw = parse(text);
  } catch {
    return { path, installDir, exists: true, invalid: true, mode, secrets: {}, pending };
  }
  const model = harborYmlModel(instance);
  const secrets: Record<string, SecretStatus> = {};
  for (const slot of model.secrets) {
    const key = slot.path.join('.');
    let value: string;
    try {
      value = await ctx.secrets.resolve(slot.ref);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      secrets[key] = 'unresolved';
      ctx.notes.push(
        `harbor-config: ${err.userMessage} The plan cannot tell whether ${key} in harbor.yml is current, and apply fails until the secret is available.`,
      );
      continue;
    }
    const inFile = getPath(raw, slot.path);
    const ok = (typeof inFile === 'string' || typeof inFile === 'number' || typeof inFile === 'boolean') && sameSecret(String(inFile), value);
    secrets[key] = ok ? 'same' : 'differs';
  }
  return {
    path,
    installDir,
    exists: true,
    config: maskHarborConfig(
      raw,
      model.secrets.map((s) => s.path),
    ),
    mode,
    secrets,
    pending,
  };
}

/** Pure. Never deletes: a harbor.yml of a running Harbor is left alone when the instance goes away. */
export function diffHarborConfig(desired: Desired, actual: ActualHarborConfig): Change[] {
  const instance: HarborInstance | undefined = desired.harbor?.instance;
  if (!instance) return [];
  const model = harborYmlModel(instance);
  const path = harborYmlPath(instance);
  const base = { provider: 'harbor-config' as const, id: path };
  const data = (write: boolean, run: boolean): ApplyData => ({ path, installDir: instance.installDir, write, run });
  if (!actual.exists) {
    return [
      {
        ...base,
        action: 'create',
        reason: `harbor.yml for ${instance.name} does not exist`,
        after: model.config,
        data: data(true, true),
        file: { path, after: harborYmlDisplay(instance, model.config) },
      },
    ];
  }
  const reasons: string[] = [];
  let write = false;
  if (actual.invalid) {
    reasons.push('harbor.yml is not valid YAML');
    write = true;
  } else if (!isDeepStrictEqual(actual.config, model.config)) {
    const paths = differingPaths(actual.config, model.config);
    const shown = paths.slice(0, 6).join(', ') + (paths.length > 6 ? `, and ${paths.length - 6} more` : '');
    reasons.push(`harbor.yml differs from the repository at ${shown}`);
    write = true;
  }
  for (const slot of model.secrets) {
    if (actual.secrets[slot.path.join('.')] === 'differs') {
      const firstStartOnly =
        slot.path.join('.') === 'harbor_admin_password' ? ' (Harbor reads it only at its first start: change the admin password in Harbor too)' : '';
      reasons.push(`the secret ${slot.ref} differs from ${slot.path.join('.')} in harbor.yml${firstStartOnly}`);
      write = true;
    }
  }
  if (actual.pending) reasons.push('the commands that apply harbor.yml did not finish last time');
  const modeWrong = actual.mode !== undefined && actual.mode !== HARBOR_YML_MODE;
  if (modeWrong) reasons.push(`harbor.yml is mode ${actual.mode!.toString(8).padStart(4, '0')}; it holds secrets and must be 0600`);
  if (!reasons.length) return [{ ...base, action: 'noop', reason: 'in sync', after: model.config }];
  return [
    {
      ...base,
      action: 'update',
      reason: reasons.join('; '),
      before: actual.config,
      after: model.config,
      data: data(write || actual.pending, write || actual.pending),
      // Both sides as parsed with every secret masked: a secret that differs is named in the reason, never shown.
      file: {
        path,
        before: actual.invalid ? '# (not valid YAML)\n' : harborYmlDisplay(instance, actual.config),
        after: harborYmlDisplay(instance, model.config),
      },
    },
  ];
}

/** Run the configured command line with the install directory (under --root) as working directory. */
async function runHarborCommands(ctx: ProviderContext, installDir: string): Promise<void> {
  const commandLine = ctx.commands.harborApply ?? DEFAULT_COMMANDS.harborApply!;
  const dir = ctx.files.path(installDir);
  ctx.log.info({ command: commandLine, cwd: dir }, 'applying harbor.yml');
  await ctx.exec.run('sh', ['-c', `cd -- "$MIRRORNET_HARBOR_DIR" || exit 1\n${commandLine}`], {
    hostNamespace: true,
    hook: 'harbor-apply',
    env: { MIRRORNET_HARBOR_DIR: dir },
    timeoutMs: ctx.commands.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
  });
}

async function applyHarborConfig(ctx: ProviderContext, changes: Change[], desired: Desired): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { applied: [], deleted: [] };
  const instance = desired.harbor?.instance;
  for (const c of changes) {
    if (c.action === 'noop' || c.action === 'delete') continue;
    if (!instance) throw new Error('harbor-config: a change to apply but no HarborInstance in the desired state');
    const d = c.data as ApplyData;
    const real = ctx.files.path(d.path);
    // Tighten the mode first, so the atomic write (which keeps the old mode) and the backup are 0600 too.
    if (await ctx.files.exists(d.path)) await chmod(real, HARBOR_YML_MODE);
    if (d.write) {
      const text = await renderHarborYml(instance, (ref) => ctx.secrets.resolve(ref));
      if (d.run && !(await ctx.files.exists(pendingPath(d.installDir))))
        await ctx.files.writeAtomic(pendingPath(d.installDir), `${new Date().toISOString()}\n`, { mode: 0o600 });
      await ctx.files.writeAtomic(d.path, text, { mode: HARBOR_YML_MODE });
    }
    if (d.run) {
      await runHarborCommands(ctx, d.installDir);
      await ctx.files.remove(pendingPath(d.installDir));
    }
    ctx.log.info({ action: c.action, id: c.id }, 'change applied');
    outcome.applied.push(c);
  }
  return outcome;
}

export const harborConfigProvider: Provider<ActualHarborConfig> = {
  id: 'harbor-config',
  wants: (desired) => desired.harbor !== undefined,
  read: readHarborConfig,
  diff: (desired, actual) => diffHarborConfig(desired, actual),
  apply: (ctx, changes, desired) => applyHarborConfig(ctx, changes, desired),
};
