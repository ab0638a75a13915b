// `npm run start:gateway`: the gateway alone (docker-compose), in front of subgraphs at
// HUB_MEMBER_URL / HUB_POINTS_URL / HUB_PARTNER_URL, serving schema/supergraph.graphql.
import { readFileSync } from "node:fs";
import path from "node:path";
import { configOrExit, refuseToStart } from "../../lib/config.ts";
import { flushLogs, log } from "../../lib/logger.ts";
import { startTracing, stopTracing } from "../../lib/tracing.ts";
import { PortInUseError } from "../../lib/serve.ts";
import { startGateway } from "./server.ts";

const env = configOrExit("gateway");
const missing = (["HUB_INTERNAL_SECRET", "HUB_MEMBER_URL", "HUB_POINTS_URL", "HUB_PARTNER_URL"] as const).filter((name) => !env[name]);
if (missing.length)
  refuseToStart(
    "start:gateway runs in front of separately started subgraphs (`npm start` runs everything)",
    missing.map((name) => `${name} is required`),
  );
const need = (v: string | undefined) => v!;
await startTracing({ serviceName: "gateway" });
const gateway = await startGateway({
  portSetting: "HUB_PORT",
  port: env.HUB_PORT,
  host: env.HUB_HOST,
  supergraphSdl: readFileSync(path.resolve(import.meta.dirname, "../../schema/supergraph.graphql"), "utf8"),
  subgraphUrls: { member: need(env.HUB_MEMBER_URL), points: need(env.HUB_POINTS_URL), partner: need(env.HUB_PARTNER_URL) },
  internalSecret: need(env.HUB_INTERNAL_SECRET),
  dataDir: env.HUB_DATA_DIR,
  issuer: env.HUB_ISSUER,
  audience: env.HUB_AUDIENCE,
  // lib/config.ts requires HUB_MEMBER_IDP_JWKS_URL with HUB_MEMBER_IDP_ISSUER.
  externalIdp: env.HUB_MEMBER_IDP_ISSUER
    ? { issuer: env.HUB_MEMBER_IDP_ISSUER, jwksUrl: need(env.HUB_MEMBER_IDP_JWKS_URL), audience: env.HUB_MEMBER_IDP_AUDIENCE ?? env.HUB_AUDIENCE, memberClaim: env.HUB_MEMBER_IDP_MEMBER_CLAIM }
    : undefined,
}).catch((e) => {
  if (e instanceof PortInUseError) refuseToStart("start:gateway cannot listen", [e.message]);
  throw e;
});
log.info("gateway listening", { url: `${gateway.url}/graphql` });
// SIGTERM: readiness 503, requests in flight finish (bounded by HUB_DRAIN_TIMEOUT_MS), then connections close.
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(
    signal,
    () =>
      void gateway
        .close(env.HUB_DRAIN_TIMEOUT_MS)
        .then(stopTracing)
        .then(flushLogs)
        .then(() => process.exit(0)),
  );
