import type { ApolloServerPlugin } from "@apollo/server";
import { withholdResponse } from "../../../lib/access-log-guard.ts";
import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type PointsLoaders } from "./loaders.ts";
import { AccessRecorder } from "./access.ts";

export interface PointsContext extends HubContext {
  loaders: PointsLoaders;
  /** This request's partner reads of gated points data: one points.data_accessed per member. */
  access: AccessRecorder;
  /** The request's clock. */
  now: Date;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PointsContext {
  const now = new Date();
  return { ...base, now, loaders: createLoaders(base, now), access: new AccessRecorder(base.principal, base.requestId, base.operationName) };
}

/**
 * Emits the request's data-access events before the response leaves; when they cannot be written
 * the response is replaced by ACCESS_LOG_UNAVAILABLE (fail closed: no gated data without its record).
 */
export const accessEventsPlugin: ApolloServerPlugin<PointsContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
        await contextValue.access?.flush();
        if (contextValue.access?.failed) withholdResponse(response, contextValue.requestId);
      },
    };
  },
};
