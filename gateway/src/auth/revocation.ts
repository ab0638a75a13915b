import { log } from "../../../lib/logger.ts";
import { internalGet, Poller } from "../poller.ts";

/** The claims of a verified token that revocation can hit. */
export interface RevocableToken {
  clientId: string | null;
  partnerId: string | null;
  grantId: string | null;
  memberId: string | null;
  /** A person's (admin, partner staff) token: its subject. */
  personId: string | null;
}

/**
 * What the gateway must refuse although the token's signature still verifies (DESIGN.md §3: a
 * revocation takes effect within seconds, not at token expiry). The owners keep the facts — the
 * partner subgraph revoked API clients and inactive partners, the member subgraph revoked grants
 * (signed-out sessions, withdrawn app grants, refresh-token reuse) and disabled members — and the
 * gateway polls their /internal/auth/revocations every `intervalMs` (1 s), replacing its sets
 * wholesale. Each list holds only what was revoked within the last 20 minutes (older tokens have
 * expired) plus the inactive partners, so it stays small.
 */
export class RevocationFeed extends Poller {
  private clients = new Set<string>();
  private partners = new Set<string>();
  private grants = new Set<string>();
  private members = new Set<string>();
  private sessions = new Set<string>();
  private people = new Set<string>();
  /** Date.now() of the last poll that answered from both owners. */
  lastSuccess = 0;
  private readonly key: Uint8Array;
  private readonly partnerOrigin: () => string;
  private readonly memberOrigin: () => string;

  constructor(key: Uint8Array, partnerOrigin: () => string, memberOrigin: () => string, intervalMs = 1000) {
    super(intervalMs);
    this.key = key;
    this.partnerOrigin = partnerOrigin;
    this.memberOrigin = memberOrigin;
  }

  protected async pollOnce() {
    try {
      const feed = (origin: string) => internalGet<Record<string, string[]>>(this.key, origin, "auth/revocations", 2000);
      const [p, m] = await Promise.all([feed(this.partnerOrigin()), feed(this.memberOrigin())]);
      this.clients = new Set(p.clients ?? []);
      this.partners = new Set(p.partners ?? []);
      this.grants = new Set(m.grants ?? []);
      this.members = new Set(m.members ?? []);
      this.sessions = new Set(p.sessions ?? []);
      this.people = new Set(p.people ?? []);
      this.lastSuccess = Date.now();
    } catch (e) {
      log.warn("revocation feed poll failed", { err: e });
    }
  }

  /** Why the token is refused now, or null. */
  reason(t: RevocableToken): string | null {
    if (t.clientId && this.clients.has(t.clientId)) return "The API client was revoked";
    if (t.partnerId && this.partners.has(t.partnerId)) return "The partner is inactive";
    if (t.grantId && this.grants.has(t.grantId)) return "The grant or session was revoked";
    if (t.memberId && this.members.has(t.memberId)) return "The member's sign-in is disabled";
    if (t.grantId && this.sessions.has(t.grantId)) return "The person signed out";
    if (t.personId && this.people.has(t.personId)) return "The person is disabled";
    return null;
  }
}
