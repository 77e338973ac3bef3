// The constraint inventory of Harbor's v2.0 API (Harbor v2.15.2): every request field, query parameter and
// header the harbor-api provider sends, with what Harbor's handler, controller, model and database accept,
// read from goharbor/harbor at v2.15.2. The checks themselves are in harbor-api-checks.ts (one
// implementation for rules, provider and emulator). Keys are `METHOD /path body.field` with the swagger's
// path template (`query.` and `header.` for parameters, `[]` for array items).
import { HARBOR_LIMITS, HARBOR_PROXY_CACHE_TYPES, HARBOR_REGISTRY_TYPES } from './harbor-api-checks.js';
import type { Constraint, Upstream } from './types.js';

const REF = 'v2.15.2';
const up = (path: string, at?: string): Upstream => ({ repo: 'goharbor/harbor', path, ref: REF, ...(at ? { at } : {}) });
const SWAGGER = (at: string) => up('api/v2.0/swagger.yaml', at);
const MIGRATION_1_8 = (at: string) => up('make/migrations/postgresql/0004_1.8.0_schema.up.sql', at);
const PROJECT = up('src/server/v2.0/handler/project.go', 'CreateProject, UpdateProject, validateProjectReq');
const PROJECT_MGR = up('src/pkg/project/manager.go', 'Create, restrictedNameChars, projectNameMaxLen');
const QUOTA_LIMIT = up('src/lib/quota_storage_limit.go', 'ValidateQuotaLimit');
const REGISTRY = up('src/server/v2.0/handler/registry.go', 'CreateRegistry, UpdateRegistry');
const REGISTRY_CTL = up('src/controller/registry/controller.go', 'validate, IsHealthy');
const URL_CHECK = up('src/lib/endpoint.go', 'ValidateHTTPURL');
const REPLICATION = up('src/server/v2.0/handler/replication.go', 'CreateReplicationPolicy, UpdateReplicationPolicy');
const POLICY_MODEL = up('src/controller/replication/model/model.go', 'Policy.Validate');
const FILTER_MODEL = up('src/pkg/reg/model/policy.go', 'Filter.Validate');
const ROBOT = up('src/server/v2.0/handler/robot.go', 'CreateRobot, validate, isValidDuration, validateName, RefreshSec');
const ROBOT_CTL = up('src/controller/robot/controller.go', 'Create, toScope, IsValidSec');
const RBAC = up('src/common/rbac/const.go', 'PoliciesMap[ScopeProject], NolimitProvider');
const PAGING = up('src/server/v2.0/handler/base.go', 'BuildQuery');

type Entry = Omit<Constraint, 'consumer' | 'key' | 'from' | 'upstream'> & { from?: string[]; upstream: Upstream[] };
const c = (key: string, e: Entry): Constraint => ({ consumer: 'harbor-api', key, from: [], ...e });
/** The same field sent by two operations (create and update). */
const both = (keys: [string, string], field: string, e: Entry): Constraint[] => keys.map((k) => c(`${k} body.${field}`, e));

const PROJECTS = 'POST /projects';
const PROJECT_PUT = 'PUT /projects/{project_name_or_id}';
const REGISTRIES: [string, string] = ['POST /registries', 'PUT /registries/{id}'];
const POLICIES: [string, string] = ['POST /replication/policies', 'PUT /replication/policies/{id}'];
const ROBOTS: [string, string] = ['POST /robots', 'PUT /robots/{robot_id}'];

