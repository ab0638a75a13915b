import { defineNodeInterface } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";

/** Relay's `Node` (lib/global-id.ts); `node(id:)` / `nodes(ids:)` are served by the member subgraph. */
export const NodeRef = defineNodeInterface(builder);
