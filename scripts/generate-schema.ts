// `npm run generate` (after `prisma generate`): writes schema/subgraphs/<name>.graphql from each
// subgraph's Pothos schema and composes schema/supergraph.graphql. A test fails when these differ
// from what the code produces.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { compose, printSubgraphs, SCHEMA_DIR, SUBGRAPH_NAMES } from "./schema-tools.ts";

const sdls = await printSubgraphs();
const { supergraphSdl } = compose(sdls);
mkdirSync(path.join(SCHEMA_DIR, "subgraphs"), { recursive: true });
for (const name of SUBGRAPH_NAMES) writeFileSync(path.join(SCHEMA_DIR, "subgraphs", `${name}.graphql`), sdls[name]);
writeFileSync(path.join(SCHEMA_DIR, "supergraph.graphql"), supergraphSdl);
console.log(`schema/: ${SUBGRAPH_NAMES.map((n) => `subgraphs/${n}.graphql`).join(", ")}, supergraph.graphql`);
