// The validator's process, started by evaluate.ts (the single-file release runs itself instead: cli/single-file.ts).
import '../host/zod-jitless.js'; // first: before any module declares a schema
import { evaluateRevisionMain } from './evaluate-revision.js';

await evaluateRevisionMain(process.argv.slice(2));
