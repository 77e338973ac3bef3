// dfdaemon.yaml for the region's peers. dfdaemon silently ignores unknown keys and does not reload on
// SIGHUP: mirrornet renders only known keys and restarts dfdaemon only when the file changed.
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import type { Desired } from '../../desired/types.js';
import { runHook } from '../../host/exec.js';
import { DFDAEMON_CONFIG } from '../../model/constraints/dragonfly.js';
import { DEFAULT_HOOK_TIMEOUT_MS, type ApplyOutcome, type Change, type Provider, type ProviderContext } from '../types.js';

export interface ActualDragonfly {
  path: string;
  text?: string;
  config?: unknown;
  /** The file changed but dfdaemon was not restarted yet (the restart failed or the agent died). */
  restartPending?: boolean;
}

/** Marks a written file whose service has not picked it up yet; removed once the hook succeeded. */
const PENDING_SUFFIX = '.mirrornet-pending';

export function renderDfdaemon(desired: Desired): string {
  return `# Managed by mirrornet for ${desired.site}. Edits are overwritten.\n${stringify(desired.dragonfly!.config)}`;
}

export function diffDragonfly(desired: Desired, actual: ActualDragonfly, owned: ReadonlySet<string>): Change[] {
  const d = desired.dragonfly;
  if (!d) {
    if (owned.has(actual.path) && actual.text !== undefined)
      return [
        {
          provider: 'dragonfly',
          id: actual.path,
          action: 'delete',
          reason: 'this host no longer runs a dfdaemon for mirrornet',
          data: { path: actual.path },
          file: { path: actual.path, before: actual.text },
        },
      ];
    return [];
  }
  const after = d.config;
  if (actual.text === undefined)
    return [
      {
        provider: 'dragonfly',
        id: d.path,
        action: 'create',
        reason: 'dfdaemon.yaml does not exist',
        after,
        data: { path: d.path, content: renderDfdaemon(desired) },
        file: { path: d.path, after: renderDfdaemon(desired) },
      },
    ];
  if (isDeepStrictEqual(actual.config, d.config)) {
    if (actual.restartPending) {
      return [
        {
          provider: 'dragonfly',
          id: d.path,
          action: 'update',
          reason: 'dfdaemon was not restarted after dfdaemon.yaml last changed',
          after,
          data: { path: d.path, content: renderDfdaemon(desired) },
        },
      ];
    }
    return [{ provider: 'dragonfly', id: d.path, action: 'noop', reason: 'in sync', after }];
  }
  return [
    {
      provider: 'dragonfly',
      id: d.path,
      action: 'update',
      reason: 'dfdaemon.yaml differs from the repository',
      before: actual.config,
      after,
      data: { path: d.path, content: renderDfdaemon(desired) },
      file: { path: d.path, before: actual.text, after: renderDfdaemon(desired) },
    },
  ];
}

export const dragonflyProvider: Provider<ActualDragonfly> = {
  id: 'dragonfly',
  wants: (desired) => desired.dragonfly !== undefined || desired.roles.includes('node'),
  async read(ctx: ProviderContext, desired: Desired): Promise<ActualDragonfly> {
    const path = desired.dragonfly?.path ?? ctx.inventory?.[0] ?? DFDAEMON_CONFIG;
    await ctx.files.cleanTemps(path.slice(0, path.lastIndexOf('/')));
    const text = await ctx.files.read(path);
    if (text === undefined) return { path };
    const restartPending = await ctx.files.exists(`${path}${PENDING_SUFFIX}`);
    let config: unknown;
    try {
      config = parse(text);
    } catch {
      config = undefined;
    }
    return { path, text, config, ...(restartPending ? { restartPending } : {}) };
  },
  diff: diffDragonfly,
  async apply(ctx, changes): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], deleted: [] };
    let restart: string | undefined;
    for (const c of changes) {
      if (c.action === 'noop') continue;
      const { path, content } = c.data as { path: string; content?: string };
      if (c.action === 'delete') {
        await ctx.files.remove(path);
        outcome.deleted.push(c.id);
      } else {
        await ctx.files.writeAtomic(`${path}${PENDING_SUFFIX}`, `${new Date().toISOString()}\n`, { mode: 0o644 });
        await ctx.files.writeAtomic(path, content!, { mode: 0o644 });
        restart = path;
      }
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    if (restart) {
      await runHook(ctx.exec, 'dragonfly-restart', ctx.commands.dragonflyRestart, ctx.commands.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS);
      await ctx.files.remove(`${restart}${PENDING_SUFFIX}`);
    }
    return outcome;
  },
};
