import { builder } from "../builder.ts";

/**
 * Partner is owned by the partner subgraph; here it is only a reference (resolvable: false) so
 * linked accounts, consents and the access log can point at a partner and the gateway fetches
 * its fields from the partner subgraph.
 */
export const PartnerRef = builder.externalRef("Partner", builder.keyDirective(builder.selection<{ id: string }>("id"), false)).implement({
  externalFields: (t) => ({ id: t.id({ description: "The partner's id." }) }),
});

export const partnerRef = (id: string) => ({ id });
