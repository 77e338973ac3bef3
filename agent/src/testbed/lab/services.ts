// The lab's cloud services, one long-running process on loopback (started by `lab up`, stopped by `lab
// down`): the Huawei Cloud VPC route-table emulator every Huawei Cloud gateway programs, one Harbor
// API emulator per core, and, when the lab reports, its local receivers (receivers.ts): the GitHub
// emulator the agents post commit statuses to, and the chat receiver every lab chat channel posts to.
// A Harbor replication execution really copies the artifacts: the source core's namespace runs the lab's
// registry tool (one long-running copier per core), which copies from its real registry to the destination
// core's across the tunnel (Harbor pushes from the source). Nothing here ever connects beyond loopback: a Harbor
// registry endpoint that is not one of the lab's Harbors (e.g. Docker Hub) is reported healthy unchecked.
//
//   node services.js --dir DIR      reads DIR/services-config.json, writes DIR/services.json when ready
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRemoteCheck, startHarborEmulator, type ExecutionResult, type HarborEmulator, type PolicyView } from '../emulators/harbor/index.js';
import { startHuaweiVpcEmulator } from '../emulators/huaweicloud-vpc/index.js';
import { startChatReceiver, startLabGithub } from './receivers.js';
import { notifyGateways, startRegistryEvents } from './registry-events.js';
import { REGISTRY_TOOL, type CopyResult } from './registry-tool.js';

export interface ServicesCore {
  site: string;
  instance: string;
  ns: string;
  /** The core's real registry (its Harbor's storage), e.g. http://10.120.0.10:5000. */
  registryUrl: string;
}

export interface ServicesConfig {
  vpc: { ak: string; sk: string };
  harbor: { username: string; password: string };
  cores: ServicesCore[];
  /** Commit statuses: the GitHub emulator, for this repository (owner/name) and token. */
  github?: { token: string; repo: string };
  /** Chat: the receiver, with the channels' signing secret and its delivery log. */
  chat?: { secret: string; log: string };
  /** Bundle delivery: the cores' registries notify here (registry-events.ts). */
  registryEvents?: { host: string; token: string; hookToken: string; labDir: string };
}

export interface ServicesReady {
  pid: number;
  vpcUrl: string;
  harbors: Record<string, { url: string; instance: string }>;
  githubUrl?: string;
  chatUrl?: string;
  /** The port the cores' registries send their notifications to (on the host address). */
  eventsPort?: number;
}

export const SERVICES_CONFIG = 'services-config.json';
export const SERVICES_READY = 'services.json';

