// A real Agent (the reconcile loop) over stand-ins, without root or git: a source whose remote revision
// the test sets, an evaluation the test decides, and a host routes provider over an in-memory table.
import { join } from 'node:path';
import type { Desired } from '../../src/desired/types.js';
import type { Exec } from '../../src/host/exec.js';
import type { HostFiles } from '../../src/host/files.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import type { Guardrails } from '../../src/model/schema.js';
import type { ActualRoutes } from '../../src/providers/routes/index.js';
import { DEFAULT_COMMANDS, type Change, type Provider } from '../../src/providers/types.js';
import type { Logger } from 'pino';
import type { Evaluate } from '../../src/reconcile/evaluate.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { Agent, type AgentOptions } from '../../src/reconcile/loop.js';
import { gitRevisions } from '../../src/reconcile/source.js';
import { createMetrics, type AgentMetrics } from '../../src/reconcile/metrics.js';
import { StateStore } from '../../src/reconcile/state.js';
import type { GitSource } from '../../src/source/clone.js';

export const REMOTE = '10.9.8.7';

export const routes = (...dsts: string[]): ActualRoutes => ({
  routes: dsts.map((dst) => ({ dst, dev: 'mnwg0', protocol: 157 })) as ActualRoutes['routes'],
});

export const change = (id: string, action: Change['action']): Change => ({ provider: 'routes', id, action, reason: 'test' });

/** A host routes provider over an in-memory table: `actual` is what it reads, `applied` what it was told to do. */
export function fakeRoutes(actual: { value: ActualRoutes }, wanted: () => Change[], applied: Change[]): Provider<unknown> {
  return {
    id: 'routes',
    wants: () => true,
    read: async () => actual.value,
    diff: () => wanted(),
    apply: async (_ctx, changes) => {
      applied.push(...changes);
      return { applied: changes, deleted: [] };
    },
  };
}

/** What a test may put in instead of the stub's own: the agent's options (interval, clock), host commands, evaluation, log, metrics. */
export interface StubOverrides {
  options?: Partial<AgentOptions>;
  exec?: Exec;
  evaluate?: Evaluate;
  log?: Logger;
  metrics?: AgentMetrics;
}

/**
 * An agent of cn-shanghai (gateway) in `dir`: the remote is at `revision.value`, every revision evaluates to
 * an empty desired state with `guardrails.value`, and the git remote is the address REMOTE (no lookup).
 */
export function stubAgent(
  dir: string,
  provider: Provider<unknown>,
  revision: { value: string },
  guardrails: { value: Guardrails },
  events: AgentEvent[],
  over: StubOverrides = {},
): Agent {
  const desired: Desired = { site: 'cn-shanghai', roles: ['gateway'], routes: [], wireguard: [] };
  const source = {
    opts: { url: `ssh://git@${REMOTE}/fleet.git`, branch: 'main', dir: join(dir, 'repo') },
    remoteRevision: async () => revision.value,
    checkout: async () => undefined,
    verify: async () => undefined,
    remoteHost: () => REMOTE,
  } as unknown as GitSource;
  const deps = {
    providers: [provider],
    exec: over.exec ?? { run: async () => ({ code: 0, stdout: '', stderr: '' }) },
    files: {} as HostFiles,
    secrets: hostSecrets({ env: {} }),
    log: silentLogger(),
    commands: DEFAULT_COMMANDS,
  };
  const store = new StateStore(join(dir, 'state'));
  const evaluate = over.evaluate ?? (async () => ({ valid: true as const, desired, guardrails: guardrails.value }));
  return new Agent(
    { site: 'cn-shanghai', roles: ['gateway'], ...over.options },
    gitRevisions(source, evaluate),
    store,
    deps,
    over.log ?? silentLogger(),
    over.metrics ?? createMetrics(),
    (e) => events.push(e),
  );
}
