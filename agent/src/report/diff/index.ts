// The diff of two fleets (pure): what every site's desired state adds, changes and removes, the links, the
// topology as Mermaid and the address plan as a table; rendered as markdown, text or JSON.
export * from './model.js';
export { buildDiffReport, diffFleets, diffItems, flatten, itemize, naturalCompare } from './compute.js';
export { addressPlanTable, addressPolicyChanged } from './address.js';
export { mermaidTopology, nodeId, MAX_DIAGRAM_NODES } from './mermaid.js';
export { code, md, renderJson, renderMarkdown, renderText, short, type RenderOptions } from './render.js';
