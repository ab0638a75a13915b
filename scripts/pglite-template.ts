// `npm install` (postinstall): makes the embedded database's template (lib/pglite-prepare.ts), so the
// hub's first start copies an initdb'd, migrated cluster instead of making one (~8 s here). Never
// fails an install: without it the first start makes the cluster itself (and keeps it as the template).
import { buildTemplate } from "../lib/pglite-prepare.ts";

const started = performance.now();
try {
  const { template, built } = await buildTemplate();
  if (built) console.log(`pglite-template: the embedded database's template made in ${((performance.now() - started) / 1000).toFixed(1)} s (${template})`);
} catch (e) {
  console.warn(`pglite-template: not made (${(e as Error).message.split("\n")[0]}); the first start will make the database itself`);
}

// The hub's modules compiled once into Node's compile cache (lib/compile-cache.ts), as `npm start`
// loads them: the first start then reads compiled code instead of compiling ~2 s of modules.
const warming = performance.now();
try {
  const { flushCompileCache, useCompileCache } = await import("../lib/compile-cache.ts");
  if (useCompileCache()) {
    await Promise.all([import("../lib/db.ts"), import("./hub.ts"), import("../prisma/seed.ts")]);
    flushCompileCache();
    console.log(`pglite-template: the hub's modules compiled into Node's compile cache in ${((performance.now() - warming) / 1000).toFixed(1)} s`);
  }
} catch (e) {
  console.warn(`pglite-template: the compile cache was not warmed (${(e as Error).message.split("\n")[0]})`);
}
process.exit(0); // the imported modules may hold timers or handles open
