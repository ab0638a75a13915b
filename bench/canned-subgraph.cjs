// A subgraph that costs nothing, for bench/ceiling.ts (bench only): answers every POST with one
// fixed awardPoints result and /healthz with 200, so a gateway in front of it is measured alone.
// Prints its port on stdout ("port <n>"); CommonJS so node runs it without a loader.
const http = require("node:http");

const body = Buffer.from(JSON.stringify({ data: { awardPoints: { id: "00000000-0000-4000-8000-000000000000", points: 12, balanceAfter: 1200 } } }));
let served = 0;
const server = http.createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end('{"status":"ok"}');
  }
  req.resume();
  req.on("end", () => {
    served++;
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
process.on("SIGTERM", () => {
  console.error(`canned subgraph served ${served} requests`);
  process.exit(0);
});
