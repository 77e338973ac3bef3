// Harbor instances: on a core, one version everywhere (cross-version replication is unsupported), an
// external URL the load balancer can serve, storage Harbor 2.15 accepts, and replication rules Harbor takes.
import { harborCronRefusal } from '../../model/constraints/harbor-api-checks.js';
import { HARBOR_REDIS_DEFAULTS } from '../../model/constraints/harbor-prepare-values.js';
import type { Finding } from '../../model/finding.js';
import type { HarborInstance } from '../../model/schema.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const unknownHub = reporter({ id: 'harbor/unknown-hub', severity: 'error' });
const hubHarbor = reporter({ id: 'harbor/hub-harbor', severity: 'warning' });
const version = reporter({ id: 'harbor/version', severity: 'error' });
const externalUrl = reporter({ id: 'harbor/external-url', severity: 'error' });
const storage = reporter({ id: 'harbor/storage', severity: 'error' });
const s3Redirect = reporter({ id: 'harbor/s3-redirect', severity: 'warning' });
const cron = reporter({ id: 'harbor/cron', severity: 'error' });
const endpointRule = reporter({ id: 'harbor/replication-endpoint', severity: 'error' });
const unknownEndpoint = reporter({ id: 'harbor/unknown-endpoint', severity: 'error' });
const chunk = reporter({ id: 'harbor/copy-by-chunk', severity: 'warning' });
const duplicate = reporter({ id: 'harbor/duplicate', severity: 'error' });
const redisIndex = reporter({ id: 'harbor/redis-index', severity: 'error' });
const robotProject = reporter({ id: 'harbor/robot-project', severity: 'error' });
const replicationRobot = reporter({ id: 'harbor/replication-robot', severity: 'error' });

/** What to write instead of a cron Harbor refuses (harborCronRefusal decides; this only explains). */
function harborCronHint(expr: string): string {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 6) return `it has ${fields.length} fields; Harbor's cron has 6 (seconds first), e.g. "0 0 2 * * *" for 02:00 every day`;
  if (fields[0] !== '0') return `write the seconds field as 0, e.g. "0 ${fields.slice(1).join(' ')}"`;
  if (fields[1] === '*') return `it runs every minute ("*" in the minutes field); name the minute, e.g. "0 0 ${fields.slice(2).join(' ')}"`;
  return (
    'each field within its range, without spaces inside a field: second 0, minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, ' +
    'weekday 0-6 or SUN-SAT (lists a,b, ranges a-b, steps */n)'
  );
}

function normalizeVersion(v: string): string {
  return v.startsWith('v') ? v : `v${v}`;
}

