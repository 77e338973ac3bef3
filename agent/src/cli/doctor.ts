// `mirrornet doctor`: checks a host before and after install, one line per check, exit 0 when none failed. It
// only looks: programs and their versions, WireGuard, containerd's config_path, dfdaemon and its proxy port,
// the source and Harbor (and the clock against their answers), the state directory, the secrets this host's
// desired state references (names only). The one thing it writes is a temp file in the state directory, removed
// at once. The providers' own detection is reused through the provider registry; the verdicts are doctor-verdicts.ts.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { siteTag } from '../bundle/build.js';
import { failureOf, httpRequest } from '../host/http.js';
import { OciClient, parseOciReference } from '../bundle/oci.js';
import type { Desired, Role } from '../desired/types.js';
import { messageOf, userMessageOf } from '../errors.js';
import { findInPath, localExec, type Exec } from '../host/exec.js';
import { HostFiles } from '../host/files.js';
import { hostSecrets, type SecretResolver } from '../host/secrets.js';
import { DFDAEMON_DEFAULTS } from '../model/constraints/dragonfly.js';
import { findConfigPath, harborYmlPath, parseDaemonJson, resolveHuaweiCredentials, wireguardImplementation } from '../providers/registry.js';
import { isSecretReference } from '../redact.js';
import { evaluateRepository } from '../reconcile/pipeline.js';
import { SITE_CLOCK_SKEW_S } from '../report/site/signing.js';
import { agentGitSshCommand, runGit } from '../source/git.js';
import {
  clockCheck,
  commandCheck,
  exitCodeOf,
  failCheck,
  formatChecks,
  nodeCheck,
  okCheck,
  parseSs,
  proxyPortCheck,
  secretsCheck,
  stateDirCheck,
  versionLine,
  warnCheck,
  wireguardCheck,
  type Check,
  type DateSample,
  type Listener,
} from './doctor-verdicts.js';
import { UsageError } from './errors.js';
import { checkSecretReferences, parseRoles, stateDirOf } from './host.js';
import type { Io } from './io.js';

export interface DoctorOptions {
  region: string;
  roles: string;
  /** A checkout to read this host's desired state from (default: the agent's clone in the state directory). */
  repo?: string;
  /** The git source the agent follows, and its branch. */
  repoUrl?: string;
  branch: string;
  /** The bundle channel the agent follows (oci://HOST/PROJECT/REPO[:CHANNEL]). */
  source?: string;
  registryUsername?: string;
  registryPassword?: string;
  root: string;
  netns?: string;
  stateDir?: string;
  /** The agent's environment file (default /etc/mirrornet/agent.env under --root): its secrets and GIT_SSH_COMMAND. */
  envFile?: string;
  harborUrl?: string;
  huaweicloudAk?: string;
  huaweicloudSk?: string;
  skipCloud?: boolean;
  format: 'text' | 'json';
}

/** What the checks use of the world, passed in: tests give their own PATH, Node.js version and timeouts. */
export interface DoctorDeps {
  exec: Exec;
  files: HostFiles;
  secrets: SecretResolver;
  /** The PATH programs are looked up in. */
  path: string;
  nodeVersion: string;
  env: NodeJS.ProcessEnv;
  /** Per network request. */
  timeoutMs: number;
  /** The local clock, read when an answer arrives (compared with its Date header). */
  now: () => number;
}

type Found = { path: string; version?: string } | undefined;

/** A program in PATH and the first line of its version answer (run outside any namespace: it only prints). */
async function program(deps: DoctorDeps, name: string, versionArgs = ['--version']): Promise<Found> {
  const path = await findInPath(name, deps.path);
  if (!path) return undefined;
  const res = await deps.exec.run(path, versionArgs, { allowFail: true, hostNamespace: true, timeoutMs: 10_000 }).catch(() => undefined);
  const version = res ? versionLine(res.stdout || res.stderr) : undefined;
  return { path, ...(version ? { version } : {}) };
}

