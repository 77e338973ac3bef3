// Harbor instances against what Harbor 2.15's API refuses, or silently does otherwise, for the objects the
// harbor-api provider creates from them: the checks are Harbor's own (model/constraints/harbor-api-checks.ts,
// read from goharbor/harbor v2.15.2; the inventory in harbor-api.ts names each upstream file), applied to the
// repository's values so that a refusal shows at its line before the agent ever calls Harbor.
import {
  HARBOR_LIMITS,
  HARBOR_PROJECT_ROBOT_ACCESS,
  filterError,
  goJson,
  harborHttpUrl,
  quotaLimitError,
  repositoryNameOk,
  robotDurationOk,
} from '../../model/constraints/harbor-api-checks.js';
import type { Finding } from '../../model/finding.js';
import type { PathSegment, SourceFile } from '../../model/source.js';
import { quotaBytes, type HarborInstance } from '../../model/schema.js';
import { didYouMean } from '../../model/suggest.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const limit = reporter({ id: 'harbor/api-limit', severity: 'error' });
const quota = reporter({ id: 'harbor/quota', severity: 'error' });
const duration = reporter({ id: 'harbor/robot-duration', severity: 'error' });
const access = reporter({ id: 'harbor/robot-access', severity: 'error' });
const namespace = reporter({ id: 'harbor/replication-namespace', severity: 'error' });
const filter = reporter({ id: 'harbor/replication-filter', severity: 'error' });
const endpointUrl = reporter({ id: 'harbor/endpoint-url', severity: 'error' });
const eventTrigger = reporter({ id: 'harbor/event-trigger', severity: 'warning' });

/** What mirrornet appends to a robot's description: ` [mirrornet <16 hex digits>]` (providers/harbor-api/marker.ts). */
const MARKER_LENGTH = ' [mirrornet 0123456789abcdef]'.length;
const ACCESS = [...HARBOR_PROJECT_ROBOT_ACCESS];
const chars = (s: string): number => [...s].length;
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

type Report = (f: SourceFile, path: readonly PathSegment[], message: string) => void;

function checkTooLong(report: Report, f: SourceFile, path: readonly PathSegment[], what: string, length: number, max: number, unit = 'characters'): void {
  if (length > max) report(f, path, `Harbor 2.15 rejects ${what} longer than ${max} ${unit} (this one has ${length}): shorten it.`);
}

function checkProjects(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const tooLong: Report = (file, path, message) => out.push(limit(file, path, message));
  h.projects.forEach((p, i) => {
    checkTooLong(tooLong, f, ['projects', i, 'name'], 'a project name', chars(p.name), HARBOR_LIMITS.projectName);
    if (p.quota === undefined) return;
    const bytesLimit = quotaBytes(p.quota);
    const e = bytesLimit === 0 ? 'invalid non-positive value for quota limit, value=0' : quotaLimitError(bytesLimit);
    if (e) {
      out.push(
        quota(
          f,
          ['projects', i, 'quota'],
          `Harbor 2.15 rejects a storage quota of ${p.quota} ("${e}"): write -1 for unlimited or a size from 1 byte to 1024Ti, e.g. 500Gi.`,
        ),
      );
    }
  });
}

