// The defaults of the fleet-wide removal limits of policies/guardrails.yaml, without zod: the schema fills
// them into a file that leaves them out, and the agent's own process (which never loads the schemas) uses
// them for a revision it applied before the limits existed.

/** Sites (regions and cores) one revision may remove, unless retired first or acknowledged. */
export const DEFAULT_MAX_SITE_REMOVALS = 2;

/** Links one revision may remove, unless an end was retired first or they are acknowledged. */
export const DEFAULT_MAX_LINK_REMOVALS = 4;
