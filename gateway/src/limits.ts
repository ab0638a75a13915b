import type { GatewayPlugin } from "@graphql-hive/gateway-runtime";
import { GraphQLError, Kind, type ASTNode, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from "graphql";

/** "Put a limit on everything": request size, query depth, aliases and total selections. */
export const LIMITS = {
  maxBodyBytes: 1024 * 1024,
  maxDepth: 15,
  maxAliases: 30,
  maxSelections: 1_000,
  maxTokens: 5_000,
};

function limitError(message: string) {
  return new GraphQLError(message, { extensions: { code: "BAD_REQUEST", limit: true } });
}

/** Depth, aliases and selection count of an operation, fragments expanded (cycles are already invalid). */
export function measure(doc: DocumentNode): { depth: number; aliases: number; selections: number } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let aliases = 0;
  let selections = 0;
  const visit = (set: SelectionSetNode | undefined, depth: number, seen: Set<string>): number => {
    if (!set) return depth;
    let max = depth;
    for (const sel of set.selections) {
      selections++;
      if (selections > LIMITS.maxSelections * 10) return max;
      if (sel.kind === Kind.FIELD) {
        if (sel.alias) aliases++;
        max = Math.max(max, visit(sel.selectionSet, depth + 1, seen));
      } else if (sel.kind === Kind.INLINE_FRAGMENT) max = Math.max(max, visit(sel.selectionSet, depth, seen));
      else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value)) {
        const f = fragments.get(sel.name.value);
        if (f) max = Math.max(max, visit(f.selectionSet, depth, new Set([...seen, sel.name.value])));
      }
    }
    return max;
  };
  let depth = 0;
  for (const d of doc.definitions) if (d.kind === Kind.OPERATION_DEFINITION) depth = Math.max(depth, visit(d.selectionSet, 0, new Set()));
  return { depth, aliases, selections };
}

export function limitsPlugin(): GatewayPlugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === "string" ? params.source : params.source.body;
      // A cheap upper bound on tokens before the parser does any work.
      if (source.length > LIMITS.maxTokens * 20) throw limitError(`The query is longer than ${LIMITS.maxTokens * 20} characters`);
      return ({ result }: { result: unknown }) => {
        if (!result || (result as ASTNode).kind !== Kind.DOCUMENT) return;
        const m = measure(result as DocumentNode);
        if (m.depth > LIMITS.maxDepth) throw limitError(`The query is ${m.depth} levels deep; the limit is ${LIMITS.maxDepth}`);
        if (m.aliases > LIMITS.maxAliases) throw limitError(`The query uses ${m.aliases} aliases; the limit is ${LIMITS.maxAliases}`);
        if (m.selections > LIMITS.maxSelections) throw limitError(`The query selects ${m.selections} fields; the limit is ${LIMITS.maxSelections}`);
      };
    },
  };
}
