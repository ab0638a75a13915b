import { existsSync } from "node:fs";

/**
 * Deployment defaults (issue 14 §8): the embedded demo (`npm start` without configuration) may make
 * up its secrets and seed well-known demo credentials; a deployment (NODE_ENV=production, as the
 * Dockerfile sets) may not. Every process checks what it needs before it opens a port.
 */
export const isProduction = (env: NodeJS.ProcessEnv = process.env) => env.NODE_ENV === "production";

/** Passwords nobody may deploy with (the old docker-compose default among them). */
const WELL_KNOWN_PASSWORDS = new Set(["", "postgres", "password", "admin", "changeme"]);

export type ProcessRole = "hub" | "gateway" | "subgraph";

/** What keeps this process from running in production; empty when nothing does (or outside production). */
export function deploymentProblems(role: ProcessRole, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!isProduction(env)) return [];
  const problems: string[] = [];
  if (env.HUB_DEMO === "1") problems.push("HUB_DEMO=1: the demo coalition (demo-admin / demo-admin-secret and the other demo clients) is never seeded in production");
  if (!env.HUB_INTERNAL_SECRET) problems.push("HUB_INTERNAL_SECRET is required (a random string of 32+ characters shared by the gateway and the subgraphs)");
  if (role !== "gateway") {
    if (!env.DATABASE_URL) problems.push("DATABASE_URL is required (the embedded database is for the demo)");
    else {
      const url = URL.canParse(env.DATABASE_URL) ? new URL(env.DATABASE_URL) : null;
      if (url && WELL_KNOWN_PASSWORDS.has(decodeURIComponent(url.password))) problems.push("DATABASE_URL carries no password or a well-known one: set the database password (POSTGRES_PASSWORD in docker-compose)");
    }
  }
  if (role !== "subgraph") {
    const file = env.HUB_SIGNING_KEYS_FILE;
    if (!env.HUB_SIGNING_KEYS && !(file && existsSync(file))) {
      problems.push("HUB_SIGNING_KEYS (or HUB_SIGNING_KEYS_FILE naming an existing file) is required: the access-token signing keys (`npm run cli -- keys generate` prints a new one)");
    }
  }
  return problems;
}
