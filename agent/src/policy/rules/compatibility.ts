// The agent compatibility declaration (model/compatibility.ts) lives in policies/agent.yaml: the one file an
// agent reads of a revision before it validates it, so a declaration anywhere else would not be seen in time.
import type { Finding } from '../../model/finding.js';
import { COMPATIBILITY_FILE } from '../../model/compatibility.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const misplaced = reporter({ id: 'compatibility/location', severity: 'error' });

function check(ctx: RuleContext): Finding[] {
  const declared = ctx.fleet.policies.compatibility;
  if (!declared || declared.file.path === COMPATIBILITY_FILE) return [];
  return [
    misplaced(
      declared.file,
      ['kind'],
      `An AgentCompatibility declaration is read from ${COMPATIBILITY_FILE} only (an agent reads that one file before it validates a ` +
        `revision): move it there from ${declared.file.path}.`,
    ),
  ];
}

export const compatibilityRules: RuleFamily = {
  id: 'compatibility',
  rules: [
    {
      id: 'compatibility/location',
      severity: 'error',
      summary: `The AgentCompatibility declaration (minAgentVersion, schemaVersion) is ${COMPATIBILITY_FILE}, the file agents read before validating.`,
      example: 'kind: AgentCompatibility in policies/versions.yaml',
    },
  ],
  check,
};
