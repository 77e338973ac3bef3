// The publishing process, started by publish-run.ts (the single-file release runs itself instead: cli/single-file.ts).
import '../host/zod-jitless.js'; // first: before any module declares a schema
import { publishChildMain } from './publish-once.js';

await publishChildMain();
