// The lab benchmark's report of its pushes (agent/bench/lab.ts): merge-to-applied on all agents and where its
// time goes (per group of agents, the publisher's and the services' logs, the agents' step timings), the CPU of
// a push, the requests to the git origin per revision and each region's core egress per revision, as printed
// lines, table rows with issue 12's targets (PASS/MISS, never failing) and findings. Apart so each file stays short.
import { availableParallelism } from 'node:os';
import type { LabState } from '../src/testbed/lab/processes.js';
import type { LabAgent } from './lab-agents.js';
import { groupOf, GROUPS, type Fleet, type Group, type RegionEgress, type Sample } from './lab-delivery.js';
import { median, type Out, type Row } from './report.js';

/** Issue 12's targets: merge-to-applied on all agents, CPU per push (1/5 of before), origin requests, core egress. */
const APPLIED_TARGET_MS = 2000;
const CPU_BEFORE = 8.3;
const CPU_TARGET = CPU_BEFORE / 5;
const ORIGIN_TARGET = 1;
const BUNDLE_EGRESS_TARGET = 1.1;

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtCpu = (s: number) => `${s.toFixed(2)} CPU-s`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const medianOf = (xs: (number | undefined)[]) => {
  const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return d.length ? median(d) : undefined;
};
const optS = (ms: number | undefined) => (ms === undefined ? 'n/a' : fmtS(ms));

/** Per group of agents, the median over samples of `pick`, as `group value` (how many agents in the group). */
function byGroupLine(agents: LabAgent[], state: LabState, samples: Sample[], pick: (s: Sample, g: Group) => number | undefined, fmt: (v: number) => string) {
  return GROUPS.flatMap((g) => {
    const n = agents.filter((a) => groupOf(state, a) === g).length;
    const v = medianOf(samples.map((s) => pick(s, g)));
    return n && v !== undefined ? [`${g}${n > 1 ? `s (${n})` : ''} ${fmt(v)}`] : [];
  }).join(', ');
}

export interface PushReport {
  state: LabState;
  agents: LabAgent[];
  poll: Sample[];
  hook: Sample[];
  out: Out;
  rows: Row[];
  findings: string[];
  intervalMs: number;
  all: string;
}

