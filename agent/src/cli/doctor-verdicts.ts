// `mirrornet doctor`'s verdicts, pure: what each finding about the host means (ok, warn, fail) and what to do
// about it, one line per check, and the exit code. doctor.ts gathers the findings (read-only) and calls these.
import { gte as versionAtLeast, valid as validVersion } from 'semver';
import { installAdvice } from '../host/exec.js';

type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  verdict: Verdict;
  /** A stable name: node, git, source, clock, state-dir, secrets, wg, wireguard, containerd-config, dfdaemon-proxy ... */
  check: string;
  /** What was found, and for warn and fail what to do. */
  detail: string;
}

const ok = (check: string, detail: string): Check => ({ verdict: 'ok', check, detail });
const warn = (check: string, detail: string): Check => ({ verdict: 'warn', check, detail });
const fail = (check: string, detail: string): Check => ({ verdict: 'fail', check, detail });

/** The Node.js the agent needs (package.json engines). */
const MIN_NODE = '20.19.0';

export function nodeCheck(version: string): Check {
  const v = validVersion(version.replace(/^v/, ''));
  if (!v) return fail('node', `cannot tell the Node.js version from "${version}": install Node.js ${MIN_NODE} or later`);
  if (!versionAtLeast(v, MIN_NODE)) return fail('node', `Node.js ${v} is older than ${MIN_NODE}: install Node.js 22 or 24 (LTS)`);
  return ok('node', `Node.js ${v}`);
}

/** A program found in PATH (with the first line of its version), or not; `why` says what needs it. */
export function commandCheck(program: string, found: { path: string; version?: string } | undefined, why: string, check = program): Check {
  if (!found) return fail(check, `${program} is not in PATH (${why}): ${installAdvice(program)}`);
  return ok(check, `${found.path}${found.version ? ` (${found.version})` : ''}`);
}

/** The first line of a `--version` answer, short. */
export function versionLine(output: string): string | undefined {
  const line = output.trim().split('\n')[0]?.trim();
  return line ? line.slice(0, 80) : undefined;
}

export function wireguardCheck(impl: { kind: 'kernel'; how: string } | { kind: 'wireguard-go'; path: string } | undefined): Check {
  if (!impl)
    return fail(
      'wireguard',
      'neither the kernel module (not loaded, not found by modprobe) nor wireguard-go (not in PATH): ' +
        `${installAdvice('wireguard-go')}, or load the kernel module (modprobe wireguard)`,
    );
  if (impl.kind === 'kernel') return ok('wireguard', `kernel WireGuard (${impl.how})`);
  return ok('wireguard', `userspace wireguard-go (${impl.path}); no kernel module: tunnels run in userspace, with unique interface names on the machine`);
}

/** The clock against the `Date` of an answer: how far off, and where from. */
export interface DateSample {
  /** Who answered (a host name, no credentials). */
  from: string;
  /** The `Date` header, as sent. */
  date: string | null;
  /** Local time (ms) when the answer arrived. */
  localMs: number;
}

/**
 * The worst skew against the samples; signatures and operator requests allow `allowedS` either way, so past it
 * the host fails, past a fifth of it (a minute for 300 s) it warns; without a sample nothing is known.
 */
export function clockCheck(samples: DateSample[], allowedS: number): Check {
  const measured = samples.flatMap((s) => {
    const ms = s.date === null ? NaN : Date.parse(s.date);
    return Number.isFinite(ms) ? [{ from: s.from, skewS: Math.round((s.localMs - ms) / 1000) }] : [];
  });
  if (!measured.length) {
    return warn('clock', 'not checked: no HTTP answer with a Date header (source, registry or Harbor) to compare with; keep the clock synchronised (NTP)');
  }
  const worst = measured.reduce((a, b) => (Math.abs(b.skewS) > Math.abs(a.skewS) ? b : a));
  const off = `${Math.abs(worst.skewS)} s ${worst.skewS >= 0 ? 'ahead of' : 'behind'} ${worst.from}`;
  if (Math.abs(worst.skewS) > allowedS)
    return fail(
      'clock',
      `${off}: signatures and operator requests allow ±${allowedS} s; synchronise the clock (NTP: systemctl enable --now systemd-timesyncd)`,
    );
  if (Math.abs(worst.skewS) > allowedS / 5) return warn('clock', `${off} (±${allowedS} s allowed): check that NTP runs`);
  return ok('clock', Math.abs(worst.skewS) <= 1 ? `in step with ${measured.map((m) => m.from).join(', ')}` : off);
}

/** Who listens on a TCP port (from `ss -ltnp`): the process name and pid of each listener. */
export interface Listener {
  process?: string;
  pid?: number;
}

/** Listeners in `ss -H -ltnp` output (`users:(("dfdaemon",pid=12,fd=7))`); a line without users is a listener of unknown process. */
export function parseSs(output: string): Listener[] {
  return output
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(l);
      return m ? { process: m[1]!, pid: Number(m[2]) } : {};
    });
}

export function proxyPortCheck(port: number, listeners: Listener[] | { error: string }): Check {
  const check = 'dfdaemon-proxy';
  if ('error' in listeners) return warn(check, `cannot tell who holds port ${port}: ${listeners.error}`);
  if (!listeners.length) return ok(check, `port ${port} is free for dfdaemon's proxy`);
  const others = listeners.filter((l) => l.process !== 'dfdaemon');
  if (!others.length) return ok(check, `port ${port} is held by dfdaemon (pid ${listeners[0]!.pid})`);
  const who = others[0]!.process ? `${others[0]!.process} (pid ${others[0]!.pid})` : 'another process';
  return fail(check, `port ${port} is held by ${who}, not dfdaemon: stop it or move it, or set mirror.dragonfly.proxyPort in the region's file`);
}

/** The state directory: writable (a temp file was written and removed), or why not. */
export function stateDirCheck(dir: string, found: { writable: true; created?: boolean } | { error: string }): Check {
  if ('error' in found) return fail('state-dir', `${dir} ${found.error}: give --state-dir a directory the agent's user can write`);
  return ok('state-dir', found.created ? `${dir} does not exist yet; its parent is writable, so the agent creates it` : `${dir} is writable`);
}

/** Secret references and whether each resolved; only names and reasons, never a value. */
export function secretsCheck(results: { ref: string; error?: string }[], check = 'secrets'): Check {
  if (!results.length) return ok(check, 'none referenced by this host');
  const bad = results.filter((r) => r.error);
  if (bad.length) {
    const why = (b: { ref: string; error?: string }) => `${b.ref} (${b.error!.replace(/^The secret \S+ cannot be resolved: /, '').replace(/\.$/, '')})`;
    return fail(check, `${bad.length} of ${results.length} cannot be resolved: ${bad.map(why).join('; ')}`);
  }
  return ok(check, `${results.length} resolvable: ${results.map((r) => r.ref).join(', ')}`);
}

export function formatChecks(checks: readonly Check[], format: 'text' | 'json'): string {
  if (format === 'json') return `${JSON.stringify({ ok: exitCodeOf(checks) === 0, checks }, null, 2)}\n`;
  const width = Math.max(0, ...checks.map((c) => c.check.length));
  return checks.map((c) => `${c.verdict.padEnd(4)}  ${c.check.padEnd(width)}  ${c.detail}\n`).join('');
}

/** 0 when no check failed (a warning does not fail), 1 otherwise. */
export function exitCodeOf(checks: readonly Check[]): number {
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}

export { ok as okCheck, warn as warnCheck, fail as failCheck };
