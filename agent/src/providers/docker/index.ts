// Docker: daemon.json is shared with other tools, so mirrornet owns only `registry-mirrors` (Docker Hub
// only: it does nothing for a private Harbor) and keeps every other key. SIGHUP reloads registry-mirrors.
import { MirrornetError } from '../../errors.js';
import { isDeepStrictEqual } from 'node:util';
import type { Desired } from '../../desired/types.js';
import { runHook } from '../../host/exec.js';
import { DEFAULT_HOOK_TIMEOUT_MS, type ApplyOutcome, type Change, type Provider, type ProviderContext } from '../types.js';

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const OWNED_KEY = 'registry-mirrors';

const RELOAD_PENDING = `${DAEMON_JSON}.mirrornet-pending`;

export interface ActualDocker {
  /** daemon.json changed but Docker was not reloaded yet (the reload failed or the agent died). */
  reloadPending?: boolean;
  text?: string;
  json?: Record<string, unknown>;
  /** Why the file cannot be used (not JSON, not an object). */
  error?: string;
}

class DaemonJsonError extends MirrornetError {
  constructor(why: string) {
    super(`${DAEMON_JSON} ${why}: fix it by hand; mirrornet does not rewrite a file it cannot read.`, { message: why });
  }
}

export function parseDaemonJson(text: string | undefined): ActualDocker {
  if (text === undefined) return {};
  try {
    const json: unknown = JSON.parse(text);
    if (!json || typeof json !== 'object' || Array.isArray(json)) return { text, error: 'is not a JSON object' };
    return { text, json: json as Record<string, unknown> };
  } catch (err) {
    return { text, error: `is not valid JSON (${(err as Error).message})` };
  }
}

/**
 * The new daemon.json text: only the owned key changes; the rest keeps its values and order. No mirrors is
 * `[]`, never a removed key: dockerd's SIGHUP reload keeps the running mirrors when the key is absent
 * (model/constraints/docker.ts).
 */
export function renderDaemonJson(current: Record<string, unknown> | undefined, mirrors: string[]): string {
  const next: Record<string, unknown> = { ...(current ?? {}), [OWNED_KEY]: mirrors };
  return `${JSON.stringify(next, null, 2)}\n`;
}

export function diffDocker(desired: Desired, actual: ActualDocker, owned: ReadonlySet<string>): Change[] {
  const d = desired.docker;
  const id = `${DAEMON_JSON}#${OWNED_KEY}`;
  if (actual.error) {
    return [
      { provider: 'docker', id, action: 'update', reason: `${DAEMON_JSON} ${actual.error}; it must be fixed by hand first`, data: { error: actual.error } },
    ];
  }
  const have = actual.json?.[OWNED_KEY];
  if (!d) {
    if (owned.has(id) && have !== undefined) {
      return [
        {
          provider: 'docker',
          id,
          action: 'delete',
          reason: 'Docker Hub is no longer mirrored (registry-mirrors becomes [], which a reload applies; a removed key would not be)',
          before: { [OWNED_KEY]: have },
          data: { mirrors: [] },
          file: { path: DAEMON_JSON, before: actual.text, after: renderDaemonJson(actual.json, []) },
        },
      ];
    }
    return [];
  }
  const after = { [OWNED_KEY]: d.registryMirrors };
  if (isDeepStrictEqual(have ?? [], d.registryMirrors)) {
    if (actual.reloadPending)
      return [
        {
          provider: 'docker',
          id,
          action: 'update',
          reason: 'Docker was not reloaded after daemon.json last changed',
          after,
          data: { mirrors: d.registryMirrors },
        },
      ];
    return [{ provider: 'docker', id, action: 'noop', reason: 'in sync', after }];
  }
  const action = actual.text === undefined || have === undefined ? 'create' : 'update';
  return [
    {
      provider: 'docker',
      id,
      action,
      reason: have === undefined ? 'Docker Hub is not mirrored through dfdaemon yet' : `registry-mirrors is ${JSON.stringify(have)}`,
      ...(have !== undefined ? { before: { [OWNED_KEY]: have } } : {}),
      after,
      data: { mirrors: d.registryMirrors },
      file: { path: DAEMON_JSON, ...(actual.text !== undefined ? { before: actual.text } : {}), after: renderDaemonJson(actual.json, d.registryMirrors) },
    },
  ];
}

export function dockerNotes(desired: Desired): string[] {
  const d = desired.docker;
  if (!d?.unsupported.length) return [];
  return [
    `Docker's registry-mirrors only mirrors Docker Hub: ${d.unsupported.join(', ')} cannot go through Dragonfly with runtime: docker. ` +
      `Use containerd for those images, or run dfdaemon as Docker's HTTP proxy with a trusted CA (not managed by mirrornet).`,
  ];
}

export const dockerProvider: Provider<ActualDocker> = {
  id: 'docker',
  wants: (desired) => desired.docker !== undefined || desired.roles.includes('node'),
  async read(ctx: ProviderContext, desired: Desired): Promise<ActualDocker> {
    ctx.notes.push(...dockerNotes(desired));
    if (!desired.docker && !(ctx.inventory ?? []).length) return {};
    await ctx.files.cleanTemps(DAEMON_JSON.slice(0, DAEMON_JSON.lastIndexOf('/')));
    const actual = parseDaemonJson(await ctx.files.read(DAEMON_JSON));
    return (await ctx.files.exists(RELOAD_PENDING)) ? { ...actual, reloadPending: true } : actual;
  },
  diff: diffDocker,
  async apply(ctx, changes, _desired, actual): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], deleted: [] };
    for (const c of changes) {
      if (c.action === 'noop') continue;
      const data = c.data as { mirrors?: string[]; error?: string };
      if (data.error) throw new DaemonJsonError(data.error);
      await ctx.files.writeAtomic(RELOAD_PENDING, `${new Date().toISOString()}\n`, { mode: 0o644 });
      // Re-read right before writing: another tool may have changed a key it owns since the plan.
      const fresh = parseDaemonJson(await ctx.files.read(DAEMON_JSON));
      if (fresh.error) throw new DaemonJsonError(fresh.error);
      await ctx.files.writeAtomic(DAEMON_JSON, renderDaemonJson(fresh.json ?? actual.json, data.mirrors ?? []), { mode: 0o644 });
      await runHook(ctx.exec, 'docker-reload', ctx.commands.dockerReload, ctx.commands.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS);
      await ctx.files.remove(RELOAD_PENDING);
      if (c.action === 'delete') outcome.deleted.push(c.id);
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    return outcome;
  },
};
