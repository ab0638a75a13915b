import { addDeadLetterFields } from "../../../../lib/events/dead-letter-schema.ts";
import { ROOT_DESCRIPTIONS } from "../../../../lib/schema-enums.ts";
import { builder } from "../builder.ts";
import { prisma } from "../db.ts";
// Side-effect imports: each file defines one type (or entity) with its queries and mutations.
import "./enums.ts";
import "./partner.ts";
import "./member.ts";
import "./member-refs.ts";
import "./node.ts";
import "./linked-account.ts";
import "./consent.ts";
import "./data-access.ts";
import "./audience.ts";
import "./sign-in.ts";

// ADMIN: the events this subgraph's relay gave up on, and their replay (each subgraph owns its own).
addDeadLetterFields(builder, "member", prisma);

builder.queryType({ description: ROOT_DESCRIPTIONS.query });
builder.mutationType({ description: ROOT_DESCRIPTIONS.mutation });

export const schema = builder.toSubGraphSchema({
  linkUrl: "https://specs.apollo.dev/federation/v2.6",
  federationDirectives: ["@key", "@shareable", "@external", "@requires", "@provides", "@inaccessible", "@extends"],
});