/** GET a URL for reachability and its Date header; never throws (the failure is the answer). */
async function probe(url: string, deps: DoctorDeps): Promise<{ status: number; body: string; sample: DateSample } | { error: string }> {
  try {
    const res = await httpRequest(url, { timeoutMs: deps.timeoutMs });
    const localMs = deps.now();
    const body = (await res.text()).slice(0, 200);
    return { status: res.status, body, sample: { from: new URL(url).host, date: res.headers.get('date'), localMs } };
  } catch (err) {
    return { error: failureOf(err) };
  }
}

/** This host's desired state: from --repo, else the agent's clone in the state directory; a check line either way. */
async function desiredState(opts: DoctorOptions, roles: Role[], stateDir: string): Promise<{ check: Check; desired?: Desired; git: boolean }> {
  const clone = join(stateDir, 'repo');
  const repo = opts.repo ?? ((await stat(join(clone, '.git')).catch(() => undefined)) ? clone : undefined);
  if (repo === undefined) {
    return {
      check: warnCheck('desired', `no checkout to read ${opts.region}'s desired state from (give --repo DIR): its secrets and mirror settings are not checked`),
      git: false,
    };
  }
  try {
    const { report, revision, sites } = await evaluateRepository({ repo }, [{ site: opts.region, roles }]);
    const git = revision !== 'working-tree';
    if (!report.valid) {
      const n = report.errors.length;
      const first = report.errors[0]!;
      return {
        check: failCheck(
          'desired',
          `the repository at ${repo} is invalid (${n} error${n === 1 ? '' : 's'}; first ${first.file}:${first.line}: ${first.message.replace(/\.$/, '')}): ` +
            `run mirrornet validate --repo ${repo}`,
        ),
        git,
      };
    }
    const compiled = sites.get(opts.region);
    if (!compiled || 'error' in compiled) return { check: failCheck('desired', compiled?.error ?? `${opts.region} is not a site of ${repo}`), git };
    return { check: okCheck('desired', `${opts.region} (${roles.join(',')}) from ${repo} at ${revision.slice(0, 12)}`), desired: compiled.desired, git };
  } catch (err) {
    return { check: failCheck('desired', `cannot read ${repo}: ${userMessageOf(err).replace(/\.$/, '')}`), git: false };
  }
}

/** The source the agent follows, reachable: `git ls-remote` of the branch, or one HEAD of the site's tag. */
async function sourceChecks(opts: DoctorOptions, deps: DoctorDeps, samples: DateSample[]): Promise<Check[]> {
  if (opts.repoUrl !== undefined) {
    const url = opts.repoUrl;
    if (/^https?:\/\//.test(url)) {
      const answer = await probe(new URL(url).origin, deps);
      if ('sample' in answer) samples.push(answer.sample);
    }
    try {
      // As the service runs git: its GIT_SSH_COMMAND (the agent's own key and known hosts), not this shell's ~/.ssh.
      const key = join(stateDirOf(opts), 'ssh', 'id_ed25519');
      const ssh = deps.env['GIT_SSH_COMMAND'] ?? ((await exists(key)) ? agentGitSshCommand(stateDirOf(opts)) : undefined);
      const res = await runGit(tmpdir(), ['ls-remote', '--heads', url, opts.branch], { env: { PATH: deps.path, ...(ssh ? { GIT_SSH_COMMAND: ssh } : {}) } });
      if (res.code !== 0)
        return [
          failCheck('source', `git ls-remote ${url} failed: ${res.stderr.split('\n')[0] || `exit ${res.code}`}; check the URL and this host's credentials`),
        ];
      const sha = res.stdout.toString('utf8').split(/\s/)[0];
      if (!sha) return [failCheck('source', `${url} has no branch ${opts.branch}: give --branch`)];
      return [okCheck('source', `${url} ${opts.branch} is at ${sha.slice(0, 12)}`)];
    } catch (err) {
      return [failCheck('source', `cannot run git ls-remote ${url}: ${userMessageOf(err).replace(/\.$/, '')}`)];
    }
  }
  if (opts.source !== undefined) {
    const target = parseOciReference(opts.source);
    if ('error' in target) throw new UsageError(`--source: ${target.error}.`);
    const answer = await probe(`${target.base}/v2/`, deps);
    if ('sample' in answer) samples.push(answer.sample);
    let password: string | undefined;
    try {
      password = opts.registryPassword === undefined ? undefined : await deps.secrets.resolve(opts.registryPassword);
    } catch (err) {
      return [failCheck('source', `--registry-password: ${userMessageOf(err).replace(/\.$/, '')}`)];
    }
    const client = new OciClient(target, {
      access: 'pull',
      credentialFlags: '--registry-username and --registry-password REF',
      timeoutMs: deps.timeoutMs,
      ...(opts.registryUsername !== undefined && password !== undefined ? { username: opts.registryUsername, password } : {}),
    });
    const tag = siteTag(target.tag ?? 'main', opts.region);
    try {
      const digest = await client.manifestDigest(tag);
      if (!digest) return [warnCheck('source', `${target.host}/${target.repository} answers, but holds no ${tag} yet: publish the fleet (mirrornet publish)`)];
      return [okCheck('source', `${target.host}/${target.repository}:${tag} is ${digest.slice(0, 19)}`)];
    } catch (err) {
      return [failCheck('source', userMessageOf(err).replace(/\.$/, ''))];
    }
  }
  return [warnCheck('source', 'not checked: give --repo-url URL or --source oci://HOST/PROJECT/REPO, what the agent follows')];
}

