import { builder } from "../builder.ts";
// Side-effect imports: each file defines one type (or entity) with its queries and mutations.
import "./enums.ts";
import "./refs.ts";
import "./member.ts";
import "./transaction.ts";
import "./mutations.ts";
import "./settlement.ts";
import "./verify.ts";

builder.queryType({ description: "Reads of the points subgraph: transactions and settlement runs (wallets, tiers and activity hang off Member)." });
builder.mutationType({ description: "Writes of the points subgraph: earning, redeeming, holds, reversals, adjustments, settlement." });

export const schema = builder.toSubGraphSchema({
  linkUrl: "https://specs.apollo.dev/federation/v2.6",
  federationDirectives: ["@key", "@shareable", "@external", "@requires", "@provides", "@inaccessible", "@extends"],
});
