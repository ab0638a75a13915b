// `npm run start:partner`: the partner subgraph alone (docker-compose, one process per service).
import { runSubgraphMain } from "../../../lib/subgraph-main.ts";
import { startPartnerSubgraph } from "./server.ts";

await runSubgraphMain("partner", startPartnerSubgraph);
