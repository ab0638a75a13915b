// `npm run start:partner`: the partner subgraph alone (docker-compose, one process per service),
// with its outbox relay, the sweeper that ends offers at the end of their window and the webhook dispatcher.
import { runSubgraphMain } from "../../../lib/subgraph-main.ts";
import { startOfferSweeper, startWebhooks } from "./jobs.ts";
import { startPartnerSubgraph } from "./server.ts";

await runSubgraphMain("partner", startPartnerSubgraph, () => {
  const jobs = [startOfferSweeper(), startWebhooks()];
  return { stop: async () => void (await Promise.all(jobs.map((j) => j.stop()))) };
});
