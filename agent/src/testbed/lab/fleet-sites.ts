// The repository's model files as the lab's transforms read them (fleet.ts, ready-site.ts): parsed YAML with
// its schema header kept; the sites the lab is made of, read from the validated fleet (so every default is the
// model's), and the ones chosen with --sites; and the names the lab gives a site's WireGuard end: its private
// key reference and its cloud next hop.
import { parse as parseYaml } from 'yaml';
import { MirrornetError } from '../../errors.js';
import type { Fleet } from '../../model/fleet.js';
import type { VirtualFile } from '../../model/loader.js';
import type { LabSiteInput } from './topology.js';

export const LAB_MTU = 1420;
export const LAB_KEEPALIVE = 25;
export const FIRST_WG_PORT = 51820;

export class LabFleetError extends MirrornetError {}

export type Doc = Record<string, unknown>;

export interface ParsedFile {
  path: string;
  /** The comment lines at the top (the schema header), kept. */
  header: string[];
  doc: Doc;
}

function text(content: string | Buffer): string {
  return typeof content === 'string' ? content : content.toString('utf8');
}

/** The YAML files among `files`, parsed (each must hold one object). */
export function parseFiles(files: readonly VirtualFile[]): ParsedFile[] {
  const out: ParsedFile[] = [];
  for (const f of files) {
    if (!/\.ya?ml$/.test(f.path)) continue;
    const t = text(f.content);
    const header: string[] = [];
    for (const line of t.split('\n')) {
      if (line.startsWith('#')) header.push(line);
      else break;
    }
    let doc: unknown;
    try {
      doc = parseYaml(t);
    } catch (err) {
      throw new LabFleetError(`${f.path} is not valid YAML (${(err as Error).message.split('\n')[0]}): run \`mirrornet validate\` first.`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new LabFleetError(`${f.path} does not hold one object: run \`mirrornet validate\` first.`);
    out.push({ path: f.path, header, doc: doc as Doc });
  }
  return out;
}

export const kindOf = (p: ParsedFile) => p.doc['kind'];
export const nameOf = (p: ParsedFile) => String(p.doc['name']);
export const asArray = <T = Doc>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
export const asObject = (v: unknown): Doc => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {});

/**
 * The sites of a validated fleet (a `Report`'s `fleet` from reconcile/pipeline.ts) as the lab needs them, in
 * the fleet's order (the cores, then the regions, by file). A region's registry site is the core of the
 * first Harbor it mirrors.
 */
export function fleetSites(fleet: Fleet): LabSiteInput[] {
  return [...fleet.sites.values()].map(({ name, role, value }) => {
    const gateway = value.gateways[0];
    if (!gateway) throw new LabFleetError(`${name} has no gateway address: run \`mirrornet validate\` first.`);
    const site: LabSiteInput = { name, role, area: value.area, provider: value.provider, cidr: value.cidr, lan: gateway.address };
    const region = role === 'region' ? fleet.regions.get(name)?.value : undefined;
    if (region) {
      site.runtime = region.mirror.runtime;
      const harbor = region.mirror.registries.map((r) => fleet.harbors.get(r)?.value).find((h) => h !== undefined);
      if (harbor) site.registrySite = harbor.hub;
      site.proxyPort = region.mirror.dragonfly.proxyPort;
    }
    return site;
  });
}

/**
 * The regions asked for (all when `wanted` is empty) and every core: the image flow needs both cores.
 * Unknown names are an error that lists the known ones.
 */
export function selectSites(all: readonly LabSiteInput[], wanted: readonly string[] = []): LabSiteInput[] {
  if (!wanted.length) return [...all];
  const known = new Set(all.map((s) => s.name));
  const unknown = wanted.filter((w) => !known.has(w));
  if (unknown.length) throw new LabFleetError(`--sites: no site ${unknown.join(', ')} in the repository; use some of ${[...known].sort().join(', ')}.`);
  const set = new Set(wanted);
  return all.filter((s) => s.role === 'hub' || set.has(s.name));
}

/** A link's id: its two sites, sorted, joined by `--`. */
export function linkId(a: string, b: string): string {
  return a < b ? `${a}--${b}` : `${b}--${a}`;
}

/** The cloud next hop of a site's WireGuard end: its gateway ECS (Huawei Cloud sites with route tables). */
export function labNextHop(site: string): string {
  return `ecs-lab-${site}-gw1`;
}

/** Where a lab site's WireGuard private key is, under its --root (the reference its links name). */
export function labPrivateKeyRef(site: string): string {
  return `file:/etc/mirrornet/wireguard/${site}.key`;
}
