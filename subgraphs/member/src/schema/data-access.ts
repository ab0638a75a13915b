import { badInput } from "../../../../lib/errors.ts";
import { pageSize } from "../../../../lib/paging.ts";
import { definePageInfo, pageInfoOf } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import type { DataAccessEvent } from "../loaders.ts";
import { decodeCursor, encodeCursor } from "../services/access-log.ts";
import { DataCategoryEnum, PurposeEnum } from "./enums.ts";
import { MemberRef } from "./member.ts";
import { PartnerRef, partnerRef } from "./partner.ts";

const PageInfoRef = definePageInfo(builder);

const DataAccessEventRef = builder.objectRef<DataAccessEvent>("DataAccessEvent").implement({
  description: "One consent-scoped read of the member's data by a partner: who, which categories, for what purpose, when.",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The partner that read the data.", resolve: (e) => partnerRef(e.partnerId!) }),
    categories: t.field({ type: [DataCategoryEnum], description: "The data categories read.", resolve: (e) => e.categories }),
    purpose: t.field({ type: PurposeEnum, description: "The purpose the partner declared for the request.", resolve: (e) => e.purpose! }),
    operationName: t.exposeString("operationName", { nullable: true, description: "The GraphQL operation name of the partner's request, when it named one." }),
    at: t.field({ type: "DateTime", description: "When the read happened (UTC).", resolve: (e) => e.at }),
  }),
});

const DataAccessEdgeRef = builder.objectRef<DataAccessEvent>("DataAccessEdge").implement({
  description: "An entry of the data-access log with its cursor.",
  fields: (t) => ({
    cursor: t.string({ description: "Opaque cursor of this entry.", resolve: (e) => encodeCursor(e) }),
    node: t.field({ type: DataAccessEventRef, description: "The entry.", resolve: (e) => e }),
  }),
});

const DataAccessConnectionRef = builder.objectRef<{ rows: DataAccessEvent[]; hasNextPage: boolean }>("DataAccessConnection").implement({
  description: "A page of the data-access log, newest first.",
  fields: (t) => ({
    edges: t.field({ type: [DataAccessEdgeRef], description: "The entries of this page.", resolve: (p) => p.rows }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: "Whether more entries follow.",
      resolve: (p) => pageInfoOf(p, encodeCursor),
    }),
  }),
});

builder.objectFields(MemberRef, (t) => ({
  dataAccessLog: t.field({
    type: DataAccessConnectionRef,
    nullable: true,
    authScopes: { memberScope: "member" },
    description:
      "Who read this member's consent-scoped data: every partner read through the hub (a partner's own API client, its token-exchange view of the member, or its app acting for the member), newest first. The member and admins see all entries; a partner sees only its own reads; an app acting for the member gets null with FORBIDDEN (extensions.scope = \"member\").",
    args: {
      first: t.arg.int({ required: false, description: "Entries per page, 1–100 (default 20)." }),
      after: t.arg.string({ required: false, description: "Continue after this cursor (pageInfo.endCursor of the previous page)." }),
    },
    resolve: (m, { first, after }, ctx) => {
      const n = pageSize(first);
      if (after && !decodeCursor(after)) throw badInput("after is not a cursor of this list", "after");
      return ctx.loaders.accessPage.load({ memberId: m.id, first: n, after: after ?? null });
    },
  }),
}));
