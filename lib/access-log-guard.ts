import type { GraphQLResponse } from "@apollo/server";

/**
 * Fail closed on audit (issue 14 §6, DESIGN.md §5): a subgraph whose data-access record for this
 * request could not be written answers with no data at all, only ACCESS_LOG_UNAVAILABLE. Called by
 * the member and points subgraphs' plugins in willSendResponse, after the record's write and before
 * the body is serialized, so none of the disclosed values leaves the process. Through the gateway
 * the fields this subgraph would have answered are null with that error; other subgraphs' fields
 * still answer.
 */
export function withholdResponse(response: GraphQLResponse, requestId: string): void {
  const error = {
    message: "The member's data-access log could not record this read, so its data is withheld; retry later",
    extensions: { code: "ACCESS_LOG_UNAVAILABLE", requestId },
  };
  if (response.body.kind === "single") {
    response.body.singleResult = { data: null, errors: [error] };
    return;
  }
  // Incremental delivery is not enabled on the subgraphs; refuse rather than stream data out.
  throw new Error("access log write failed on an incremental response");
}
