// What a rule is: an id, a default severity, one line of documentation, an example of what it catches,
// and a pure check over the fleet.
import type { Finding, Severity } from '../model/finding.js';
import type { Fleet } from '../model/fleet.js';
import { findingAt, type PathSegment, type SourceFile } from '../model/source.js';
import { planGeometry, type PlanGeometry } from '../net/plan.js';
import { computeRoutes, Forwarding, type RoutePlan } from '../net/routes.js';

export interface Rule {
  id: string;
  severity: Severity;
  /** What the rule checks, one sentence. */
  summary: string;
  /** A short example of what it catches. */
  example: string;
}

/**
 * A family of related rules (one file under rules/) with one check that reports any of them: related
 * rules share their work (one sweep over CIDRs, one route computation).
 */
export interface RuleFamily {
  id: string;
  rules: Rule[];
  /** Families reported while loading (file, yaml, schema) have no check of their own. */
  check?: (ctx: RuleContext) => Finding[];
}

/** What rules share: the fleet, and derived data computed once on first use. */
export class RuleContext {
  private routesCache?: RoutePlan;
  private forwardingCache?: Forwarding;
  private geometryCache?: PlanGeometry | null;

  constructor(readonly fleet: Fleet) {}

  get routes(): RoutePlan {
    return (this.routesCache ??= computeRoutes(this.fleet));
  }

  get forwarding(): Forwarding {
    return (this.forwardingCache ??= new Forwarding(this.routes));
  }

  /** The address plan's geometry, or undefined when there is no valid plan. */
  get geometry(): PlanGeometry | undefined {
    if (this.geometryCache === undefined) {
      const plan = this.fleet.policies.addressPlan?.value;
      this.geometryCache = (plan && planGeometry(plan)) || null;
    }
    return this.geometryCache ?? undefined;
  }

  private readonly memos = new Map<string, unknown>();

  /** A value computed once per validation run (shared by the findings of one rule family). */
  memo<T>(key: string, compute: () => T): T {
    if (!this.memos.has(key)) this.memos.set(key, compute());
    return this.memos.get(key) as T;
  }

  /** True when `name` exists as a site, or failed the schema (so a dangling-reference finding would be noise). */
  knownOrBroken(name: string): boolean {
    return this.fleet.sites.has(name) || this.fleet.brokenNames.has(name);
  }
}

/** A finding builder bound to one rule. */
export function reporter(rule: Pick<Rule, 'id' | 'severity'>) {
  return (file: SourceFile, path: readonly PathSegment[], message: string, opts: { key?: boolean; severity?: Severity } = {}): Finding =>
    findingAt(file, path, rule.id, opts.severity ?? rule.severity, message, opts);
}