function checkEndpoints(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const tooLong: Report = (file, path, message) => out.push(limit(file, path, message));
  h.endpoints.forEach((e, i) => {
    checkTooLong(tooLong, f, ['endpoints', i, 'name'], 'a registry endpoint name', bytes(e.name), HARBOR_LIMITS.registryName, 'bytes');
    if (e.accessKey !== undefined) checkTooLong(tooLong, f, ['endpoints', i, 'accessKey'], 'an access key', chars(e.accessKey), HARBOR_LIMITS.accessKey);
    const u = harborHttpUrl(e.url);
    if ('refusal' in u) return;
    checkTooLong(tooLong, f, ['endpoints', i, 'url'], 'a registry URL', chars(u.url), HARBOR_LIMITS.registryUrl);
    const parsed = /^[^:]+:\/\/[^/?#]*[^?#]*(\?[^#]*)?(#.*)?$/.exec(e.url.trim());
    const dropped = [parsed?.[1], parsed?.[2]].filter((x): x is string => !!x);
    if (dropped.length) {
      out.push(
        endpointUrl(
          f,
          ['endpoints', i, 'url'],
          `Harbor 2.15 keeps only scheme://host/path of a registry URL (lib.ValidateHTTPURL): it would store ${u.url} and drop ` +
            `${dropped.join(' and ')}; write the URL without it.`,
        ),
      );
    }
  });
}

function checkRobots(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const tooLong: Report = (file, path, message) => out.push(limit(file, path, message));
  h.robots.forEach((r, i) => {
    checkTooLong(tooLong, f, ['robots', i, 'name'], 'a robot name', chars(r.name), HARBOR_LIMITS.robotName);
    const text = r.description ?? `mirrornet robot ${r.name}`;
    if (chars(text) + MARKER_LENGTH > HARBOR_LIMITS.robotDescription) {
      out.push(
        limit(
          f,
          ['robots', i, 'description'],
          `Harbor 2.15 stores a robot's description in ${HARBOR_LIMITS.robotDescription} characters and mirrornet appends its ${MARKER_LENGTH}-character ` +
            `ownership marker: write at most ${HARBOR_LIMITS.robotDescription - MARKER_LENGTH} characters (this one has ${chars(text)}).`,
        ),
      );
    }
    if (!robotDurationOk(r.duration)) {
      out.push(
        duration(
          f,
          ['robots', i, 'duration'],
          `Harbor 2.15 rejects a robot duration of ${r.duration} days ("duration must be either -1(Never) or a positive integer"): ` +
            `write -1 for a robot that never expires, or 1 to ${HARBOR_LIMITS.robotDuration} days.`,
        ),
      );
    }
    r.permissions.forEach((p, j) =>
      p.access.forEach((a, k) => {
        if (HARBOR_PROJECT_ROBOT_ACCESS.has(a)) return;
        const guess = didYouMean(a, ACCESS);
        out.push(
          access(
            f,
            ['robots', i, 'permissions', j, 'access', k],
            `Harbor 2.15 rejects the robot permission ${a} ("bad request permission: ${a}"): it is not a project-scope permission.` +
              (guess ? ` Did you mean ${guess}?` : ' Use one such as repository:pull, repository:push or artifact:read.'),
          ),
        );
      }),
    );
  });
}

function checkReplication(name: string, h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const tooLong: Report = (file, path, message) => out.push(limit(file, path, message));
  h.replication.forEach((rule, i) => {
    const base = ['replication', i] as const;
    checkTooLong(tooLong, f, [...base, 'name'], 'a replication policy name', chars(rule.name), HARBOR_LIMITS.policyName);
    const peer = rule.source === name ? rule.destination : rule.destination === name ? rule.source : undefined;
    if (peer !== undefined && bytes(`mirrornet-${peer}`) > HARBOR_LIMITS.registryName) {
      out.push(
        limit(
          f,
          [...base, peer === rule.destination ? 'destination' : 'source'],
          `mirrornet names the registry endpoint to ${peer} "mirrornet-${peer}" (${bytes(`mirrornet-${peer}`)} bytes), and Harbor 2.15 rejects registry ` +
            `names longer than ${HARBOR_LIMITS.registryName} bytes: name that HarborInstance with at most ${HARBOR_LIMITS.registryName - 10} characters.`,
        ),
      );
    }
    if (rule.speedKbps > HARBOR_LIMITS.speed) {
      out.push(
        limit(
          f,
          [...base, 'speedKbps'],
          `Harbor 2.15 takes the speed as a 32-bit number and rejects ${rule.speedKbps}: write at most ${HARBOR_LIMITS.speed} KB/s, or -1 for unlimited.`,
        ),
      );
    }
    const ns = rule.destinationNamespace;
    if (ns) {
      checkTooLong(tooLong, f, [...base, 'destinationNamespace'], 'a destination namespace', chars(ns), HARBOR_LIMITS.destNamespace);
      if (!repositoryNameOk(ns)) {
        out.push(
          namespace(
            f,
            [...base, 'destinationNamespace'],
            `Harbor 2.15 rejects the destination namespace "${ns}" ("invalid destination namespace"): it must be a repository path such as ` +
              'mirror or team/mirror (lowercase letters and digits, joined by . _ __ or dashes, separated by /).',
          ),
        );
      }
    }
    const sent = rule.filters.map((x) => ({
      type: x.type,
      value: x.type === 'label' ? [x.value] : x.value,
      ...(x.decoration ? { decoration: x.decoration } : {}),
    }));
    sent.forEach((x, j) => {
      const e = filterError(x);
      if (e) out.push(filter(f, [...base, 'filters', j], `Harbor 2.15 rejects this ${x.type} filter ("${e}"): ${filterHint(x.type)}`));
    });
    if (sent.length && chars(goJson(sent)) > HARBOR_LIMITS.filtersJson) {
      out.push(
        limit(
          f,
          [...base, 'filters'],
          `Harbor 2.15 stores a policy's filters as JSON in ${HARBOR_LIMITS.filtersJson} characters; these take ${chars(goJson(sent))}: ` +
            'use fewer or shorter patterns (one pattern can list names: "{library,base}/**").',
        ),
      );
    }
    if (rule.trigger.type === 'scheduled' && rule.trigger.cron) {
      const stored = chars(goJson({ type: 'scheduled', trigger_settings: { cron: rule.trigger.cron } }));
      checkTooLong(tooLong, f, [...base, 'trigger', 'cron'], 'a trigger (its cron as JSON)', stored, HARBOR_LIMITS.triggerJson);
    }
    if (rule.trigger.type === 'event_based' && rule.destination === name && rule.source !== name) {
      out.push(
        eventTrigger(
          f,
          [...base, 'trigger', 'type'],
          `Harbor 2.15 fires event-based replication only for policies whose source is the local Harbor (push): this rule pulls into ${name} ` +
            `from ${rule.source}, so it never runs. Declare it in harbor/${rule.source}.yaml (a push), or use a scheduled trigger.`,
        ),
      );
    }
  });
}

function filterHint(type: string): string {
  if (type === 'resource') return 'a resource filter is image or artifact, without decoration.';
  if (type === 'name') return 'a name filter takes no decoration; exclude with a tag or label filter, or list what to keep.';
  return 'use matches or excludes.';
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const [name, { value: h, file: f }] of ctx.fleet.harbors) {
    checkProjects(h, f, out);
    checkEndpoints(h, f, out);
    checkRobots(h, f, out);
    checkReplication(name, h, f, out);
  }
  return out;
}

