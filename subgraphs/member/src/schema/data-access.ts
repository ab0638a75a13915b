import { pageRequest } from "../../../../lib/paging.ts";
import { definePageInfo, pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import type { DataAccessEvent } from "../loaders.ts";
import { encodeCursor, isEntryId } from "../services/access-log.ts";
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

const DataAccessConnectionRef = builder.objectRef<{ rows: DataAccessEvent[]; hasNextPage: boolean; hasPreviousPage: boolean }>("DataAccessConnection").implement({
  description: "A page of the data-access log, newest first (Relay cursor pagination, both directions).",
  fields: (t) => ({
    edges: t.field({ type: [DataAccessEdgeRef], description: "The entries of this page.", resolve: (p) => p.rows }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: "Whether entries follow or precede this page, and the cursors to continue from.",
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
    args: pageArgs(t.arg, "entries"),
    resolve: (m, args, ctx) => ctx.loaders.accessPage.load({ memberId: m.id, page: pageRequest(args, isEntryId) }),
  }),
}));
