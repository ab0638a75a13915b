import type { HubContext } from "../../../lib/pothos.ts";
import type { MemberSettings } from "./config.ts";
import { createLoaders, type MemberLoaders } from "./loaders.ts";
import { AccessRecorder } from "./services/access-log.ts";

export interface MemberContext extends HubContext {
  loaders: MemberLoaders;
  /** This request's consent-scoped reads, written to the data-access log in one INSERT. */
  accessLog: AccessRecorder;
  /** The request's clock: every consent and lifecycle decision of one request uses the same instant. */
  now: Date;
  settings: MemberSettings;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext, settings: MemberSettings, opts: { autoFlushAccessLog?: boolean } = {}): MemberContext {
  const now = new Date();
  return {
    ...base,
    now,
    settings,
    loaders: createLoaders(base, now),
    accessLog: new AccessRecorder(base.principal, base.requestId, base.operationName, opts.autoFlushAccessLog ?? true),
  };
}
