// The version of this agent, in one place: what `--version` prints, what a bundle it publishes asks of the
// agents that apply it, what it tells the servers it calls (package.json's version; a test keeps them equal).
export const AGENT_VERSION = '0.2.0';
