// autocannon verifyBody hook for bench/ledger.ts: a GraphQL error counts as a mismatch.
module.exports = function verifyBody(body) {
  return typeof body === "string" && body.includes('"awardPoints":{"id"') && !body.includes('"errors"');
};