/** Merge-to-applied with webhooks, where its time goes, and the CPU of a push. */
export function reportPushes({ state, agents, poll, hook, out, rows, findings, intervalMs, all }: PushReport): void {
  const hookAll = hook.map((s) => s.all);
  const applied = median(hookAll);
  out(
    `lab bench: merge-to-applied with a signed webhook to the publisher only, ${all}: ` +
      hook.map((s) => `${fmtS(s.all)} (first agent ${fmtS(s.first)})`).join(', ') +
      `; median ${fmtS(applied)} (target <= ${fmtS(APPLIED_TARGET_MS)}) ${verdict(applied <= APPLIED_TARGET_MS)}`,
  );
  out(`lab bench: when each group's last agent applied (median after the push): ${byGroupLine(agents, state, hook, (s, g) => s.byGroup.get(g), fmtS)}`);
  for (const [i, s] of hook.entries()) {
    const t = s.timeline;
    out(
      `  push ${i + 1}: all ${fmtS(s.all)}; published ${optS(t.published)}; ` +
        `${t.replications.map((r) => `replication ${fmtS(r.end - r.ms)}..${fmtS(r.end)}`).join(', ') || 'no replication'}; ` +
        `gateways told ${t.told.map((x) => `${x.core} ${fmtS(x.at)} (${x.gateways})`).join(', ') || 'never'}; ` +
        `last applied: ${GROUPS.filter((g) => s.byGroup.has(g))
          .map((g) => `${g} ${fmtS(s.byGroup.get(g)!)}`)
          .join(', ')}`,
    );
  }
  const tl = hook.map((s) => s.timeline);
  const cores = [...new Set(tl.flatMap((t) => t.told.map((x) => x.core)))];
  const told = (c: string) => `${c} ${optS(medianOf(tl.map((t) => t.told.find((x) => x.core === c)?.at)))}`;
  out(
    'lab bench: the path of a push (median after the push): ' +
      `the publisher logged \`bundle published\` at ${optS(medianOf(tl.map((t) => t.published)))}; ` +
      `replication to the other core took ${optS(medianOf(tl.map((t) => t.replications[0]?.ms)))} and ended at ` +
      `${optS(medianOf(tl.map((t) => t.replications[0]?.end)))} (${mean(tl.map((t) => t.replications.length)).toFixed(1)} per push); ` +
      `registry webhooks to the gateways: ${cores.map(told).join(', ') || 'none'}`,
  );
  for (const g of GROUPS) {
    const stepNames = [...new Set(hook.flatMap((s) => [...(s.steps.get(g)?.keys() ?? [])]))];
    if (!stepNames.length) continue;
    out(
      `lab bench: step timings per push, ${g} (mean per agent, median over pushes): ` +
        stepNames.map((n) => `${n} ${optS(medianOf(hook.map((s) => s.steps.get(g)?.get(n))))}`).join(', '),
    );
  }
  rows.unshift({
    what: `merge-to-applied, webhook to the publisher, ${all} (${hook.length} pushes)`,
    value: fmtS(applied),
    target:
      `<= ${fmtS(APPLIED_TARGET_MS)} median; ${fmtS(Math.min(...hookAll))}..${fmtS(Math.max(...hookAll))}; ` +
      `polling/webhook ${(mean(poll.map((s) => s.all)) / applied).toFixed(1)}x`,
    verdict: verdict(applied <= APPLIED_TARGET_MS),
  });
  if (hookAll.some((m) => m > intervalMs - 2500))
    findings.push(`a webhook push took longer than the time to the next interval tick (${fmtS(intervalMs - 2500)}): polling may have helped that sample`);

  // CPU per push: the agents with their children; the other lab processes beside it.
  const cpu = mean(hook.map((s) => s.cpu));
  const cpus = availableParallelism();
  const others = [...new Set(hook.flatMap((s) => [...s.otherCpu.keys()]))];
  out(
    `lab bench: CPU per push, ${all} with their children (git, ssh-keygen, evaluate): ${fmtCpu(cpu)} with webhooks ` +
      `(${((cpu / CPU_BEFORE) * 100).toFixed(0)}% of the ${fmtCpu(CPU_BEFORE)} before bundles; ` +
      `target <= ${fmtCpu(CPU_TARGET)}) ${verdict(cpu <= CPU_TARGET)}, ` +
      `${fmtCpu(mean(poll.map((s) => s.cpu)))} by polling (incl. the tick's checks); ${cpus} CPU(s) here`,
  );
  out(`lab bench: CPU per push by group (median, all agents of the group): ${byGroupLine(agents, state, hook, (s, g) => s.cpuByGroup.get(g), fmtCpu)}`);
  out(`lab bench: of which their children (git, ssh-keygen, ip, wg, ...): ${byGroupLine(agents, state, hook, (s, g) => s.childCpuByGroup.get(g), fmtCpu)}`);
  out(
    `lab bench: CPU per push of the lab's other processes (not counted): ` +
      others.map((k) => `${k} ${fmtCpu(medianOf(hook.map((s) => s.otherCpu.get(k))) ?? 0)}`).join(', '),
  );
  rows.splice(1, 0, {
    what: `CPU per push, ${all} + children (webhooks)`,
    value: fmtCpu(cpu),
    target: `<= ${fmtCpu(CPU_TARGET)} (1/5 of ${fmtCpu(CPU_BEFORE)}); ${(cpu / CPU_BEFORE).toFixed(2)}x before`,
    verdict: verdict(cpu <= CPU_TARGET),
  });
  if (cpu / cpus > (0.5 * applied) / 1000) {
    findings.push(
      `merge-to-applied across all sites is CPU-bound on this ${cpus}-CPU machine: one push costs ${fmtCpu(cpu)} over ${agents.length} agents ` +
        `(${fmtCpu(cpu / agents.length)} each) against ${fmtS(applied)} wall`,
    );
  }
}

