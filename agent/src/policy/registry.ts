// Every rule family, in the order findings are computed. A new rule goes into its family's file here.
import type { Rule, RuleFamily } from './rule.js';
import { fileRules, schemaRules, secretRules, yamlRules } from './rules/builtin.js';
import { cidrRules } from './rules/cidr.js';
import { cloudRules } from './rules/cloud.js';
import { compatibilityRules } from './rules/compatibility.js';
import { guardrailRules } from './rules/guardrails.js';
import { harborApiRules } from './rules/harbor-api.js';
import { harborRules } from './rules/harbor.js';
import { harborPrepareRules } from './rules/harbor-prepare.js';
import { harborS3Rules } from './rules/harbor-s3.js';
import { linkRules } from './rules/links.js';
import { mirrorRules } from './rules/mirror.js';
import { notificationRules } from './rules/notifications.js';
import { rolloutRules } from './rules/rollout.js';
import { routingRules } from './rules/routing.js';
import { siteRules } from './rules/sites.js';

export const RULE_FAMILIES: readonly RuleFamily[] = [
  fileRules,
  yamlRules,
  schemaRules,
  secretRules,
  siteRules,
  cidrRules,
  linkRules,
  routingRules,
  cloudRules,
  mirrorRules,
  harborRules,
  harborApiRules,
  harborPrepareRules,
  harborS3Rules,
  notificationRules,
  guardrailRules,
  compatibilityRules,
  rolloutRules,
];

export const RULES: ReadonlyMap<string, Rule> = new Map(RULE_FAMILIES.flatMap((f) => f.rules.map((r) => [r.id, r] as const)));
