// The lab's site tree (issue 13): a generated fleet report secret that the cores hold, each site's token
// derived from it (siteToken) in an environment variable of its own, an operator's SSH key and the cores'
// allowed-signers file; the flags that put each agent in the tree (a node reports to its site's gateway, a
// region's gateway to its area's core, a core is the root of its area and answers the operator), and the
// operator commands `lab up` prints.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayToken, siteToken } from '../../report/site/signing.js';
import { LabError, type AgentRecord, type LabState } from './processes.js';
import type { LabSite, LabTopology } from './topology.js';

/** The environment variable holding the fleet's report secret (the cores' --report-secret). */
export const REPORT_SECRET_ENV = 'MIRRORNET_LAB_REPORT_SECRET';
/** The principal of the lab's operator in the cores' --operators file. */
const LAB_OPERATOR = 'lab-operator';

export interface OperatorRecord {
  principal: string;
  /** The operator's SSH private key (`--key` of mirrornet status / suspend / resume / reconcile). */
  key: string;
  /** The allowed-signers file the cores get as --operators. */
  allowedSigners: string;
}

/** The environment variable holding a site's token: MIRRORNET_LAB_SITE_TOKEN_AP_JAKARTA. */
function siteTokenEnv(site: string): string {
  return `MIRRORNET_LAB_SITE_TOKEN_${site.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** A fresh fleet report secret and each of `sites`' token derived from it, as environment variables. */
export function siteTreeSecrets(sites: readonly string[]): Record<string, string> {
  const secret = randomBytes(32).toString('hex');
  return { [REPORT_SECRET_ENV]: secret, ...siteTokens(secret, sites) };
}

/** The environment variable holding a site's gateway token: MIRRORNET_LAB_GATEWAY_TOKEN_AP_JAKARTA. */
function gatewayTokenEnv(site: string): string {
  return `MIRRORNET_LAB_GATEWAY_TOKEN_${site.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The tokens of `sites` (each site's and its gateway's), derived from the lab's report secret (a site added later gets its own the same way). */
export function siteTokens(reportSecret: string, sites: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    sites.flatMap((s) => [
      [siteTokenEnv(s), siteToken(reportSecret, s)],
      [gatewayTokenEnv(s), gatewayToken(reportSecret, s)],
    ]),
  );
}

/** The operator's SSH key and the allowed-signers file naming it (namespace mirrornet-operator), under `<dir>/keys`. */
export function makeOperatorKey(dir: string): OperatorRecord {
  const keys = join(dir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  const key = join(keys, 'operator');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', LAB_OPERATOR, '-f', key]);
  const allowedSigners = join(keys, 'operators');
  writeFileSync(allowedSigners, `${LAB_OPERATOR} namespaces="mirrornet-operator" ${readFileSync(`${key}.pub`, 'utf8')}`);
  return { principal: LAB_OPERATOR, key, allowedSigners };
}

/** The core a site reports to: its area's (a core is its own). */
function reportCore(t: LabTopology, s: LabSite): LabSite {
  if (s.role === 'hub') return s;
  const cores = t.sites.filter((c) => c.role === 'hub');
  return cores.find((c) => c.area === s.area) ?? cores[0]!;
}

/** An agent's flags in the site tree: its name, and the core's secret and operators, or its token and parent. */
export function siteTreeFlags(state: LabState, s: LabSite, rec: AgentRecord): string[] {
  if (!state.secrets[REPORT_SECRET_ENV]) return [];
  const name = ['--host-name', rec.node ?? s.name];
  if (rec.role === 'gateway' && s.role === 'hub') {
    return [...name, '--report-secret', `env:${REPORT_SECRET_ENV}`, ...(state.operator ? ['--operators', state.operator.allowedSigners] : [])];
  }
  const parent =
    rec.role === 'gateway'
      ? state.agents.find((a) => a.role === 'gateway' && a.site === reportCore(state.topology!, s).name)
      : state.agents.find((a) => a.role === 'gateway' && a.site === s.name);
  if (!parent) throw new LabError(`the lab starts ${rec.role === 'gateway' ? `${s.name}'s core` : `${s.name}'s gateway`} before ${rec.node ?? s.name}`);
  const gateway = rec.role === 'gateway' ? ['--gateway-token', `env:${gatewayTokenEnv(s.name)}`] : [];
  return [...name, '--site-token', `env:${siteTokenEnv(s.name)}`, ...gateway, '--report-to', `http://${parent.listen}`];
}

/**
 * The secrets an agent of `s` gets of the tree's: a core the report secret; a gateway its site's token and its
 * gateway token; a node its site's token only (it cannot speak for its site to the core).
 */
export function siteTreeEnv(state: LabState, s: LabSite, rec: AgentRecord): Record<string, string> {
  const mine =
    rec.role === 'gateway' && s.role === 'hub'
      ? [REPORT_SECRET_ENV]
      : rec.role === 'gateway'
        ? [siteTokenEnv(s.name), gatewayTokenEnv(s.name)]
        : [siteTokenEnv(s.name)];
  const tree = (k: string) => k === REPORT_SECRET_ENV || k.startsWith('MIRRORNET_LAB_SITE_TOKEN_') || k.startsWith('MIRRORNET_LAB_GATEWAY_TOKEN_');
  return Object.fromEntries(Object.entries(state.secrets).filter(([k]) => !tree(k) || mine.includes(k)));
}

/** The cores' URLs (their agents' --listen), for `mirrornet status --core`. */
export function coreUrls(state: Pick<LabState, 'agents' | 'topology'>): string[] {
  const cores = new Set((state.topology?.sites ?? []).filter((s) => s.role === 'hub').map((s) => s.name));
  return state.agents.filter((a) => a.role === 'gateway' && cores.has(a.site)).map((a) => `http://${a.listen}`);
}

/** The operator's commands against the lab's cores (`--core` for each, the lab's operator key). */
export function operatorCommands(state: Pick<LabState, 'agents' | 'topology' | 'operator'>): string[] {
  if (!state.operator) return [];
  const flags = `${coreUrls(state)
    .map((u) => `--core ${u}`)
    .join(' ')} --key ${state.operator.key}`;
  return [`mirrornet status ${flags}`, `mirrornet suspend --site SITE --reason TEXT ${flags}`, `mirrornet resume|reconcile --site SITE ${flags}`];
}
