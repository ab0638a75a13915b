import { emitMany, event } from "../../../lib/events/outbox.ts";
import { log } from "../../../lib/logger.ts";
import { delegatedReader } from "../../../lib/authority.ts";
import type { Principal, Purpose } from "../../../lib/principal.ts";
import { prisma } from "./db.ts";

export type DataCategory = "PROFILE_BASIC" | "PROFILE_CONTACT" | "TIER" | "POINTS_BALANCE" | "ACTIVITY" | "SEGMENTS";
const ORDER: DataCategory[] = ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"];

/**
 * Collects one request's consent-gated reads by a PARTNER (or a partner's app acting for the member
 * under the member's grant) and emits ONE `points.data_accessed`
 * event per member (the union of categories read) when the request ends (`flush`, called by the
 * server plugin before the response leaves). The member subgraph writes them to its access log.
 * The outbox row is the durable audit record (the relay delivers it at least once); when it cannot
 * be written, the plugin withholds the response (fail closed).
 */
export class AccessRecorder {
  private pending = new Map<string, Set<DataCategory>>();
  private firstAt: Date | null = null;
  /** True once an emit failed: the server withholds the response (accessEventsPlugin). */
  failed = false;
  /** Whose read this is: the partner (its API client or token-exchange view), or the partner whose app acts for the member (DELEGATED). */
  private readonly reader: { partnerId: string; purpose: Purpose } | null;
  constructor(
    principal: Principal,
    private readonly requestId: string,
    private readonly operationName: string | null,
  ) {
    this.reader =
      principal.role === "PARTNER" && principal.partnerId && principal.purpose ? { partnerId: principal.partnerId, purpose: principal.purpose } : delegatedReader(principal);
  }

  record(memberId: string, category: DataCategory): void {
    if (!this.reader) return;
    this.firstAt ??= new Date();
    let s = this.pending.get(memberId);
    if (!s) this.pending.set(memberId, (s = new Set()));
    s.add(category);
  }

  async flush(): Promise<void> {
    if (!this.pending.size) return;
    const batch = this.pending;
    const at = (this.firstAt ?? new Date()).toISOString();
    this.pending = new Map();
    this.firstAt = null;
    const events = [...batch].map(([memberId, cats]) =>
      event("points.data_accessed", {
        memberId,
        partnerId: this.reader!.partnerId,
        categories: ORDER.filter((c) => cats.has(c)),
        purpose: this.reader!.purpose,
        operationName: this.operationName ? this.operationName.slice(0, 200) : null,
        requestId: this.requestId,
        at,
      }),
    );
    try {
      await prisma().$transaction((tx) => emitMany(tx, "points", events));
    } catch (err) {
      this.failed = true;
      log.error("points.data_accessed emit failed: response withheld", { requestId: this.requestId, members: events.length, err });
    }
  }
}
