// `npm run start:partner`: the partner subgraph alone (docker-compose, one process per service),
// with its outbox relay and the sweeper that ends offers at the end of their window.
import { runSubgraphMain } from "../../../lib/subgraph-main.ts";
import { startOfferSweeper } from "./jobs.ts";
import { startPartnerSubgraph } from "./server.ts";

await runSubgraphMain("partner", startPartnerSubgraph, () => startOfferSweeper());
