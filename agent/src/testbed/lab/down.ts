// `lab down`: remove everything the lab made, also after a crash — the agents first (they would re-create
// what goes next), then every other recorded process, stray processes naming the lab directory, lab
// programs left in the lab's namespaces (wireguard-go, ctr, a registry), the namespaces, WireGuard control
// sockets and the lab directory; then check that nothing is left.
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { userMessageOf } from '../../errors.js';
import {
  alive,
  argvOf,
  deleteNamespace,
  isLabProgram,
  isSame,
  listNamespaces,
  loadState,
  namespaceExists,
  namespacePids,
  pidsUsingDir,
  processStart,
  removeLabDir,
  stopPids,
  wireguardGoPids,
  type LabProcess,
  type LabState,
} from './processes.js';
import type { Say } from './startup.js';

/** The namespace prefix `lab down` looks for when the state file is gone (the CLI's default). */
const DEFAULT_PREFIX = 'mnlab';

export interface DownOptions {
  dir: string;
  prefix?: string;
  say: Say;
}

/** Remove the lab in `opts.dir`: what was removed, and the problems left (none when everything went). */
export async function labDown(opts: DownOptions): Promise<{ removed: string[]; problems: string[] }> {
  const dir = resolve(opts.dir);
  const say = opts.say;
  const removed: string[] = [];
  const problems: string[] = [];
  let state: LabState | undefined;
  try {
    state = loadState(dir);
  } catch (err) {
    // An unreadable state file is a problem to report, not a reason to stop: the prefix's namespaces still go.
    problems.push(userMessageOf(err));
  }
  const prefix = state?.prefix ?? opts.prefix ?? DEFAULT_PREFIX;
  // Namespaces: the recorded ones; without a state file, the prefix's (a crash before the first save).
  const recorded = new Set(state?.namespaces ?? []);
  if (!state)
    for (const ns of listNamespaces()) if (ns === `${prefix}-inet` || (namespaceExists(`${prefix}-inet`) && ns.startsWith(`${prefix}-`))) recorded.add(ns);
  const nsList = [...recorded].filter(namespaceExists);
  const wgNames = new Set(state?.wireguard ?? []);

  // Agents first (they would re-create what goes next), then everything else the lab started.
  const procs = state?.processes ?? [];
  const order: LabProcess['kind'][] = ['agent', 'node-agent', 'services', 'peer', 'containerd', 'registry'];
  for (const kind of order) {
    const list = procs.filter((p) => p.kind === kind && isSame(p));
    if (!list.length) continue;
    problems.push(...(await stopPids(list)));
    removed.push(...list.map((p) => `${p.name} (pid ${p.pid})`));
  }
  // A process started just before a crash (not saved yet) names the lab directory in its arguments.
  if (existsSync(dir)) {
    const stray = pidsUsingDir(dir).map((pid) => ({ pid, start: processStart(pid) }));
    if (stray.length) {
      problems.push(...(await stopPids(stray.filter((p): p is { pid: number; start: string } => p.start !== undefined))));
      removed.push(...stray.map((p) => `process ${p.pid} using ${dir}`));
    }
  }
  // What still runs in the lab's namespaces and is a lab program (wireguard-go, ctr, a registry) goes too;
  // anything else (someone's shell) is left alone and named.
  const insidePids = nsList.flatMap((ns) => namespacePids(ns).map((pid) => ({ ns, pid })));
  for (const { ns, pid } of insidePids) {
    if (!isLabProgram(argvOf(pid)) && alive(pid))
      say(
        `  note: process ${pid} (${argvOf(pid).join(' ').slice(0, 60)}) runs in ${ns} and was not started by the lab: left alone; ` +
          'the namespace goes away when it exits.',
      );
  }
  const inside = insidePids.filter(({ pid }) => isLabProgram(argvOf(pid))).map(({ pid }) => ({ pid, start: processStart(pid) }));
  const wg = wireguardGoPids(wgNames).map((pid) => ({ pid, start: processStart(pid) }));
  const rest = [...inside, ...wg].filter((p): p is { pid: number; start: string } => p.start !== undefined);
  if (rest.length) {
    problems.push(...(await stopPids(rest, 2000)));
    removed.push(`${rest.length} process(es) in the lab's namespaces (wireguard-go, ...)`);
  }
  for (const ns of nsList.sort((a, b) => (a.endsWith('-inet') ? 1 : b.endsWith('-inet') ? -1 : 0))) {
    try {
      deleteNamespace(ns);
      removed.push(`namespace ${ns}`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const name of wgNames) {
    const sock = `/var/run/wireguard/${name}.sock`;
    if (existsSync(sock)) {
      rmSync(sock, { force: true });
      removed.push(sock);
    }
  }
  if (existsSync(dir)) {
    const p = removeLabDir(dir);
    problems.push(...p);
    if (!p.length) removed.push(dir);
  }
  // Verify.
  for (const ns of nsList) if (namespaceExists(ns)) problems.push(`namespace ${ns} is still there`);
  for (const p of procs) if (isSame(p)) problems.push(`${p.name} (pid ${p.pid}) is still running`);
  const leftWg = wireguardGoPids(wgNames);
  if (leftWg.length) problems.push(`wireguard-go still running: ${leftWg.join(', ')}`);
  if (!state && !nsList.length && !existsSync(dir)) say(`No lab in ${dir}: nothing to remove.`);
  else say(`lab down: removed ${removed.length} thing(s)${problems.length ? `; ${problems.length} problem(s)` : ''}.`);
  return { removed, problems };
}