const PROJECT_ENTRIES: Constraint[] = [
  c(`${PROJECTS} body.project_name`, {
    type: 'string',
    syntax: '[a-z0-9]+([._-][a-z0-9]+)*',
    range: `1-${HARBOR_LIMITS.projectName} characters (more: 422 from the swagger maxLength); refused 400 otherwise`,
    from: ['HarborInstance.projects[].name'],
    rule: 'harbor/api-limit',
    note: 'The name cannot change: a renamed project is a new project.',
    upstream: [SWAGGER('definitions.ProjectReq.project_name'), PROJECT_MGR],
  }),
  ...[PROJECTS, PROJECT_PUT].map((k) =>
    c(`${k} body.metadata.public`, {
      type: 'string',
      range: '"true" or "false" (400 otherwise); the deprecated boolean `public` is read only when metadata.public is empty',
      default: '"false"',
      from: ['HarborInstance.projects[].public'],
      note: 'PUT changes the metadata only: project_name, storage_limit and registry_id are ignored on update.',
      upstream: [PROJECT],
    }),
  ),
  c(`${PROJECTS} body.storage_limit`, {
    type: 'int64 (bytes)',
    range: `-1 (unlimited) or 1 .. ${HARBOR_LIMITS.storage} (1024 TB); 0 or absent: the system's storage_per_project (default -1)`,
    from: ['HarborInstance.projects[].quota'],
    rule: 'harbor/quota',
    note: 'Read only at creation (and only from a system admin); later changes go through PUT /quotas/{id}.',
    upstream: [PROJECT, QUOTA_LIMIT, up('src/pkg/quota/types/resources.go', 'MaxLimitedValue')],
  }),
  c(`${PROJECTS} body.registry_id`, {
    type: 'int64',
    range: `> 0, a registry whose type is in PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE (installer default: ${HARBOR_PROXY_CACHE_TYPES.join(', ')})`,
    from: ['HarborInstance.projects[].proxyCache.endpoint'],
    rule: 'harbor/unknown-endpoint',
    note: 'Makes the project a proxy cache; cannot change later. A registry id that does not exist is a 500 (the lookup error is wrapped in a plain error).',
    upstream: [PROJECT, up('make/photon/prepare/templates/core/env.jinja', 'PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE')],
  }),
  c('PUT /quotas/{id} body.hard.storage', {
    type: 'int64 (bytes)',
    range: `-1 or 1 .. ${HARBOR_LIMITS.storage}; 0 is refused ("invalid non-positive value for quota limit")`,
    requires: ['the storage resource only: any other key is "resource X not support"'],
    from: ['HarborInstance.projects[].quota'],
    rule: 'harbor/quota',
    upstream: [up('src/server/v2.0/handler/quota.go', 'UpdateQuota'), up('src/controller/quota/driver/project/project.go', 'Validate'), QUOTA_LIMIT],
  }),
];

const REGISTRY_ENTRIES: Constraint[] = [
  ...both(REGISTRIES, 'name', {
    type: 'string',
    range: `1-${HARBOR_LIMITS.registryName} bytes ("name cannot be empty", "the max length of name is 64"); unique (409)`,
    from: ['HarborInstance.endpoints[].name', 'mirrornet-<peer HarborInstance.name> for replication'],
    rule: 'harbor/api-limit',
    upstream: [REGISTRY_CTL],
  }),
  ...both(REGISTRIES, 'url', {
    type: 'string',
    syntax: 'http:// or https:// URL; Harbor keeps scheme://host/path only',
    range: `at most ${HARBOR_LIMITS.registryUrl} characters after normalization (the column; longer: 500)`,
    from: ['HarborInstance.endpoints[].url', 'HarborInstance.externalUrl of the peer (or MIRRORNET_HARBOR_PEER_URLS)'],
    rule: 'harbor/endpoint-url',
    note: 'Create and update ping the remote and refuse 400 "the registry is unhealthy" when it does not answer.',
    upstream: [URL_CHECK, REGISTRY_CTL, MIGRATION_1_8('ALTER TABLE registry ALTER COLUMN url TYPE varchar(256)')],
  }),
  c('POST /registries body.type', {
    type: 'string',
    range: `a registered adapter: ${HARBOR_REGISTRY_TYPES.join(', ')} (other: 500 from adp.GetFactory)`,
    from: ['HarborInstance.endpoints[].type'],
    note: 'Cannot change: PUT has no type.',
    upstream: [up('src/pkg/reg/model/registry.go', 'RegistryType*'), up('src/pkg/reg/adapter/adapter.go', 'GetFactory')],
  }),
  ...both(REGISTRIES, 'description', {
    type: 'string',
    range: 'any (text column)',
    from: [],
    note: "mirrornet's ownership marker `[mirrornet <fingerprint>]` ends it.",
    upstream: [REGISTRY, MIGRATION_1_8('ALTER TABLE registry ADD COLUMN description text')],
  }),
  ...both(REGISTRIES, 'insecure', { type: 'bool', default: 'false', from: ['HarborInstance.endpoints[].insecure'], upstream: [REGISTRY] }),
  c('POST /registries body.credential.type', {
    type: 'string',
    range: 'basic, oauth (secret is internal)',
    default: 'no credential',
    from: [],
    upstream: [up('src/pkg/reg/model/registry.go', 'CredentialTypeBasic')],
  }),
  c('PUT /registries/{id} body.credential_type', {
    type: 'string',
    range: 'basic, oauth',
    from: [],
    note: 'PUT takes a flat RegistryUpdate body, not the nested credential.',
    upstream: [REGISTRY],
  }),
  ...['POST /registries body.credential.access_key', 'PUT /registries/{id} body.access_key'].map((k) =>
    c(k, {
      type: 'string',
      range: `at most ${HARBOR_LIMITS.accessKey} characters (the column)`,
      from: ['HarborInstance.endpoints[].accessKey', 'robot$<peer replication robot name>'],
      rule: 'harbor/api-limit',
      upstream: [up('make/migrations/postgresql/0001_initial_schema.up.sql', 'replication_target.username varchar(255)')],
    }),
  ),
  ...['POST /registries body.credential.access_secret', 'PUT /registries/{id} body.access_secret'].map((k) =>
    c(k, {
      type: 'string (secret)',
      range: 'stored encrypted in varchar(4096)',
      requires: ['access_key'],
      from: ['HarborInstance.endpoints[].accessSecret', "the peer's replication robot secret"],
      note: 'Read back as *****: mirrornet compares a keyed fingerprint kept in the description instead.',
      upstream: [MIGRATION_1_8('ALTER TABLE registry ALTER COLUMN access_secret TYPE varchar(4096)')],
    }),
  ),
];

