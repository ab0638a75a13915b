// `npm run generate` (after `prisma generate`): writes schema/subgraphs/<name>.graphql from each
// subgraph's Pothos schema (printSubgraphSchema), composes schema/supergraph.graphql and writes the
// public schema partners see, schema/public.graphql (no federation internals, no @inaccessible). Nothing is
// written unless the subgraphs compose. tests/tooling/schema.test.ts fails when the checked-in files
// differ from what the code produces.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { compose, printSubgraphs, SCHEMA_DIR, SUBGRAPH_NAMES } from "./schema-tools.ts";

try {
  const sdls = await printSubgraphs();
  const { supergraphSdl, publicSdl } = compose(sdls);
  mkdirSync(path.join(SCHEMA_DIR, "subgraphs"), { recursive: true });
  const files: [string, string][] = [...SUBGRAPH_NAMES.map((n): [string, string] => [`subgraphs/${n}.graphql`, sdls[n]]), ["supergraph.graphql", supergraphSdl], ["public.graphql", publicSdl]];
  for (const [file, content] of files) {
    const target = path.join(SCHEMA_DIR, file);
    const changed = !existsSync(target) || readFileSync(target, "utf8") !== content;
    if (changed) writeFileSync(target, content);
    console.log(`schema/${file}${changed ? " (updated)" : ""}`);
  }
  process.exit(0); // subgraph modules may hold timers or pools open
} catch (e) {
  console.error(`npm run generate: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
