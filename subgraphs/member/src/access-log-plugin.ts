import type { ApolloServerPlugin } from "@apollo/server";
import type { MemberContext } from "./context.ts";

/**
 * Writes the request's data-access log batch (one INSERT) before the response leaves, so a
 * disclosure is never answered without its log entry. server.ts wires it and creates contexts with
 * `autoFlushAccessLog: false`.
 */
export const accessLogPlugin: ApolloServerPlugin<MemberContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue }) {
        await contextValue.accessLog.flush();
      },
    };
  },
};
