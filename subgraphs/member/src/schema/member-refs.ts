import { notFound } from "../../../../lib/errors.ts";
import type { Member } from "../../../../prisma/generated/client/client.ts";
import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";
import type { MemberContext } from "../context.ts";
import { MemberRef } from "./member.ts";
import { NodeRef } from "./node-ref.ts";

// The `member` of a points transaction and of an offer claim is served here, from the owner's
// (inaccessible) memberId: when points and partner served it themselves, the Rust query planner
// failed ("Failed to plan query") on a member reached from a subgraph that then needs @requires
// fields of it, e.g. `me { activity { edges { node { member { wallet } } } } }`. From here the
// member is an ordinary entity jump. Same visibility as `member(id)`: the memberById loader.

type WithMember = { id: string; memberId?: string | null };
const memberOf = (ctx: MemberContext, id: string | null | undefined): Promise<Member | null> | null => (id ? ctx.loaders.memberById.load(id) : null);

builder
  .externalRef("PointsTransaction", builder.selection<{ id: string }>("id"), (r) => r as WithMember)
  .implement({
    description: "A points ledger transaction (owned by the points subgraph); the member subgraph adds its member.",
    interfaces: [NodeRef],
    externalFields: (t) => ({ memberId: t.id({ nullable: true, description: "The member whose wallet moved, if any." }) }),
    fields: (t) => ({
      id: t.exposeID("id", { description: "The transaction's id." }),
      nodeId: t.id(nodeIdOptions("PointsTransaction")),
      member: t.field({
        type: MemberRef,
        nullable: true,
        requires: builder.selection<{ memberId?: string | null }>("memberId"),
        description: "The member whose wallet moved, if any.",
        resolve: (x, _a, ctx) => memberOf(ctx, x.memberId),
      }),
    }),
  });

builder
  .externalRef("OfferClaim", builder.selection<{ id: string }>("id"), (r) => r as WithMember)
  .implement({
    description: "A member's claim of an offer (owned by the partner subgraph); the member subgraph adds its member.",
    externalFields: (t) => ({ memberId: t.id({ description: "The member who claimed it." }) }),
    fields: (t) => ({
      id: t.exposeID("id", { description: "The claim's id." }),
      member: t.field({
        type: MemberRef,
        requires: builder.selection<{ memberId?: string | null }>("memberId"),
        description: "The member who claimed it.",
        resolve: async (x, _a, ctx) => (await memberOf(ctx, x.memberId)) ?? Promise.reject(notFound("Member")),
      }),
    }),
  });
