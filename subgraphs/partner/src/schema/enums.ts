import { SHARED_ENUMS } from "../../../../lib/schema-enums.ts";
import { builder } from "../builder.ts";

// Enums shared with the member and points subgraphs: the same values and the same descriptions in
// every subgraph that declares them (composition merges them).

export const PurposeEnum = builder.enumType("Purpose", SHARED_ENUMS.Purpose);

export const LifecycleEnum = builder.enumType("Lifecycle", SHARED_ENUMS.Lifecycle);

export const TierEnum = builder.enumType("Tier", SHARED_ENUMS.Tier);

export const DataCategoryEnum = builder.enumType("DataCategory", SHARED_ENUMS.DataCategory);

export const RoleEnum = builder.enumType("Role", {
  description: "What a token speaks for: the coalition operator, a partner brand, or one member.",
  values: {
    ADMIN: { description: "The coalition operator: onboards partners, sets rates, approves settlement; sees everything." },
    PARTNER: { description: "A partner brand's API client: sees its own records and only the members linked to it." },
    MEMBER: { description: "One member (token exchange through a partner's app, or the member app): sees only itself." },
  } as const,
});
