import path from "node:path";
import { defineConfig } from "prisma/config";

// Offline by default: the native schema engine would be downloaded from a host these machines
// cannot reach, so the CLI runs the official WASM engine behind a binary-compatible shim
// (prisma/engine/schema-engine-shim.mjs). Opt out with HUB_PRISMA_NATIVE_ENGINE=1 (or by naming
// your own PRISMA_SCHEMA_ENGINE_BINARY) on a machine with internet.
if (process.env.HUB_PRISMA_NATIVE_ENGINE !== "1") {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.resolve(import.meta.dirname, "prisma/engine/schema-engine-shim.mjs");
}
process.env.CHECKPOINT_DISABLE ??= "1";

export default defineConfig({
  // A folder: every .prisma file in it is one schema (base.prisma: generators, datasource; one file per owner).
  schema: "prisma/schema",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/coalition_hub" },
});
