// What the lab end-to-end tests share: running a command (the mirrornet CLI, ip), waiting for something the
// lab's agents do, the routes an agent made in a site's namespace, and whether a lab of the same sites is
// already up on this machine (its WireGuard interfaces, named after the sites, would be taken).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { listModelFiles } from '../../src/model/loader.js';
import { validateFiles } from '../../src/policy/validate.js';
import { fleetSites, selectSites } from '../../src/testbed/lab/fleet-sites.js';
import { labFleet } from '../../src/testbed/lab/fleet.js';
import { labInterfaces } from '../../src/testbed/lab/network.js';
import { labTopology } from '../../src/testbed/lab/topology.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A command's exit code, its standard output, and both outputs together; throws on a failure unless `allowFail`. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): { code: number; stdout: string; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${out}`);
  return { code: r.status ?? 1, stdout: r.stdout ?? '', out };
}

/** `check`'s first value that is not undefined or false, polled every `everyMs`; fails after `timeoutMs` with `explain`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  explain: () => string | Promise<string> = () => '',
  everyMs = 250,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined | false;
    try {
      v = await check();
    } catch {
      v = undefined;
    }
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) assert.fail(`${what} did not happen within ${timeoutMs / 1000} s. ${await explain()}`);
    await sleep(everyMs);
  }
}

/** The routes an agent made in a namespace (routing protocol 157): "destination dev", sorted. */
export function agentRoutes(ns: string): string[] {
  const r = sh('ip', ['-n', ns, '-j', 'route', 'show', 'table', 'main', 'proto', '157']);
  return (JSON.parse(r.stdout || '[]') as { dst: string; dev: string }[]).map((x) => `${x.dst} ${x.dev}`).sort();
}

/** A WireGuard interface of a lab of `sites` (or one of `more`) that exists already on this machine, if any. */
export function busyLabInterface(repoRoot: string, sites: string[], more: string[] = []): string | undefined {
  const files = listModelFiles(repoRoot).files;
  const topology = labTopology(selectSites(fleetSites(validateFiles(files).fleet), sites), { prefix: 'mnlab', nodes: 1 });
  const links = labFleet(files, { topology, publicKeys: Object.fromEntries(topology.sites.map((s) => [s.name, 'k'])) }).links;
  return [...labInterfaces(links).map((i) => i.iface), ...more].find((i) => existsSync(`/var/run/wireguard/${i}.sock`));
}
