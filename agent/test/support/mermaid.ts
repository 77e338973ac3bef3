// The one way tests check a Mermaid diagram: parsed by the real `mermaid` package, as GitHub renders it. Mermaid
// needs a DOM at import, so a JSDOM window is installed first (once per process). jsdom is imported by a name
// the compiler does not resolve: its types pull in the DOM library, whose fetch types break the Node code's.
const JSDOM_MODULE = 'jsdom';

interface JsdomModule {
  JSDOM: new (html: string, opts: { pretendToBeVisual: boolean }) => { window: { document: unknown } };
}

interface Mermaid {
  initialize(config: { startOnLoad: boolean }): void;
  parse(text: string): Promise<unknown>;
}

let loaded: Promise<Mermaid> | undefined;

async function load(): Promise<Mermaid> {
  const g = globalThis as Record<string, unknown>;
  if (!g['window']) {
    const { JSDOM } = (await import(JSDOM_MODULE)) as JsdomModule;
    const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
    g['window'] = dom.window;
    g['document'] = dom.window.document;
  }
  const mermaid = (await import('mermaid')).default as unknown as Mermaid;
  mermaid.initialize({ startOnLoad: false });
  return mermaid;
}

/** Throws Mermaid's own parse error (what GitHub would show as a broken diagram) when `text` is not a valid diagram. */
export async function parseMermaid(text: string): Promise<void> {
  loaded ??= load();
  await (await loaded).parse(text);
}

/** The contents of every ```mermaid block of a markdown text. */
export function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => m[1]!);
}
