// The constraint inventory, all consumers together (types.ts says what an entry is). One file per consumer;
// this index is what rules, renderers, emulators and the inventory's own tests read.
import { HARBOR_API_CONSTRAINTS } from './harbor-api.js';
import { HUAWEI_VPC_CONSTRAINTS } from './huaweicloud-vpc.js';
import type { Constraint, Consumer } from './types.js';

export type { Constraint, Consumer, Upstream } from './types.js';

/** Every entry of the inventory. Each consumer's file adds its list here. */
export const CONSTRAINTS: readonly Constraint[] = [...HARBOR_API_CONSTRAINTS, ...HUAWEI_VPC_CONSTRAINTS];

/** The entry for one key of one consumer, if the inventory has it. */
export function constraintOf(consumer: Consumer, key: string): Constraint | undefined {
  return CONSTRAINTS.find((c) => c.consumer === consumer && c.key === key);
}