/** Writable: a temp file written and removed at once; a directory not there yet needs a writable parent. */
async function stateDirChecks(dir: string): Promise<Check> {
  const s = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (s instanceof Error) {
    if (s.code !== 'ENOENT') return stateDirCheck(dir, { error: `cannot be read (${s.code ?? s.message})` });
    let parent = dirname(dir);
    while ((await stat(parent).catch(() => undefined)) === undefined && parent !== dirname(parent)) parent = dirname(parent);
    const writable = await access(parent, constants.W_OK).then(
      () => true,
      () => false,
    );
    return writable ? stateDirCheck(dir, { writable: true, created: true }) : stateDirCheck(dir, { error: `does not exist and ${parent} is not writable` });
  }
  if (!s.isDirectory()) return stateDirCheck(dir, { error: 'is not a directory' });
  const probeFile = join(dir, `.mirrornet-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probeFile, 'mirrornet doctor\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    return stateDirCheck(dir, { error: `is not writable (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})` });
  } finally {
    await rm(probeFile, { force: true });
  }
  return stateDirCheck(dir, { writable: true });
}

/** Every secret reference in the desired state (WireGuard keys, Harbor's passwords, robots ...), once each. */
function secretReferences(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    if (isSecretReference(value)) out.add(value);
  } else if (Array.isArray(value)) for (const v of value) secretReferences(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) secretReferences(v, out);
  return out;
}

async function resolveAll(refs: Iterable<string>, secrets: SecretResolver): Promise<{ ref: string; error?: string }[]> {
  const out: { ref: string; error?: string }[] = [];
  for (const ref of refs) {
    try {
      await secrets.resolve(ref);
      out.push({ ref });
    } catch (err) {
      out.push({ ref, error: userMessageOf(err) });
    }
  }
  return out;
}

/** A check that only matters when the desired state needs it: a failure becomes a warning otherwise. */
function neededOnlyIf(needed: boolean, check: Check, why: string): Check {
  return !needed && check.verdict === 'fail' ? warnCheck(check.check, `${check.detail} (not needed yet: ${why})`) : check;
}

async function gatewayChecks(opts: DoctorOptions, deps: DoctorDeps, desired: Desired | undefined): Promise<Check[]> {
  const tunnels = desired === undefined || desired.wireguard.length > 0;
  const none = `no WireGuard link on ${opts.region}`;
  const checks = [
    commandCheck('ip', await program(deps, 'ip', ['-V']), 'routes and tunnels'),
    neededOnlyIf(tunnels, commandCheck('wg', await program(deps, 'wg'), 'WireGuard tunnels'), none),
    neededOnlyIf(tunnels, wireguardCheck(await wireguardImplementation(deps, (p) => findInPath(p, deps.path))), none),
    neededOnlyIf(tunnels, commandCheck('iptables', await program(deps, 'iptables'), 'MSS clamping on the tunnels'), none),
  ];
  if (desired?.cloud && !opts.skipCloud) {
    const names = `${opts.huaweicloudAk ?? 'env:HUAWEICLOUD_SDK_AK'}, ${opts.huaweicloudSk ?? 'env:HUAWEICLOUD_SDK_SK'}`;
    try {
      await resolveHuaweiCredentials({
        secrets: deps.secrets,
        env: deps.env,
        ...(opts.huaweicloudAk ? { akRef: opts.huaweicloudAk } : {}),
        ...(opts.huaweicloudSk ? { skRef: opts.huaweicloudSk } : {}),
      });
      checks.push(okCheck('cloud-credentials', `Huawei Cloud access key pair resolvable (${names})`));
    } catch (err) {
      checks.push(
        failCheck('cloud-credentials', `${userMessageOf(err).replace(/\.$/, '')}: set them, give --huaweicloud-ak/--huaweicloud-sk REF, or --skip-cloud`),
      );
    }
  }
  return checks;
}

async function nodeChecks(opts: DoctorOptions, deps: DoctorDeps, desired: Desired | undefined): Promise<Check[]> {
  const checks: Check[] = [];
  if (desired?.containerd) {
    checks.push(commandCheck('containerd', await program(deps, 'containerd'), 'the runtime the mirrors are written for'));
    const { configPath, notes } = findConfigPath(await deps.files.read('/etc/containerd/config.toml'));
    checks.push(notes.length ? failCheck('containerd-config', notes.join(' ')) : okCheck('containerd-config', `config_path is ${configPath}`));
    if (!notes.length) {
      checks.push(
        (await deps.files.exists(configPath))
          ? okCheck('certs-dir', `${configPath} exists`)
          : warnCheck('certs-dir', `${configPath} does not exist yet: the first apply creates it`),
      );
    }
  }
  if (desired?.docker) {
    const daemon = parseDaemonJson(await deps.files.read('/etc/docker/daemon.json'));
    const dir = deps.files.path('/etc/docker');
    const writable = await access(dir, constants.W_OK).then(
      () => true,
      () => false,
    );
    if (daemon.error) checks.push(failCheck('docker', `/etc/docker/daemon.json ${daemon.error}: fix it by hand; mirrornet does not rewrite it`));
    else if (!writable) checks.push(failCheck('docker', `${dir} is missing or not writable: install Docker, and run the agent as a user that may write there`));
    else
      checks.push(
        okCheck('docker', `/etc/docker/daemon.json ${daemon.text === undefined ? 'does not exist yet; its directory is writable' : 'is writable JSON'}`),
      );
  }
  if (desired === undefined || desired.dragonfly) {
    const dfdaemon = await program(deps, 'dfdaemon');
    checks.push(
      dfdaemon
        ? commandCheck('dfdaemon', dfdaemon, '')
        : failCheck('dfdaemon', "dfdaemon is not in PATH (the region's P2P peer): install Dragonfly's client (github.com/dragonflyoss/client releases)"),
    );
    const proxy = (desired?.dragonfly?.config['proxy'] as { server?: { port?: number } } | undefined)?.server?.port ?? DFDAEMON_DEFAULTS.proxyPort;
    let listeners: Listener[] | { error: string };
    try {
      const ss = await deps.exec.run('ss', ['-H', '-ltnp', `sport = :${proxy}`], { allowFail: true, timeoutMs: 10_000 });
      listeners = ss.code === 0 ? parseSs(ss.stdout) : { error: `ss exited ${ss.code}: ${(ss.stderr || ss.stdout).trim().split('\n')[0]}` };
    } catch (err) {
      listeners = { error: userMessageOf(err).replace(/\.$/, '') };
    }
    checks.push(proxyPortCheck(proxy, listeners));
  }
  return checks;
}

async function hubChecks(opts: DoctorOptions, deps: DoctorDeps, desired: Desired | undefined, samples: DateSample[]): Promise<Check[]> {
  const instance = desired?.harbor?.instance;
  const url = opts.harborUrl ?? deps.env['MIRRORNET_HARBOR_URL'] ?? instance?.externalUrl;
  const checks: Check[] = [];
  if (url === undefined) {
    checks.push(warnCheck('harbor', `no Harbor to check: ${desired ? `${opts.region} declares none` : 'give --repo or --harbor-url'}`));
  } else {
    const answer = await probe(`${url.replace(/\/+$/, '')}/api/v2.0/ping`, deps);
    if ('error' in answer) checks.push(failCheck('harbor', `cannot reach ${url} (${answer.error}): check Harbor runs and this host reaches it`));
    else {
      samples.push(answer.sample);
      checks.push(
        answer.status === 200 && answer.body.trim() === 'Pong'
          ? okCheck('harbor', `${url} answers Pong`)
          : failCheck('harbor', `${url}/api/v2.0/ping answered HTTP ${answer.status}, not Pong: check that it is Harbor and that it is healthy`),
      );
    }
  }
  if (instance) {
    const yml = harborYmlPath(instance);
    const dir = instance.installDir.replace(/\/+$/, '');
    if (!(await deps.files.exists(`${dir}/prepare`)))
      checks.push(failCheck('harbor-install', `${dir}/prepare not found: unpack Harbor's installer (harbor-offline-installer) into ${dir}`));
    else
      checks.push(
        okCheck('harbor-install', `${dir} holds Harbor's installer; ${(await deps.files.exists(yml)) ? `${yml} exists` : 'the first apply writes harbor.yml'}`),
      );
  }
  return checks;
}

