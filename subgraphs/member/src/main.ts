// `npm run start:member`: the member subgraph alone (docker-compose, one process per service).
// Needs DATABASE_URL and HUB_INTERNAL_SECRET; delivers its domain events to the points and
// partner subgraphs at HUB_POINTS_URL / HUB_PARTNER_URL.
import { loadEnv } from "../../../lib/config.ts";
import { openDatabase } from "../../../lib/db.ts";
import { startOutboxRelay } from "../../../lib/events.ts";
import { internalKey } from "../../../lib/internal-auth.ts";
import { log } from "../../../lib/logger.ts";
import { startMemberSubgraph } from "./server.ts";

const env = loadEnv();
if (!env.DATABASE_URL) throw new Error("start:member needs DATABASE_URL (the embedded default runs everything with `npm start`)");
if (!env.HUB_INTERNAL_SECRET) throw new Error("start:member needs HUB_INTERNAL_SECRET (shared with the gateway and the other subgraphs)");

const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.HUB_DB_POOL_SIZE });
const prisma = db.client();
const key = internalKey(env.HUB_INTERNAL_SECRET);
const subgraph = await startMemberSubgraph({ prisma, internalKey: key, port: env.MEMBER_PORT, host: env.HUB_HOST });
const relay = startOutboxRelay({
  schema: "member",
  prisma: () => prisma,
  peers: () => ({ points: env.HUB_POINTS_URL, partner: env.HUB_PARTNER_URL }),
  internalKey: key,
});
log.info("member subgraph listening", { url: subgraph.url });

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await relay.stop();
    await subgraph.close();
    await db.close();
    process.exit(0);
  });
}
