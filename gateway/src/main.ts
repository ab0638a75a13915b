// `npm run start:gateway`: the gateway alone (docker-compose), in front of subgraphs at
// HUB_MEMBER_URL / HUB_POINTS_URL / HUB_PARTNER_URL, serving schema/supergraph.graphql.
import { readFileSync } from "node:fs";
import path from "node:path";
import { loadEnv } from "../../lib/config.ts";
import { assertDeployable } from "../../lib/deployment.ts";
import { log } from "../../lib/logger.ts";
import { startGateway } from "./server.ts";

const env = loadEnv();
assertDeployable("gateway");
if (!env.HUB_INTERNAL_SECRET) throw new Error("start:gateway needs HUB_INTERNAL_SECRET (shared with the subgraphs)");
const need = (name: string, v: string | undefined) => v ?? (() => { throw new Error(`start:gateway needs ${name}`); })();
const gateway = await startGateway({
  port: env.HUB_PORT,
  host: env.HUB_HOST,
  supergraphSdl: readFileSync(path.resolve(import.meta.dirname, "../../schema/supergraph.graphql"), "utf8"),
  subgraphUrls: { member: need("HUB_MEMBER_URL", env.HUB_MEMBER_URL), points: need("HUB_POINTS_URL", env.HUB_POINTS_URL), partner: need("HUB_PARTNER_URL", env.HUB_PARTNER_URL) },
  internalSecret: env.HUB_INTERNAL_SECRET,
  dataDir: env.HUB_DATA_DIR,
  issuer: env.HUB_ISSUER,
  audience: env.HUB_AUDIENCE,
  externalIdp: process.env.HUB_MEMBER_IDP_ISSUER
    ? { issuer: process.env.HUB_MEMBER_IDP_ISSUER, jwksUrl: need("HUB_MEMBER_IDP_JWKS_URL", process.env.HUB_MEMBER_IDP_JWKS_URL), audience: process.env.HUB_MEMBER_IDP_AUDIENCE ?? env.HUB_AUDIENCE, memberClaim: process.env.HUB_MEMBER_IDP_MEMBER_CLAIM ?? "member_id" }
    : undefined,
});
log.info("gateway listening", { url: `${gateway.url}/graphql` });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void gateway.close().then(() => process.exit(0)));
