// A host's desired state from its site's desired state per role: a bundle carries, per site, what each role
// compiles to (compile(fleet, site, [role])), and a host takes the roles it runs. Each role owns its own
// parts (gateway: routes, tunnels, cloud routes; hub: Harbor; node: mirror settings), so joining them gives
// what compile(fleet, site, roles) gives. Pure.
import type { Desired, Role } from './types.js';

/** What each role of a site compiles to; a role the site cannot take is absent (a region has no hub role). */
export type DesiredByRole = Partial<Record<Role, Desired>>;

const ORDER: readonly Role[] = ['gateway', 'hub', 'node'];

/** The desired state of a host of `site` that runs `roles`, or the sentence why the site has no such role. */
export function desiredForRoles(site: string, byRole: DesiredByRole, roles: readonly Role[]): Desired | { error: string } {
  const missing = roles.filter((r) => !byRole[r]);
  if (missing.length) {
    const has = ORDER.filter((r) => byRole[r]);
    return { error: `${site} has no ${missing.join(', ')} role (it takes ${has.join(', ') || 'none'}): check --roles on this host.` };
  }
  const out: Desired = { site, roles: [...roles], routes: [], wireguard: [], notes: [] };
  for (const role of ORDER) {
    const part = byRole[role];
    if (!part || !roles.includes(role)) continue;
    out.routes.push(...part.routes);
    out.wireguard.push(...part.wireguard);
    out.notes!.push(...(part.notes ?? []));
    if (part.retiring) out.retiring = true;
    for (const key of ['containerd', 'docker', 'dragonfly', 'cloud', 'harbor'] as const) {
      if (part[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = part[key];
    }
  }
  out.notes = [...new Set(out.notes)];
  return out;
}