export const harborApiRules: RuleFamily = {
  id: 'harbor-api',
  rules: [
    {
      id: 'harbor/api-limit',
      severity: 'error',
      summary: "Names, URLs, access keys, descriptions, filters, namespaces and speeds fit Harbor 2.15's limits (its checks and its database columns).",
      example: 'an endpoint name of 65 characters; a HarborInstance name over 54 characters that replicates',
    },
    { id: 'harbor/quota', severity: 'error', summary: 'A project quota is -1 or 1 byte .. 1024Ti (Harbor 2.15 refuses 0 and more).', example: 'quota: 0' },
    {
      id: 'harbor/robot-duration',
      severity: 'error',
      summary: 'A robot duration is -1 (never expires) or 1 .. 2147483646 days (Harbor 2.15 refuses 0).',
      example: 'duration: 0',
    },
    {
      id: 'harbor/robot-access',
      severity: 'error',
      summary: "Robot access is one of Harbor 2.15's project-scope resource:action pairs.",
      example: 'access: [repository:pul]',
    },
    {
      id: 'harbor/replication-namespace',
      severity: 'error',
      summary: 'A destination namespace is a repository path Harbor 2.15 accepts.',
      example: 'destinationNamespace: Mirror',
    },
    {
      id: 'harbor/replication-filter',
      severity: 'error',
      summary: 'Replication filters are ones Harbor 2.15 accepts (resource image or artifact; decoration only on tag and label filters).',
      example: '{ type: name, value: "library/**", decoration: excludes }',
    },
    {
      id: 'harbor/endpoint-url',
      severity: 'error',
      summary: 'An endpoint URL is scheme://host/path: Harbor 2.15 drops a query or fragment.',
      example: 'url: https://registry.example.com/?ns=team',
    },
    {
      id: 'harbor/event-trigger',
      severity: 'warning',
      summary: 'An event-based trigger is on a push rule: Harbor 2.15 never fires one on a pull rule.',
      example: 'a rule in harbor-ap-singapore.yaml pulling from Beijing with trigger: { type: event_based }',
    },
  ],
  check,
};