const POLICY_ENTRIES: Constraint[] = [
  ...both(POLICIES, 'name', {
    type: 'string',
    range: `1-${HARBOR_LIMITS.policyName} characters ("empty name"; longer: 500 from the column); unique (409)`,
    from: ['HarborInstance.replication[].name'],
    rule: 'harbor/api-limit',
    upstream: [POLICY_MODEL, up('make/migrations/postgresql/0001_initial_schema.up.sql', 'replication_policy.name varchar(256)')],
  }),
  ...both(POLICIES, 'description', {
    type: 'string',
    range: 'any (text column)',
    from: ['HarborInstance.replication[].description'],
    upstream: [REPLICATION],
  }),
  ...both(POLICIES, 'src_registry.id', {
    type: 'int64',
    range: 'exactly one of src_registry and dest_registry is set (non-zero); the registry must exist (404)',
    from: ['HarborInstance.replication[].source (a pull rule)'],
    note: 'A policy with a source registry is pull-based: Harbor never fires an event-based trigger for it.',
    upstream: [POLICY_MODEL, up('src/controller/replication/policy.go', 'validatePolicy')],
  }),
  ...both(POLICIES, 'dest_registry.id', {
    type: 'int64',
    range: 'exactly one of src_registry and dest_registry is set (non-zero); the registry must exist (404)',
    from: ['HarborInstance.replication[].destination (a push rule)'],
    upstream: [POLICY_MODEL],
  }),
  ...both(POLICIES, 'dest_namespace', {
    type: 'string',
    syntax: 'distribution reference.NameRegexp: [domain[:port]/]component(/component)*, components [a-z0-9]+ joined by . _ __ or dashes',
    range: `empty (keep the source path) or at most ${HARBOR_LIMITS.destNamespace} characters`,
    from: ['HarborInstance.replication[].destinationNamespace'],
    rule: 'harbor/replication-namespace',
    note:
      'mirrornet sends no dest_namespace_replace_count, so Harbor uses the legacy mode (-1): the namespace replaces every path ' +
      'component but the last (library/a/b -> ns/b).',
    upstream: [POLICY_MODEL, up('src/lib/patterns.go', 'RepositoryNameRe'), up('src/controller/replication/flow/stage.go', 'replaceNamespace')],
  }),
  ...both(POLICIES, 'filters[].type', {
    type: 'string',
    range: 'name, tag, label, resource ("invalid filter type")',
    from: ['HarborInstance.replication[].filters[].type'],
    rule: 'harbor/replication-filter',
    upstream: [FILTER_MODEL],
  }),
  ...both(POLICIES, 'filters[].value', {
    type: 'string ([]string for label)',
    syntax: 'doublestar pattern for name and tag; resource: artifact or image',
    range: `the filters as JSON at most ${HARBOR_LIMITS.filtersJson} characters (the column; longer: 500)`,
    from: ['HarborInstance.replication[].filters[].value'],
    rule: 'harbor/replication-filter',
    upstream: [FILTER_MODEL, up('make/migrations/postgresql/0001_initial_schema.up.sql', 'replication_policy.filters varchar(1024)')],
  }),
  ...both(POLICIES, 'filters[].decoration', {
    type: 'string',
    range: 'matches or excludes, only on tag and label filters ("only tag and label filter support decoration")',
    default: 'matches',
    from: ['HarborInstance.replication[].filters[].decoration'],
    rule: 'harbor/replication-filter',
    upstream: [FILTER_MODEL],
  }),
  ...both(POLICIES, 'trigger.type', {
    type: 'string',
    range: 'manual, scheduled, event_based ("invalid trigger type")',
    from: ['HarborInstance.replication[].trigger.type'],
    rule: 'harbor/event-trigger',
    note: 'Events come from the local Harbor only: event_based fires for push policies (no src_registry), never for pull policies.',
    upstream: [POLICY_MODEL, up('src/controller/event/handler/replication/event/handler.go', 'getRelatedPolicies')],
  }),
  ...both(POLICIES, 'trigger.trigger_settings.cron', {
    type: 'string',
    syntax: 'robfig/cron v3, 6 fields (second minute hour day-of-month month day-of-week), no @descriptors',
    range: `first field (split on " ") exactly 0, second not *; the trigger as JSON at most ${HARBOR_LIMITS.triggerJson} characters`,
    requires: ['trigger.type: scheduled'],
    from: ['HarborInstance.replication[].trigger.cron'],
    rule: 'harbor/cron',
    note: 'A disabled policy gets no schedule (IsScheduledTrigger needs enabled).',
    upstream: [POLICY_MODEL, up('src/common/utils/utils.go', 'CronParser'), { repo: 'robfig/cron', path: 'parser.go', ref: 'v3.0.1', at: 'Parse, getRange' }],
  }),
  ...both(POLICIES, 'deletion', {
    type: 'bool',
    default: 'false',
    from: ['HarborInstance.replication[].deletion'],
    note: 'Harbor reads `deletion` on write (the swagger calls it deprecated); `replicate_deletion` is ignored there.',
    upstream: [REPLICATION],
  }),
  ...both(POLICIES, 'override', { type: 'bool', default: 'false', from: ['HarborInstance.replication[].override'], upstream: [REPLICATION] }),
  ...both(POLICIES, 'enabled', { type: 'bool', default: 'false', from: ['HarborInstance.replication[].enabled'], upstream: [REPLICATION] }),
  ...both(POLICIES, 'speed', {
    type: 'int32 (KB/s)',
    range: `0 .. ${HARBOR_LIMITS.speed}; negative becomes 0 (unlimited); larger does not decode (400)`,
    default: '0 (unlimited)',
    from: ['HarborInstance.replication[].speedKbps'],
    rule: 'harbor/api-limit',
    upstream: [REPLICATION, SWAGGER('definitions.ReplicationPolicy.speed')],
  }),
  ...both(POLICIES, 'copy_by_chunk', {
    type: 'bool',
    default: 'false',
    from: ['HarborInstance.replication[].copyByChunk'],
    note: 'Used only when both registries support it (Harbor and docker-registry adapters do).',
    upstream: [REPLICATION],
  }),
  c('PUT /replication/policies/{id} body.id', { type: 'int64', range: 'ignored: the path id wins', from: [], upstream: [REPLICATION] }),
  c('POST /replication/executions body.policy_id', { type: 'int64', range: 'an existing policy (404)', from: [], upstream: [REPLICATION] }),
];