/** Requests to the git origin per revision, and the cores' egress per region for a revision's bundle. */
export function reportDelivery(f: Fleet, samples: Sample[], poll: Sample[], hook: Sample[], out: Out, rows: Row[], findings: string[]): void {
  const count = (ss: Sample[]) =>
    `${ss.map((s) => s.origin.total).join('/')} (ls-remote ${ss.map((s) => s.origin.lsRemote).join('/')}, fetch ${ss.map((s) => s.origin.fetch).join('/')})`;
  const perRevision = median(hook.map((s) => s.origin.total));
  const total = f.origin.since(0);
  out(
    `lab bench: requests to the git origin per revision, from the push until all applied: ${count(hook)} with webhooks, ${count(poll)} by polling; ` +
      `${total.total} in all while measuring (ls-remote ${total.lsRemote}, fetch ${total.fetch}, other ${total.other}), by ${f.origin.clones.length} clone(s)`,
  );
  rows.splice(2, 0, {
    what: 'requests to the git origin per revision (webhooks)',
    value: String(perRevision),
    target: `${ORIGIN_TARGET} (GitHub); ${f.origin.clones.length} agent clone(s) follow it`,
    verdict: verdict(perRevision <= ORIGIN_TARGET),
  });
  if (perRevision > ORIGIN_TARGET && hook.every((s) => s.origin.lsRemote >= 1 && s.origin.fetch >= 1))
    findings.push(
      `the publisher asks the origin ${perRevision} times per revision: \`git ls-remote origin refs/heads/main\` (GitSource.remoteRevision) ` +
        'and then `git fetch` (GitSource.checkout); a webhook names the revision, and one fetch alone would tell whether the branch moved',
    );

  const regions = samples[0]?.egress.regions.map((r) => r.region) ?? [];
  const ratioOf = (r: RegionEgress) => (r.layerBytes ? (r.peer.bytes + r.agents.bytes) / r.layerBytes : Infinity);
  const floor = (r: RegionEgress) => r.floorBytes / r.layerBytes;
  const egressOf = (ss: Sample[], name: string) => ss.map((s) => s.egress.regions.find((r) => r.region === name)!);
  for (const name of regions) {
    const xs = egressOf(samples, name);
    const ratios = xs.map(ratioOf);
    const worst = Math.max(...ratios);
    const x = xs[xs.length - 1]!;
    const parts = [...new Set(xs.flatMap((r) => [...r.parts.keys()]))].sort();
    const part = (k: string) => `${k} ${median(xs.map((r) => r.parts.get(k)?.requests ?? 0))}x ${median(xs.map((r) => r.parts.get(k)?.bytes ?? 0))} B`;
    const ratiosOf = (ss: Sample[]) => egressOf(ss, name).map((r) => ratioOf(r).toFixed(2));
    const once = xs.filter((r) => Math.abs(r.peer.bytes + r.agents.bytes - r.floorBytes) <= r.floorBytes / 100).length;
    out(
      `lab bench: core egress per revision ${name} (from ${x.core}; its layer ${x.layerBytes} B, floor ${floor(x).toFixed(2)}x): ` +
        `${ratiosOf(poll).join('/')}x polling, ${ratiosOf(hook).join('/')}x webhooks; ` +
        `median to its peer ${median(xs.map((r) => r.peer.bytes))} B in ${median(xs.map((r) => r.peer.requests))} request(s), ` +
        `to its agents ${median(xs.map((r) => r.agents.bytes))} B in ${median(xs.map((r) => r.agents.requests))}; by part: ${parts.map(part).join(', ')}; ` +
        `each part once (within 1%): ${once}/${xs.length} revisions`,
    );
    rows.push({
      what: `core egress per revision ${name} (bundle, from ${x.core})`,
      value: Number.isFinite(median(ratios)) ? `${median(ratios).toFixed(2)}x` : 'no layer',
      target: `<= ${BUNDLE_EGRESS_TARGET}x its layer (${x.layerBytes} B); worst ${worst.toFixed(2)}x of ${samples.length}; floor ${floor(x).toFixed(2)}x`,
      verdict: verdict(worst <= BUNDLE_EGRESS_TARGET),
    });
  }
  const floors = regions.map((n) => egressOf(samples, n).at(-1)!).filter((r) => r.layerBytes && floor(r) > BUNDLE_EGRESS_TARGET);
  if (floors.length)
    findings.push(
      `core egress per revision: ${floors.length}/${regions.length} regions cannot meet ${BUNDLE_EGRESS_TARGET}x their layer even if each part of the bundle ` +
        `were served once: their layer is ${Math.min(...floors.map((r) => r.layerBytes))}..${Math.max(...floors.map((r) => r.layerBytes))} B, ` +
        `and the site manifest adds ${Math.min(...floors.map((r) => r.floorBytes - r.layerBytes))}..` +
        `${Math.max(...floors.map((r) => r.floorBytes - r.layerBytes))} B per revision`,
    );
  out(`lab bench: the cores served ${median(samples.map((s) => s.egress.elsewhere))} B per revision to the rest (core agents, the publisher, replication)`);
}