/** Every check for this host, in order: the host as a whole, then each role's. */
async function doctorChecks(opts: DoctorOptions, deps: DoctorDeps): Promise<Check[]> {
  const roles = parseRoles(opts.roles);
  const stateDir = stateDirOf(opts);
  const samples: DateSample[] = [];
  const { check: desiredCheck, desired, git } = await desiredState(opts, roles, stateDir);
  const checks: Check[] = [nodeCheck(deps.nodeVersion), desiredCheck];
  if (opts.repoUrl !== undefined || git) checks.push(commandCheck('git', await program(deps, 'git'), 'the git source'));
  checks.push(...(await sourceChecks(opts, deps, samples)));
  checks.push(await stateDirChecks(stateDir));
  if (desired) checks.push(secretsCheck(await resolveAll(secretReferences(desired), deps.secrets)));
  if (roles.includes('gateway')) checks.push(...(await gatewayChecks(opts, deps, desired)));
  if (roles.includes('node')) checks.push(...(await nodeChecks(opts, deps, desired)));
  if (roles.includes('hub')) checks.push(...(await hubChecks(opts, deps, desired, samples)));
  checks.push(clockCheck(samples, SITE_CLOCK_SKEW_S));
  return checks;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The environment file of the agent's unit (agent/deploy/mirrornet-agent.service). */
const AGENT_ENV_FILE = '/etc/mirrornet/agent.env';

/** `KEY=VALUE` lines of a systemd environment file (quotes removed, comments skipped); none when it is not there. */
export async function serviceEnvironment(path: string): Promise<Record<string, string>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

/** Exit 0 when no check failed (warnings do not fail), 1 otherwise; 2 for a usage error. */
export async function doctorCommand(opts: DoctorOptions, io: Io, given: Partial<DoctorDeps> = {}): Promise<number> {
  checkSecretReferences({ '--registry-password': opts.registryPassword, '--huaweicloud-ak': opts.huaweicloudAk, '--huaweicloud-sk': opts.huaweicloudSk });
  if (opts.repoUrl !== undefined && opts.source !== undefined) throw new UsageError('Give one source to check: --repo-url (git) or --source (bundles).');
  if ((opts.registryUsername === undefined) !== (opts.registryPassword === undefined))
    throw new UsageError('--registry-username and --registry-password go together.');
  // The service's environment, as its unit gives it: this shell's, then the unit's environment file over it.
  const env = { ...process.env, ...(await serviceEnvironment(join(opts.root, opts.envFile ?? AGENT_ENV_FILE))) };
  const deps: DoctorDeps = {
    exec: localExec(opts.netns ? { netns: opts.netns } : {}),
    files: new HostFiles(opts.root),
    secrets: hostSecrets({ root: opts.root, env }),
    path: process.env['PATH'] ?? '',
    nodeVersion: process.version,
    env,
    timeoutMs: 10_000,
    now: Date.now,
    ...given,
  };
  const checks = await doctorChecks(opts, deps);
  io.stdout(formatChecks(checks, opts.format));
  return exitCodeOf(checks);
}