const ROBOT_ENTRIES: Constraint[] = [
  ...both(ROBOTS, 'name', {
    type: 'string',
    syntax: '[a-z0-9]+([._-][a-z0-9]+)*',
    range: `at most ${HARBOR_LIMITS.robotName} characters (the column); Harbor shows it as robot$<name>; cannot change on update`,
    from: ['HarborInstance.robots[].name'],
    rule: 'harbor/api-limit',
    upstream: [ROBOT, MIGRATION_1_8('robot.name varchar(255)')],
  }),
  ...both(ROBOTS, 'description', {
    type: 'string',
    range: `at most ${HARBOR_LIMITS.robotDescription} characters, mirrornet's marker included (the column)`,
    from: ['HarborInstance.robots[].description'],
    rule: 'harbor/api-limit',
    upstream: [MIGRATION_1_8('robot.description varchar(1024)')],
  }),
  ...both(ROBOTS, 'level', { type: 'string', range: 'system or project; mirrornet creates system robots', from: [], upstream: [ROBOT] }),
  ...both(ROBOTS, 'duration', {
    type: 'int64 (days)',
    range: `-1 (never expires) or 1 .. ${HARBOR_LIMITS.robotDuration}; 0 is refused since v2.x`,
    from: ['HarborInstance.robots[].duration'],
    rule: 'harbor/robot-duration',
    note: 'Expiry counts from creation: a changed duration moves expires_at to creation + duration days.',
    upstream: [ROBOT, ROBOT_CTL],
  }),
  ...both(ROBOTS, 'disable', { type: 'bool', default: 'false', from: [], upstream: [ROBOT] }),
  ...both(ROBOTS, 'permissions[].kind', {
    type: 'string',
    range: 'project or system',
    from: [],
    upstream: [ROBOT],
  }),
  ...both(ROBOTS, 'permissions[].namespace', {
    type: 'string',
    range: 'an existing project (404) or * for all projects',
    from: ['HarborInstance.robots[].permissions[].project'],
    rule: 'harbor/robot-project',
    upstream: [ROBOT_CTL],
  }),
  ...['resource', 'action'].flatMap((f) =>
    both(ROBOTS, `permissions[].access[].${f}`, {
      type: 'string',
      range:
        'a resource:action pair of the project scope (400 "bad request permission: resource:action"), e.g. repository:pull, repository:push, artifact:read',
      from: ['HarborInstance.robots[].permissions[].access[]'],
      rule: 'harbor/robot-access',
      upstream: [ROBOT, RBAC],
    }),
  ),
  c('PUT /robots/{robot_id} body.id', { type: 'int64', range: 'ignored: the path id wins', from: [], upstream: [ROBOT] }),
  c('PATCH /robots/{robot_id} body.secret', {
    type: 'string (secret)',
    range: '8-128 bytes with an upper case letter, a lower case letter and a digit; empty: Harbor generates one',
    from: ['HarborInstance.robots[].secret (resolved on the host)'],
    note: 'Cannot be checked from the repository (a secret reference): the provider checks it before its first create call.',
    upstream: [ROBOT, ROBOT_CTL],
  }),
];

