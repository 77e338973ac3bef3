// Which mirrornet a revision of the repository needs: policies/agent.yaml declares the oldest agent version
// that may apply it (`minAgentVersion`) and the repository format it is written in (`schemaVersion`). An agent
// reads this one file before it validates a revision, leniently (any other key, even one a later format adds,
// is ignored: compatibility-file.ts), so an agent too old for a revision says so instead of calling it invalid
// with its older rules. Nothing here loads the YAML parser: the agent's own process (bundles) uses it too.
import { valid as validVersion, gt as newerThan } from 'semver';
import { z } from 'zod';
import { MirrornetError } from '../errors.js';
import { AGENT_VERSION, REPOSITORY_SCHEMA_VERSION } from '../version.js';
import { Name } from './field-formats.js';

/** The one place of the declaration: an agent reads only this file of a revision before validating it. */
export const COMPATIBILITY_FILE = 'policies/agent.yaml';

const Version = z
  .string()
  .refine((v) => validVersion(v) === v, { error: 'must be a version such as 0.2.0 (major.minor.patch, no "v", quoted if YAML reads it as a number)' });

export const AgentCompatibility = z.strictObject({
  kind: z.literal('AgentCompatibility'),
  name: Name,
  description: z.string().optional(),
  minAgentVersion: Version.describe(
    'The oldest mirrornet that may apply this repository: older agents refuse every revision and say so (exit code 4). ' +
      'Raise it only once every agent of the fleet runs that version.',
  ),
  schemaVersion: z
    .int()
    .min(1)
    .default(1)
    .describe('The repository format: raised when the files change in a way older agents cannot read (a new kind, a new required key).'),
});
export type AgentCompatibility = z.infer<typeof AgentCompatibility>;

/** What a revision needs, as far as it could be read (each value absent when the file or the key is not usable). */
export interface Declared {
  minAgentVersion?: string;
  schemaVersion?: number;
}

/** The versions this mirrornet has (for tests: another agent's). */
export interface AgentVersions {
  version: string;
  /** The highest format it reads. */
  reads: number;
}

export const THIS_AGENT: AgentVersions = { version: AGENT_VERSION, reads: REPOSITORY_SCHEMA_VERSION };

/** Why a mirrornet is too old for something: what is needed and what it has. */
export interface TooOld {
  /** `revision 0123456789ab`, `the bundle of 0123456789ab`, `the repository at DIR`. */
  subject: string;
  minAgentVersion: string;
  schemaVersion: number;
  /** Which format `schemaVersion` counts: the repository's files or a bundle's layers. */
  format: 'repository' | 'bundle';
  agent: AgentVersions;
}

/** Whether `agent` is too old for what `declared` needs (undefined: it is not, or nothing is declared). */
export function tooOldFor(subject: string, declared: Declared | undefined, agent: AgentVersions = THIS_AGENT): TooOld | undefined {
  if (!declared) return undefined;
  const min = declared.minAgentVersion ?? '0.0.0';
  const schema = declared.schemaVersion ?? 1;
  if (!newerThan(min, agent.version) && schema <= agent.reads) return undefined;
  return { subject, minAgentVersion: min, schemaVersion: schema, format: 'repository', agent };
}

/** `revision 0123456789ab needs mirrornet ≥ 0.3.0 (repository schema 2); this agent is 0.2.0 (reads schema 1)`. */
export function tooOldSentence(t: TooOld, who = 'this agent'): string {
  return (
    `${t.subject} needs mirrornet ≥ ${t.minAgentVersion} (${t.format} schema ${t.schemaVersion}); ` +
    `${who} is ${t.agent.version} (reads ${t.format} schema ${t.agent.reads})`
  );
}

/** A command (validate, plan, publish, diff) run by a mirrornet older than the repository needs. Exit code 4. */
export class AgentTooOldError extends MirrornetError {
  constructor(readonly tooOld: TooOld) {
    super(
      `${tooOldSentence(tooOld, 'this mirrornet')}: upgrade mirrornet to read it (its files were not validated with the older rules, ` +
        'which would report what is new as errors).',
    );
  }
}

/** The exit code of every command that stops because this mirrornet is too old (agent --once included). */
export const AGENT_TOO_OLD_EXIT = 4;
