// The constraint inventory, all consumers together (types.ts says what an entry is). One file per consumer;
// this index is what rules, renderers, emulators and the inventory's own tests read.
import { CONTAINERD_CONSTRAINTS } from './containerd.js';
import { DISTRIBUTION_S3 } from './distribution-s3.js';
import { DOCKER_CONSTRAINTS } from './docker.js';
import { DRAGONFLY_CONSTRAINTS } from './dragonfly.js';
import { HARBOR_API_CONSTRAINTS } from './harbor-api.js';
import { HARBOR_PREPARE } from './harbor-prepare.js';
import { HUAWEI_VPC_CONSTRAINTS } from './huaweicloud-vpc.js';
import type { Constraint, Consumer } from './types.js';

export type { Constraint, Consumer, Upstream } from './types.js';

/** Every entry of the inventory. Each consumer's file adds its list here. */
export const CONSTRAINTS: readonly Constraint[] = [
  ...DRAGONFLY_CONSTRAINTS,
  ...CONTAINERD_CONSTRAINTS,
  ...DOCKER_CONSTRAINTS,
  ...HARBOR_PREPARE,
  ...DISTRIBUTION_S3,
  ...HARBOR_API_CONSTRAINTS,
  ...HUAWEI_VPC_CONSTRAINTS,
];

/** The entry for one key of one consumer, if the inventory has it. */
export function constraintOf(consumer: Consumer, key: string): Constraint | undefined {
  return CONSTRAINTS.find((c) => c.consumer === consumer && c.key === key);
}
