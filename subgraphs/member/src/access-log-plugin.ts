import type { ApolloServerPlugin } from "@apollo/server";
import { withholdResponse } from "../../../lib/access-log-guard.ts";
import type { MemberContext } from "./context.ts";

/**
 * Writes the request's data-access log batch (one INSERT) before the response leaves, so a
 * disclosure is never answered without its log entry: when the write fails, the response is
 * replaced by ACCESS_LOG_UNAVAILABLE and none of its data goes out (fail closed, issue 14 §6).
 * server.ts wires it and creates contexts with `autoFlushAccessLog: false`.
 */
export const accessLogPlugin: ApolloServerPlugin<MemberContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
        await contextValue.accessLog.flush();
        if (contextValue.accessLog.failures) withholdResponse(response, contextValue.requestId);
      },
    };
  },
};
