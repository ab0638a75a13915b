import { createBuilder } from "../../../lib/pothos.ts";
import type { PointsContext } from "./context.ts";

/** The points subgraph's one SchemaBuilder. It defines no types (those live in schema/). */
export const builder = createBuilder<PointsContext>();
