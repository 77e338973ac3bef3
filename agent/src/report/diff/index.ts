// The diff of two fleets (pure): what every site's desired state adds, changes and removes, the links, the
// topology as Mermaid and the address plan as a table; rendered as markdown, text or JSON.
export * from './model.js';
export { buildDiffReport } from './compute.js';
export { mermaidTopology } from './mermaid.js';
export { md, renderJson, renderMarkdown, renderText } from './render.js';
