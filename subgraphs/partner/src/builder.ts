import { createBuilder } from "../../../lib/pothos.ts";
import type { PartnerContext } from "./context.ts";

/** The partner subgraph's one SchemaBuilder. It defines no types (those live in schema/). */
export const builder = createBuilder<PartnerContext>();
