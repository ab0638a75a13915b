import { builder } from "../builder.ts";

/** Partner is owned by the partner subgraph: a non-resolvable key stub here. */
export const PartnerRef = builder.objectRef<{ id: string }>("Partner").implement({
  description: "A partner brand of the coalition (owned by the partner subgraph).",
  extensions: { directives: [{ name: "key", args: { fields: "id", resolvable: false } }] },
  fields: (t) => ({ id: t.exposeID("id", { description: "The partner's id." }) }),
});

/** Offer is owned by the partner subgraph; points adds the remaining budget. */
export const OfferRef = builder.externalRef("Offer", builder.selection<{ id: string }>("id"), (ref) => ({ id: ref.id }));
OfferRef.implement({
  description: "A co-issued offer (owned by the partner subgraph).",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The offer's id." }),
    remainingBudgetPoints: t.int({
      nullable: true,
      description: "Points left in the offer's budget (the OFFER_BUDGET ledger account), in points; null before the offer was first activated (funded).",
      resolve: (o, _a, ctx) => ctx.loaders.remainingBudget.load(o.id),
    }),
  }),
});

export const ref = (id: string | null) => (id ? { id } : null);
