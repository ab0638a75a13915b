import { SHARED_ENUMS } from "../../../../lib/schema-enums.ts";
import { builder } from "../builder.ts";

// Enums shared with the points and partner subgraphs: the same values and the same descriptions in
// every subgraph that declares them (composition merges them).

export const DataCategoryEnum = builder.enumType("DataCategory", SHARED_ENUMS.DataCategory);

export const PurposeEnum = builder.enumType("Purpose", SHARED_ENUMS.Purpose);

export const LifecycleEnum = builder.enumType("Lifecycle", SHARED_ENUMS.Lifecycle);

export const ConsentStatusEnum = builder.enumType("ConsentStatus", {
  description: "The state of a consent receipt, derived at read time from its revocation and expiry times.",
  values: {
    ACTIVE: { description: "Granted, not revoked, and not past its expiry time: it counts." },
    REVOKED: { description: "Withdrawn by the member; it stopped counting at the revocation time." },
    EXPIRED: { description: "Past its expiry time; it stopped counting then, by itself." },
  } as const,
});
