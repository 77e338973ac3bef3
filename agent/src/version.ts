// The version of this agent, in one place: what `--version` prints, what a bundle it publishes asks of the
// agents that apply it, what it tells the servers it calls (package.json's version; a test keeps them equal).
export const AGENT_VERSION = '0.2.0';
/**
 * The repository format this agent reads (policies/agent.yaml `schemaVersion`, model/compatibility.ts): raised
 * when the repository's files change in a way an agent of the version before cannot read (a new kind, a new
 * required key, a key whose meaning changes). An agent reads every format up to this one.
 */
export const REPOSITORY_SCHEMA_VERSION = 1;