/** Numeric comparison of v2.9.0 and v2.15.2 (not as strings). */
function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split('.').map(Number);
  const pb = b.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const { fleet } = ctx;
  const byHub = new Map<string, string[]>();
  const harbors = [...fleet.harbors.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

  for (const [name, { value: h, file: f }] of harbors) {
    if (!fleet.hubs.has(h.hub)) {
      if (!fleet.brokenNames.has(h.hub)) {
        const where = fleet.regions.has(h.hub) ? ` (${h.hub} is a region; Harbor runs on the cores)` : '';
        out.push(unknownHub(f, ['hub'], `There is no hub "${h.hub}"${where}: use one of ${[...fleet.hubs.keys()].join(', ')}.`));
      }
    } else {
      byHub.set(h.hub, [...(byHub.get(h.hub) ?? []), name]);
    }
    if (h.loadBalancer.mode === 'l7-tls-offload' && !h.externalUrl.startsWith('https://')) {
      out.push(
        externalUrl(
          f,
          ['externalUrl'],
          'Behind a layer-7 load balancer that terminates TLS, externalUrl must be https://... (and the LB must pass Host and X-Forwarded-Proto), ' +
            'or `docker login` fails.',
        ),
      );
    }
    const hostInUrl = /^https?:\/\/([^/:]+)/.exec(h.externalUrl)?.[1];
    if (hostInUrl && hostInUrl !== h.hostname) {
      out.push(
        externalUrl(
          f,
          ['externalUrl'],
          `externalUrl points at ${hostInUrl} but hostname is ${h.hostname}: clients and tokens need one name; make them match.`,
          { severity: 'warning' },
        ),
      );
    }
    const pathInUrl = /^https?:\/\/[^/?#]+(.*)$/.exec(h.externalUrl)?.[1] ?? '';
    if (pathInUrl !== '' && pathInUrl !== '/') {
      out.push(
        externalUrl(
          f,
          ['externalUrl'],
          `externalUrl goes on with ${pathInUrl}: Harbor 2.15 serves at the root of its address, and the token service URL it gives clients ` +
            "is the URL's scheme, the request's host and /service/token, so docker login fails behind a path. Give Harbor a host name of its own.",
        ),
      );
    }

    // Storage.
    const s = h.storage;
    if ((s.s3 ? 1 : 0) + (s.filesystem ? 1 : 0) !== 1) {
      out.push(storage(f, ['storage'], 'storage needs exactly one backend: s3 (shared, for cross-region and HA) or filesystem.'));
    }
    if (s.s3) {
      if (s.redirect?.disable !== true) {
        out.push(
          s3Redirect(
            f,
            ['storage'],
            'With S3 storage and no redirect.disable: true, Harbor redirects clients straight to the object store, across regions and outside the ' +
              'private network: add redirect: { disable: true }.',
          ),
        );
      }
      if (s.s3.regionendpoint && /myhuaweicloud|obs\./.test(s.s3.regionendpoint)) {
        out.push(
          s3Redirect(
            f,
            ['storage', 's3', 'regionendpoint'],
            'A regionendpoint forces path-style addressing, which Huawei OBS no longer serves for new buckets: check that this bucket accepts ' +
              'path-style requests.',
            { severity: 'warning' },
          ),
        );
      }
    }
    // Each component's Redis database, with prepare's default where the model leaves one out.
    const redis = h.redis;
    const indexes: [string, number | undefined, number | undefined][] = [
      ['registryDbIndex', redis.registryDbIndex, HARBOR_REDIS_DEFAULTS.registryDbIndex],
      ['jobserviceDbIndex', redis.jobserviceDbIndex, HARBOR_REDIS_DEFAULTS.jobserviceDbIndex],
      ['trivyDbIndex', redis.trivyDbIndex, HARBOR_REDIS_DEFAULTS.trivyDbIndex],
      ['harborDbIndex', redis.harborDbIndex, undefined],
      ['cacheLayerDbIndex', redis.cacheLayerDbIndex, undefined],
    ];
    const seenIdx = new Map<number, string>();
    for (const [key, idx] of indexes) {
      if (idx === undefined) continue;
      const other = seenIdx.get(idx);
      if (other)
        out.push(
          redisIndex(f, ['redis', key], `Redis database ${idx} is already used by ${other}: each Harbor component needs its own database index (0 is core's).`),
        );
      else seenIdx.set(idx, key);
    }
    for (const [key, idx, dflt] of indexes) {
      const other = idx === undefined && dflt !== undefined ? seenIdx.get(dflt) : undefined;
      if (other)
        out.push(
          redisIndex(
            f,
            ['redis', other],
            `Redis database ${dflt} is also ${key}'s: Harbor 2.15's prepare uses ${dflt} for ${key} when it is left out. ` +
              `Set ${key} to a free index, or move ${other}.`,
          ),
        );
    }

    // Names unique within the instance.
    for (const [list, label] of [
      ['projects', 'project'],
      ['robots', 'robot'],
      ['endpoints', 'endpoint'],
      ['replication', 'replication rule'],
    ] as const) {
      const seen = new Set<string>();
      (h[list] as { name: string }[]).forEach((item, i) => {
        if (seen.has(item.name))
          out.push(duplicate(f, [list, i, 'name'], `The ${label} "${item.name}" is declared twice in ${name}: names are unique; merge them.`));
        seen.add(item.name);
      });
    }
    const projects = new Set(h.projects.map((p) => p.name));
    const endpoints = new Set(h.endpoints.map((e) => e.name));
    h.projects.forEach((p, i) => {
      if (p.proxyCache && !endpoints.has(p.proxyCache.endpoint)) {
        out.push(
          unknownEndpoint(
            f,
            ['projects', i, 'proxyCache', 'endpoint'],
            `There is no endpoint "${p.proxyCache.endpoint}" in ${name}: declare it under endpoints (e.g. type: docker-hub, url: https://hub.docker.com).`,
          ),
        );
      }
    });
    h.robots.forEach((r, i) =>
      r.permissions.forEach((perm, j) => {
        if (perm.project !== '*' && !projects.has(perm.project)) {
          out.push(
            robotProject(
              f,
              ['robots', i, 'permissions', j, 'project'],
              `Robot ${r.name} is granted access to "${perm.project}", which is not a project of ${name}: declare the project or use "*".`,
            ),
          );
        }
      }),
    );

    // Replication.
    h.replication.forEach((rule, i) => {
      const base = ['replication', i];
      if (rule.trigger.type === 'scheduled') {
        if (!rule.trigger.cron) out.push(cron(f, [...base, 'trigger'], 'A scheduled trigger needs cron (6 fields, seconds first), e.g. cron: "0 0 2 * * *".'));
        else {
          const refusal = harborCronRefusal(rule.trigger.cron);
          if (refusal) {
            out.push(
              cron(f, [...base, 'trigger', 'cron'], `Harbor 2.15 rejects cron "${rule.trigger.cron}" ("${refusal}"): ${harborCronHint(rule.trigger.cron)}.`),
            );
          }
        }
      } else if (rule.trigger.cron) {
        out.push(cron(f, [...base, 'trigger', 'cron'], `cron is only used by trigger type scheduled, not ${rule.trigger.type}: remove it or change the type.`));
      }
      if (rule.source === rule.destination) {
        out.push(endpointRule(f, [...base, 'destination'], 'Source and destination are the same Harbor: replicate to the other core.'));
        return;
      }
      if (rule.source !== name && rule.destination !== name) {
        out.push(
          endpointRule(
            f,
            [...base, 'source'],
            `A replication rule of ${name} has ${name} as its source (push) or its destination (pull); this one names neither.`,
          ),
        );
      }
      let remote: HarborInstance | undefined;
      for (const key of ['source', 'destination'] as const) {
        const other = rule[key];
        if (other === name) continue;
        const found = fleet.harbors.get(other);
        if (!found) {
          if (!fleet.brokenNames.has(other)) {
            out.push(endpointRule(f, [...base, key], `There is no HarborInstance "${other}": use one of ${[...fleet.harbors.keys()].join(', ')}.`));
          }
        } else remote = found.value;
      }
      if (remote) {
        // The other core must give this one a robot: push rules push into it, pull rules pull from it.
        const need = rule.source === name ? 'repository:push' : 'repository:pull';
        const ok = remote.robots.some((r) => r.permissions.some((p) => p.access.includes(need)));
        if (!ok) {
          out.push(
            replicationRobot(
              f,
              [...base, rule.source === name ? 'destination' : 'source'],
              `${remote.name} declares no robot with ${need}: replication from ${rule.source} to ${rule.destination} has no credentials. ` +
                `Add a robot with ${need} on the replicated projects to harbor/${remote.name}.yaml.`,
            ),
          );
        }
      }
      if (remote && remote.hub !== h.hub && !rule.copyByChunk) {
        out.push(
          chunk(
            f,
            [...base],
            `Replication between ${h.hub} and ${remote.hub} crosses regions: set copyByChunk: true, or large blobs time out after 30 minutes.`,
          ),
        );
      }
    });
  }

  // One Harbor per core, and every core has one.
  for (const [hub, { file }] of fleet.hubs) {
    const list = byHub.get(hub) ?? [];
    if (list.length === 0 && !fleet.brokenKinds.has('HarborInstance'))
      out.push(hubHarbor(file, ['name'], `The core ${hub} has no HarborInstance: add harbor/harbor-${hub}.yaml with hub: ${hub}.`));
    for (const extra of list.slice(1)) {
      const h = fleet.harbors.get(extra)!;
      out.push(hubHarbor(h.file, ['hub'], `${hub} already runs ${list[0]}: one Harbor per core.`, { severity: 'error' }));
    }
  }

  // One version for every Harbor (replicating between versions is unsupported).
  if (harbors.length > 1) {
    const counts = new Map<string, number>();
    for (const [, { value }] of harbors) counts.set(normalizeVersion(value.version), (counts.get(normalizeVersion(value.version)) ?? 0) + 1);
    if (counts.size > 1) {
      // The version most cores run; on a tie, the newest (never ask anyone to downgrade).
      const majority = [...counts.entries()].sort((a, b) => b[1] - a[1] || compareVersions(b[0], a[0]))[0]![0];
      for (const [name, { value, file }] of harbors) {
        if (normalizeVersion(value.version) !== majority) {
          out.push(
            version(
              file,
              ['version'],
              `${name} runs ${value.version} but the other cores run ${majority}: replication between Harbor versions is unsupported; ` +
                'keep every core on one version.',
            ),
          );
        }
      }
    }
  }
  return out;
}

export const harborRules: RuleFamily = {
  id: 'harbor',
  rules: [
    { id: 'harbor/unknown-hub', severity: 'error', summary: 'A HarborInstance runs on a declared hub.', example: 'hub: cn-beijng' },
    {
      id: 'harbor/hub-harbor',
      severity: 'warning',
      summary: 'Every core has a Harbor (warning); never two on one core (error).',
      example: 'a hub without harbor/<name>.yaml',
    },
    {
      id: 'harbor/version',
      severity: 'error',
      summary: 'All cores run the same Harbor version (replication across versions is unsupported).',
      example: 'v2.15.2 in Beijing, v2.14.0 in Singapore',
    },
    {
      id: 'harbor/external-url',
      severity: 'error',
      summary: 'l7-tls-offload needs an https:// externalUrl; Harbor serves at its root (no path); its host matches hostname (warning).',
      example: 'loadBalancer: { mode: l7-tls-offload }, externalUrl: http://...',
    },
    { id: 'harbor/storage', severity: 'error', summary: 'Exactly one storage backend (s3 or filesystem).', example: 'storage: {}' },
    {
      id: 'harbor/s3-redirect',
      severity: 'warning',
      summary: 'S3 storage sets redirect.disable: true; OBS endpoints need path-style checked.',
      example: 'storage: { s3: {...} } without redirect',
    },
    {
      id: 'harbor/cron',
      severity: 'error',
      summary: 'Scheduled replication uses a cron Harbor 2.15 accepts: 6 fields its parser takes, seconds 0, minutes not *.',
      example: 'cron: "0 2 * * *"',
    },
    {
      id: 'harbor/replication-endpoint',
      severity: 'error',
      summary: 'Replication source and destination are declared Harbors, one of them this instance, not the same.',
      example: 'destination: harbor-ap-singapor',
    },
    {
      id: 'harbor/unknown-endpoint',
      severity: 'error',
      summary: 'A proxy-cache project names a declared endpoint.',
      example: 'proxyCache: { endpoint: dockerhub } with no such endpoint',
    },
    {
      id: 'harbor/copy-by-chunk',
      severity: 'warning',
      summary: 'Cross-region replication copies by chunk (blobs time out after 30 minutes).',
      example: 'Beijing -> Singapore without copyByChunk: true',
    },
    {
      id: 'harbor/duplicate',
      severity: 'error',
      summary: 'Projects, robots, endpoints and replication rules have unique names per instance.',
      example: 'two projects named library',
    },
    {
      id: 'harbor/redis-index',
      severity: 'error',
      summary: "Each Harbor component has its own Redis database index, prepare's defaults (1, 2, 5) included.",
      example: 'registryDbIndex: 1 and jobserviceDbIndex: 1',
    },
    { id: 'harbor/robot-project', severity: 'error', summary: 'Robot permissions name declared projects (or *).', example: 'project: librar' },
    {
      id: 'harbor/replication-robot',
      severity: 'error',
      summary: 'The other core of a replication rule declares a robot with repository:push (push rules) or repository:pull (pull rules).',
      example: 'Beijing pushes to Singapore, which has no robot with repository:push',
    },
  ],
  check,
};
