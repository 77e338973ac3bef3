// zod compiles a fast parser for each object schema the first time it parses one (`new Function`). That pays
// for a schema parsed many times in one process; mirrornet's processes parse each schema a few times (a
// validator or publishing child validates one fleet and exits; an agent reads a small layer per revision), and
// there the compiling is pure cost: a child validating the example fleet spends ~45 ms (about a quarter) less
// without it. zod reads the setting when a schema is built, so every entry point imports this module first,
// before any module that declares a schema (cli/main.ts, cli/single-file.ts and the two child scripts).
import { z } from 'zod';

z.config({ jitless: true });
