// autocannon request hooks for bench/ledger.ts (run in autocannon's worker thread, so the load
// generator does not share the event loop of the hub under test). CommonJS: autocannon require()s it.
const { randomUUID } = require("node:crypto");

const members = (process.env.BENCH_MEMBER_IDS || "").split(",").filter(Boolean);
const query = "mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id points } }";
const prefix = randomUUID();
let n = 0;

module.exports = function setupRequest(req) {
  const i = n++;
  req.body = JSON.stringify({
    query,
    variables: { input: { memberId: members[(i * 7) % members.length], purchaseAmount: "12.50", idempotencyKey: `ac-${prefix}-${i}` } },
  });
  return req;
};
