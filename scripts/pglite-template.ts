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
