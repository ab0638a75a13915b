import { readFileSync } from "node:fs";
import path from "node:path";
import { printSubgraphSchema } from "@apollo/subgraph";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";
import { parse, type GraphQLSchema } from "graphql";

export const SUBGRAPH_NAMES = ["member", "points", "partner"] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];
export const SCHEMA_DIR = path.resolve(import.meta.dirname, "../schema");

/**
 * Default subgraph URLs written into the supergraph: the docker-compose service names. The gateway
 * replaces them at run time with the URLs it is given, so the checked-in file is the same
 * everywhere.
 */
export const DEFAULT_URLS: Record<SubgraphName, string> = {
  member: "http://member:4001/graphql",
  points: "http://points:4002/graphql",
  partner: "http://partner:4003/graphql",
};

/** Each subgraph's SDL as printSubgraphSchema prints it (directives and all), from its Pothos schema. */
export async function printSubgraphs(): Promise<Record<SubgraphName, string>> {
  const out = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPH_NAMES) {
    const mod = (await import(`../subgraphs/${name}/src/schema/index.ts`)) as { schema: GraphQLSchema };
    out[name] = `${printSubgraphSchema(mod.schema).trim()}\n`;
  }
  return out;
}

export interface Composed {
  /** The supergraph the gateway plans over (join__/link__ directives, @inaccessible elements included). */
  supergraphSdl: string;
  /** The API schema clients see: no federation internals, no @inaccessible elements. */
  publicSdl: string;
}

/** Composes the subgraph SDL into the supergraph; throws with every composition error listed. */
export function compose(sdls: Record<SubgraphName, string>): Composed {
  const result = composeServices(SUBGRAPH_NAMES.map((name) => ({ name, url: DEFAULT_URLS[name], typeDefs: parse(sdls[name]) })));
  if (compositionHasErrors(result)) {
    const lines = result.errors.map((e) => `- ${e.extensions?.code ? `[${e.extensions.code}] ` : ""}${e.message}`);
    throw new Error(`Supergraph composition failed (${lines.length} error${lines.length === 1 ? "" : "s"}):\n${lines.join("\n")}`);
  }
  return { supergraphSdl: `${result.supergraphSdl.trim()}\n`, publicSdl: `${result.publicSdl.trim()}\n` };
}

export function readCheckedIn(): { subgraphs: Record<SubgraphName, string>; supergraph: string; public: string } {
  const subgraphs = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPH_NAMES) subgraphs[name] = readFileSync(path.join(SCHEMA_DIR, "subgraphs", `${name}.graphql`), "utf8");
  const read = (file: string) => readFileSync(path.join(SCHEMA_DIR, file), "utf8");
  return { subgraphs, supergraph: read("supergraph.graphql"), public: read("public.graphql") };
}