function say(msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), msg, ...extra })}\n`);
}

/**
 * One long-running copier per namespace (`registry-tool serve` run in it, as Harbor's jobservice workers run):
 * a replication does not wait for a process to start. A copier that died is started again on the next copy.
 */
class Copiers {
  private readonly running = new Map<string, { child: ChildProcess; waiting: Map<number, (r: { result?: CopyResult; error?: string }) => void> }>();
  private next = 1;

  private copier(ns: string) {
    const known = this.running.get(ns);
    if (known && known.child.exitCode === null && !known.child.killed) return known;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, REGISTRY_TOOL, 'serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const waiting = new Map<number, (r: { result?: CopyResult; error?: string }) => void>();
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = `${err}${d.toString()}`.slice(-2000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as { id: number; result?: CopyResult; error?: string };
      waiting.get(answer.id)?.(answer);
      waiting.delete(answer.id);
    });
    child.once('close', () => {
      for (const done of waiting.values()) done({ error: `the copier in ${ns} ended: ${err.trim() || 'no output'}` });
      waiting.clear();
    });
    child.stdin!.on('error', () => undefined);
    const entry = { child, waiting };
    this.running.set(ns, entry);
    return entry;
  }

  /** Copy in namespace `ns`; resolves with the copy's counts. */
  copy(ns: string, from: string, to: string, filters: string[], tagFilter?: string): Promise<CopyResult> {
    const { child, waiting } = this.copier(ns);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      waiting.set(id, (r) => (r.result ? resolve(r.result) : reject(new Error(`the copy in ${ns} failed: ${r.error ?? 'no answer'}`))));
      child.stdin!.write(`${JSON.stringify({ id, from, to, filters, ...(tagFilter ? { tagFilter } : {}) })}\n`);
    });
  }

  close(): void {
    for (const { child } of this.running.values()) child.kill('SIGTERM');
    this.running.clear();
  }
}

export async function runServices(dir: string): Promise<{ close: () => Promise<void>; ready: ServicesReady }> {
  const config = JSON.parse(readFileSync(join(dir, SERVICES_CONFIG), 'utf8')) as ServicesConfig;
  const vpc = await startHuaweiVpcEmulator({
    credentials: [{ ak: config.vpc.ak, sk: config.vpc.sk }],
    autoCreateTables: true,
    statePath: join(dir, 'vpc-state.json'),
  });
  say('Huawei Cloud VPC emulator listening', { url: vpc.url });
  const harbors = new Map<string, { core: ServicesCore; emu: HarborEmulator }>();
  const copiers = new Copiers();
  const coreOfUrl = (url: string | undefined) => [...harbors.values()].find((h) => url && h.emu.url.replace(/\/+$/, '') === url.replace(/\/+$/, ''))?.core;

  /** The tags of the push an event-based execution is for (`<core> <repository>`), while it is being started. */
  const eventTags = new Map<string, string[]>();
  const onExecution = async (policy: PolicyView, emu: HarborEmulator): Promise<ExecutionResult> => {
    const self = [...harbors.values()].find((h) => h.emu === emu)?.core;
    if (!self) return { status: 'Failed', statusText: 'not a lab Harbor' };
    const push = policy.destRegistry !== undefined;
    const peer = coreOfUrl(push ? policy.destRegistry?.url : policy.srcRegistry?.url);
    if (!peer)
      return {
        status: 'Failed',
        statusText: `the ${push ? 'destination' : 'source'} registry ${push ? policy.destRegistry?.url : policy.srcRegistry?.url} is not a Harbor of the lab`,
      };
    const [from, to] = push ? [self, peer] : [peer, self];
    let filters = policy.record.filters.filter((f) => f.type === 'name').flatMap((f) => (Array.isArray(f.value) ? f.value.map(String) : [String(f.value)]));
    let tag = policy.record.filters.find((f) => f.type === 'tag')?.value;
    const event = [...eventTags].find(([key]) => key.startsWith(`${self.site} `));
    if (event && push) {
      filters = [event[0].slice(self.site.length + 1)];
      tag = `{${event[1].join(',')}}`;
    }
    say('replication execution', { policy: policy.name, from: from.site, to: to.site, filters });
    const started = Date.now();
    const r = await copiers.copy(self.ns, from.registryUrl, to.registryUrl, filters, typeof tag === 'string' ? tag : undefined);
    say('replication done', { policy: policy.name, ...r, ms: Date.now() - started });
    // As a Harbor webhook policy on replication: the gateways that follow the destination look now.
    if (config.registryEvents && !r.failed) void notifyGateways(config.registryEvents.labDir, to.site, config.registryEvents.hookToken);
    return {
      status: r.failed ? 'Failed' : 'Succeed',
      statusText: r.failed
        ? r.errors.slice(0, 3).join('; ')
        : `${r.succeed} artifact(s), ${r.blobs} blob(s), ${r.bytes} bytes copied from ${from.site} to ${to.site}`,
      total: r.total,
      succeed: r.succeed,
      failed: r.failed,
    };
  };

  const remoteCheck = async (url: string, registry: Parameters<typeof defaultRemoteCheck>[1]) => (coreOfUrl(url) ? defaultRemoteCheck(url, registry) : true);
  for (const core of config.cores) {
    const emu = await startHarborEmulator({
      admin: { username: config.harbor.username, password: config.harbor.password },
      stateFile: join(dir, `harbor-${core.site}.json`),
      onExecution,
      remoteCheck,
      externalUrl: core.registryUrl,
    });
    harbors.set(core.site, { core, emu });
    say('Harbor emulator listening', { core: core.site, instance: core.instance, url: emu.url });
  }
  const events = config.registryEvents
    ? await startRegistryEvents({
        ...config.registryEvents,
        pushed: (core, pushed) => {
          const emu = harbors.get(core)?.emu;
          for (const [repo, tags] of pushed) {
            // Harbor's event-based replication copies the artifacts of the event, not the whole repository.
            if (tags.length) eventTags.set(`${core} ${repo}`, tags);
            const runs = emu?.pushed(repo) ?? [];
            eventTags.delete(`${core} ${repo}`);
            if (runs.length) say('event-based replication', { core, repository: repo, executions: runs });
          }
        },
        say,
      })
    : undefined;
  if (events) say('registry notifications listening', { host: config.registryEvents!.host, port: events.port });
  const github = config.github ? await startLabGithub(config.github) : undefined;
  if (github) say('GitHub emulator listening', { url: github.url, repo: config.github!.repo });
  const chat = config.chat ? await startChatReceiver({ secret: config.chat.secret, log: config.chat.log }) : undefined;
  if (chat) say('chat receiver listening', { url: chat.url, log: config.chat!.log });
  const ready: ServicesReady = {
    pid: process.pid,
    vpcUrl: vpc.url,
    harbors: Object.fromEntries([...harbors].map(([site, h]) => [site, { url: h.emu.url, instance: h.core.instance }])),
    ...(github ? { githubUrl: github.url } : {}),
    ...(chat ? { chatUrl: chat.url } : {}),
    ...(events ? { eventsPort: events.port } : {}),
  };
  const tmp = join(dir, `${SERVICES_READY}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(ready, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, SERVICES_READY));
  return {
    ready,
    close: async () => {
      for (const h of harbors.values()) await h.emu.close();
      await github?.close();
      await chat?.close();
      copiers.close();
      await new Promise((r) => (events ? events.server.close(r) : r(undefined)));
      await vpc.close();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir) throw new Error('--dir is required');
  const services = await runServices(dir);
  const stop = (signal: string) => {
    say('stopping', { signal });
    void services.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`lab services: ${err.message}\n`);
    process.exit(1);
  });
}

export const SERVICES_SCRIPT = fileURLToPath(import.meta.url);
