import type { ApolloServerPlugin } from "@apollo/server";
import { withholdResponse } from "./access-log-guard.ts";
import { delegatedReader } from "./authority.ts";
import type { PrismaClient } from "./db.ts";
import { CATALOGUE } from "./events/catalogue.ts";
import { emitMany, event } from "./events/outbox.ts";
import { log } from "./logger.ts";
import type { Principal } from "./principal.ts";
import { type DataCategory, inCategoryOrder, type Purpose } from "./vocabulary.ts";

/**
 * Whose read of member data goes into the member's access log: a partner (its API client, or its
 * token-exchange view of one member) under the request's purpose, or the partner whose app acts for
 * the member (DELEGATED) under the grant's purpose. Null for the member itself and admins.
 */
export function partnerReader(p: Principal): { partnerId: string; purpose: Purpose } | null {
  if (p.role === "PARTNER") return p.partnerId && p.purpose ? { partnerId: p.partnerId, purpose: p.purpose } : null;
  return delegatedReader(p);
}

/**
 * Collects one request's reads of member data by a partner (see `partnerReader`) in a subgraph
 * that does not own the access log, and emits ONE `<schema>.data_accessed` event per member (the
 * union of the categories read) when the request ends (`flush`, called by the server plugin before
 * the response leaves). The member subgraph writes them to its access log. When the events cannot be
 * written, `failed` is set and the error logged; a subgraph that fails closed (points) then withholds
 * the response.
 */
export class AccessEventRecorder {
  private pending = new Map<string, Set<DataCategory>>();
  private firstAt: Date | null = null;
  /** True once an emit failed (the outbox row is the audit record: the data was already read). */
  failed = false;
  private readonly reader: { partnerId: string; purpose: Purpose } | null;

  private readonly requestId: string;
  private readonly operationName: string | null;
  /** The event it emits, e.g. partner.data_accessed (not member: it owns the access log and writes it directly). */
  private readonly type: "points.data_accessed" | "partner.data_accessed";
  private readonly db: () => PrismaClient;

  constructor(principal: Principal, requestId: string, operationName: string | null, type: "points.data_accessed" | "partner.data_accessed", db: () => PrismaClient) {
    this.requestId = requestId;
    this.operationName = operationName;
    this.type = type;
    this.db = db;
    this.reader = partnerReader(principal);
  }

  record(memberId: string, ...categories: DataCategory[]): void {
    if (!this.reader) return;
    this.firstAt ??= new Date();
    let s = this.pending.get(memberId);
    if (!s) this.pending.set(memberId, (s = new Set()));
    for (const c of categories) s.add(c);
  }

  async flush(): Promise<void> {
    if (!this.pending.size || !this.reader) return;
    const batch = this.pending;
    const at = (this.firstAt ?? new Date()).toISOString();
    this.pending = new Map();
    this.firstAt = null;
    const events = [...batch].map(([memberId, cats]) =>
      event(this.type, {
        memberId,
        partnerId: this.reader!.partnerId,
        categories: inCategoryOrder(cats),
        purpose: this.reader!.purpose,
        operationName: this.operationName ? this.operationName.slice(0, 200) : null,
        requestId: this.requestId,
        at,
      }),
    );
    try {
      await this.db().$transaction((tx) => emitMany(tx, CATALOGUE[this.type].producer, events));
    } catch (err) {
      this.failed = true;
      // An audit gap must be loud: the data was already disclosed.
      log.error(`${this.type} emit failed`, { requestId: this.requestId, members: events.length, err });
    }
  }
}

/**
 * Emits a request's data-access events (its context's `access` recorder) before the response
 * leaves. `failClosed`: when they could not be written, the response is replaced by
 * ACCESS_LOG_UNAVAILABLE (no gated data without its record; the points subgraph); otherwise the
 * failure is only logged (the partner subgraph's offer reads).
 */
export function accessEventsPlugin<Ctx extends { access?: AccessEventRecorder; requestId: string }>(opts: { failClosed: boolean }): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, response }) {
          await contextValue.access?.flush();
          if (opts.failClosed && contextValue.access?.failed) withholdResponse(response, contextValue.requestId);
        },
      };
    },
  };
}
