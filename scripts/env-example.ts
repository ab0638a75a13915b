// `npm run generate:env`: writes .env.example from the configuration schema (lib/config.ts), so the
// list of variables, their defaults and their meanings cannot drift from what the hub validates.
// lib/config.test.ts fails when the committed file differs from what this writes.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { envExample } from "../lib/config.ts";

export const ENV_EXAMPLE = path.resolve(import.meta.dirname, "../.env.example");

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(ENV_EXAMPLE, envExample());
  console.log(`wrote ${path.relative(process.cwd(), ENV_EXAMPLE)}`);
}