const PARAMETERS: Constraint[] = [
  ...['/projects', '/quotas', '/registries', '/replication/policies', '/replication/executions', '/robots'].flatMap((p) => [
    c(`GET ${p} query.page`, { type: 'int64', range: '>= 1', default: '1', from: [], upstream: [SWAGGER('parameters.page'), PAGING] }),
    c(`GET ${p} query.page_size`, {
      type: 'int64',
      range: '1-100 (swagger maximum: 422 above)',
      default: '10',
      from: [],
      upstream: [SWAGGER('parameters.pageSize'), PAGING],
    }),
  ]),
  ...['/registries', '/replication/policies', '/robots'].map((p) =>
    c(`GET ${p} query.q`, { type: 'string', syntax: 'k=v exact, k=~v fuzzy, comma separated', from: [], upstream: [SWAGGER('parameters.query'), PAGING] }),
  ),
  c('HEAD /projects query.project_name', { type: 'string', range: 'required', from: [], upstream: [SWAGGER('paths./projects.head')] }),
  c('GET /quotas query.reference', { type: 'string', range: 'project', from: [], upstream: [SWAGGER('paths./quotas.get')] }),
  c('GET /quotas query.reference_id', { type: 'string', range: 'a project id', from: [], upstream: [SWAGGER('paths./quotas.get')] }),
  c('GET /replication/executions query.policy_id', { type: 'int64', from: [], upstream: [SWAGGER('paths./replication/executions.get')] }),
  ...['GET', 'PUT', 'DELETE'].map((m) =>
    c(`${m} /projects/{project_name_or_id} header.X-Is-Resource-Name`, {
      type: 'bool',
      range: 'true: the path is a name even when it reads as a number',
      default: 'false',
      from: [],
      upstream: [SWAGGER('parameters.isResourceName')],
    }),
  ),
];

export const HARBOR_API_CONSTRAINTS: readonly Constraint[] = [...PROJECT_ENTRIES, ...REGISTRY_ENTRIES, ...POLICY_ENTRIES, ...ROBOT_ENTRIES, ...PARAMETERS];
