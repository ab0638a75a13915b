import { builder } from "../builder.ts";
// Side-effect imports: each file defines one type (or entity) with its queries and mutations.

builder.queryType({});

export const schema = builder.toSubGraphSchema({
  linkUrl: "https://specs.apollo.dev/federation/v2.6",
  federationDirectives: ["@key", "@shareable", "@external", "@requires", "@provides", "@inaccessible"],
});
