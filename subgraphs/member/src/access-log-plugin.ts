import type { ApolloServerPlugin } from "@apollo/server";
import type { MemberContext } from "./context.ts";

/**
 * Writes the request's data-access log batch (one INSERT) before the response leaves, so a
 * disclosure is never answered without its log entry. Wire it into the subgraph's Apollo server
 * and create contexts with `autoFlushAccessLog: false`; without it the recorder flushes itself
 * a few milliseconds after the request's last read (see AccessRecorder).
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
