// The bench's webhook receiver (bench/webhooks.ts forks it): a process of its own, as a partner's
// server is, answering 204 at once. Over IPC: { ready: url } once listening; "count" → { count:
// { received, firstAt, lastAt } } (performance.timeOrigin + now(), so comparable across processes);
// "mark" → the next arrival counts as the first; "stop" → exits.
const { createServer } = require("node:http");

let received = 0;
let firstAt = 0;
let lastAt = 0;
const now = () => performance.timeOrigin + performance.now();
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    received++;
    lastAt = now();
    if (!firstAt) firstAt = lastAt;
    res.statusCode = 204;
    res.end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => process.send({ ready: `http://127.0.0.1:${server.address().port}` }));
process.on("message", (m) => {
  if (m === "count") process.send({ count: { received, firstAt, lastAt } });
  if (m === "mark") firstAt = 0; // the next arrival is a new run's first
  if (m === "stop") {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
