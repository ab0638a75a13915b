import { defineNodeInterface } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";

/** Relay's `Node` (lib/global-id.ts); `node(id:)` / `nodes(ids:)` live in ./node.ts. */
export const NodeRef = defineNodeInterface(builder);
