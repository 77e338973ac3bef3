// The topology as a Mermaid flowchart (GitHub renders ```mermaid blocks): one subgraph per area, cores as
// hexagons, regions as boxes, links labelled by type; added, changed and removed sites styled by classDef,
// added, changed and removed links by linkStyle (Mermaid styles edges by index). A fleet of more than 20 sites
// is cut down to the changed sites and their direct neighbours (the ends of their links, and of changed
// links), so the diagram stays readable and under GitHub's size limit.
import type { Topology, TopologyEdge, TopologyNode } from './model.js';

const MAX_DIAGRAM_NODES = 20;

const STYLE = {
  added: { node: 'fill:#dafbe1,stroke:#1a7f37,stroke-width:3px,color:#0d1117', link: 'stroke:#1a7f37,stroke-width:3px' },
  changed: { node: 'fill:#fff8c5,stroke:#9a6700,stroke-width:3px,color:#0d1117', link: 'stroke:#9a6700,stroke-width:3px' },
  removed: {
    node: 'fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5,color:#0d1117',
    link: 'stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5',
  },
} as const;

function nodeId(name: string): string {
  return `s_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** Text inside a quoted Mermaid label: quotes and angle brackets as entities. */
function label(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

const MARK = { added: ' (new)', changed: ' (changed)', removed: ' (removed)', unchanged: '' } as const;

export function mermaidTopology(topology: Topology, opts: { maxNodes?: number } = {}): { text: string; hidden: number } {
  const max = opts.maxNodes ?? MAX_DIAGRAM_NODES;
  let nodes = topology.nodes;
  let edges = topology.edges;
  let hidden = 0;
  if (nodes.length > max) {
    const changed = new Set(nodes.filter((n) => n.status !== 'unchanged').map((n) => n.name));
    const keep = new Set(changed);
    for (const e of edges) {
      if (e.status !== 'unchanged' || changed.has(e.a) || changed.has(e.b)) {
        keep.add(e.a);
        keep.add(e.b);
      }
    }
    hidden = nodes.filter((n) => !keep.has(n.name)).length;
    nodes = nodes.filter((n) => keep.has(n.name));
    edges = edges.filter((e) => keep.has(e.a) && keep.has(e.b));
  }
  const lines = ['flowchart LR'];
  const areas = [...new Set(nodes.map((n) => n.area))].sort();
  for (const area of areas) {
    lines.push(`  subgraph area_${area.replace(/[^A-Za-z0-9]/g, '_')}["${label(area)}"]`);
    const inArea = nodes.filter((n) => n.area === area).sort((a, b) => (a.role === b.role ? (a.name < b.name ? -1 : 1) : a.role === 'hub' ? -1 : 1));
    for (const n of inArea) lines.push(`    ${nodeLine(n)}`);
    lines.push('  end');
  }
  edges.forEach((e) => lines.push(`  ${edgeLine(e)}`));
  const used = new Set<string>();
  for (const status of ['added', 'changed', 'removed'] as const) {
    const ids = nodes.filter((n) => n.status === status).map((n) => nodeId(n.name));
    if (!ids.length) continue;
    used.add(status);
    lines.push(`  classDef ${status} ${STYLE[status].node}`);
    lines.push(`  class ${ids.join(',')} ${status}`);
  }
  for (const status of ['added', 'changed', 'removed'] as const) {
    const idx = edges.map((e, i) => (e.status === status ? i : -1)).filter((i) => i >= 0);
    if (idx.length) lines.push(`  linkStyle ${idx.join(',')} ${STYLE[status].link}`);
  }
  return { text: lines.join('\n'), hidden };
}

function nodeLine(n: TopologyNode): string {
  const text = `"${label(`${n.name}${n.retiring ? ' (retiring)' : MARK[n.status]}`)}<br/>${label(`${n.role === 'hub' ? 'core · ' : ''}${n.cidr}`)}"`;
  return n.role === 'hub' ? `${nodeId(n.name)}{{${text}}}` : `${nodeId(n.name)}[${text}]`;
}

function edgeLine(e: TopologyEdge): string {
  const text = `"${label(`${e.type}${MARK[e.status]}`)}"`;
  const arrow = e.status === 'removed' ? '-.-' : e.status === 'unchanged' ? '---' : '===';
  return `${nodeId(e.a)} ${arrow}|${text}| ${nodeId(e.b)}`;
}
