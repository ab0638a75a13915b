// autocannon verifyBody hook for bench/wallet.ts: an answer without data or with any GraphQL error
// counts as a mismatch (a failed wallet query).
module.exports = function verifyBody(body) {
  return typeof body === "string" && body.includes('"wallet":{"balance"') && !body.includes('"errors"');
};
