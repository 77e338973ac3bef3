// The publishing process, started by publish-run.ts (the single-file release runs itself instead: cli/single-file.ts).
import { publishChildMain } from './publish-once.js';

await publishChildMain();
