// `npm run start:member`: the member subgraph alone (docker-compose, one process per service).
import { runSubgraphMain } from "../../../lib/subgraph-main.ts";
import { startMemberSubgraph } from "./server.ts";

await runSubgraphMain("member", startMemberSubgraph);
