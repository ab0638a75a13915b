import { createBuilder } from "../../../lib/pothos.ts";
import type { MemberContext } from "./context.ts";

/** The member subgraph's one SchemaBuilder. It defines no types (those live in schema/). */
export const builder = createBuilder<MemberContext>();
