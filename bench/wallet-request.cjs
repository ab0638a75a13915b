// autocannon request hooks for bench/wallet.ts (run in autocannon's worker thread): each request is
// a random member's prepared request (its own bearer token, or for the direct subgraph its signed
// identity, and its body) from the JSON file named by BENCH_WALLET_FILE. CommonJS: autocannon require()s it.
const { readFileSync } = require("node:fs");

const prepared = JSON.parse(readFileSync(process.env.BENCH_WALLET_FILE, "utf8"));

module.exports = function setupRequest(req) {
  const p = prepared[Math.floor(Math.random() * prepared.length)];
  req.headers = { ...req.headers, ...p.headers };
  req.body = p.body;
  return req;
};
