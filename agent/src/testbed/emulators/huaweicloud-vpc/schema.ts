// Data of the Huawei Cloud VPC route-table emulator: the state (projects -> route tables -> routes, in the
// VPC v1 API's own snake_case shape), the credentials it accepts and the configuration file users give
// `mirrornet emulate huaweicloud-vpc --config FILE`.
import { z } from 'zod';
import { HUAWEI_ROUTE_TYPES, HUAWEI_VPC_QUOTAS } from '../../../model/constraints/huaweicloud-vpc.js';

/** Route types the VPC v1 API accepts on add/mod (the constraint inventory's). `local` is the system route type: never accepted. */
export const ROUTE_TYPES = HUAWEI_ROUTE_TYPES;
export const LOCAL_ROUTE_TYPE = 'local';

/** Routes per route table (system `local` routes do not count). */
export const DEFAULT_ROUTE_QUOTA = HUAWEI_VPC_QUOTAS.routesPerTable;

export const EmuRoute = z.object({
  type: z.string().min(1),
  destination: z.string().min(1),
  nexthop: z.string().default(''),
  description: z.string().optional(),
});
export type EmuRoute = z.infer<typeof EmuRoute>;

export const EmuRouteTable = z.object({
  id: z.string().min(1),
  name: z.string().default(''),
  vpc_id: z.string().default(''),
  default: z.boolean().default(false),
  description: z.string().default(''),
  subnets: z.array(z.object({ id: z.string() })).default([]),
  routes: z.array(EmuRoute).default([]),
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
});
export type EmuRouteTable = z.infer<typeof EmuRouteTable>;
export type EmuRouteTableInput = z.input<typeof EmuRouteTable>;

export const EmuProject = z.object({ routetables: z.array(EmuRouteTable).default([]) });
export type EmuProject = z.infer<typeof EmuProject>;

/** What `--state FILE` holds. Lockouts, faults and the request log are not persisted. */
export const EmuState = z.object({
  version: z.literal(1).default(1),
  projects: z.record(z.string(), EmuProject).default({}),
});
export type EmuState = z.infer<typeof EmuState>;
export type EmuStateInput = z.input<typeof EmuState>;

export const EmuCredential = z.object({
  ak: z.string().min(1),
  sk: z.string().min(1),
  /** Projects this key may use; absent = every project. */
  projects: z.array(z.string()).optional(),
});
export type EmuCredential = z.infer<typeof EmuCredential>;

/** The configuration file (JSON or YAML). */
export const EmuConfigFile = z.strictObject({
  listen: z.string().optional(),
  state: z.string().optional(),
  credentials: z.array(EmuCredential).default([]),
  projects: z.record(z.string(), EmuProject).default({}),
  routeQuota: z.int().positive().optional(),
  autoCreateTables: z.boolean().optional(),
});
export type EmuConfigFile = z.infer<typeof EmuConfigFile>;

const FaultMatch = z.object({
  method: z.string().optional(),
  /** Substring of the request path. */
  path: z.string().optional(),
});

/** A fault the emulator injects into the next matching API request (not into /_emulator/* calls). */
export const FaultSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('429'), match: FaultMatch.optional() }),
  z.object({ kind: z.literal('500'), when: z.enum(['before', 'after']).default('before'), match: FaultMatch.optional() }),
  z.object({ kind: z.literal('reset'), when: z.enum(['before', 'after']).default('before'), match: FaultMatch.optional() }),
  z.object({ kind: z.literal('delay'), ms: z.int().nonnegative(), match: FaultMatch.optional() }),
  z.object({
    kind: z.literal('status'),
    status: z.int().min(400).max(599),
    body: z.record(z.string(), z.unknown()).optional(),
    match: FaultMatch.optional(),
  }),
]);
export type FaultSpec = z.input<typeof FaultSpec>;
export type Fault = z.infer<typeof FaultSpec>;
type FaultMatch = z.infer<typeof FaultMatch>;
