// `npm run start:points`: the points subgraph alone (docker-compose, one process per service), with
// its jobs (hold expiry, points expiry, tier review).
import { runSubgraphMain } from "../../../lib/subgraph-main.ts";
import { startPointsSubgraph } from "./server.ts";
import { startPointsJobs } from "./jobs.ts";

await runSubgraphMain("points", startPointsSubgraph, () => startPointsJobs({}));
