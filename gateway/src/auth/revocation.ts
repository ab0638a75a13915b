import { IDENTITY_HEADER, serviceIdentity } from "../../../lib/internal-auth.ts";
import { log } from "../../../lib/logger.ts";
import { SERVICE_SUB } from "../../../lib/principal.ts";

/** The claims of a verified token that revocation can hit. */
export interface RevocableToken {
  clientId: string | null;
  partnerId: string | null;
  grantId: string | null;
  memberId: string | null;
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
export class RevocationFeed {
  private clients = new Set<string>();
  private partners = new Set<string>();
  private grants = new Set<string>();
  private members = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Date.now() of the last poll that answered from both owners. */
  lastSuccess = 0;

  constructor(
    private readonly key: Uint8Array,
    private readonly partnerOrigin: () => string,
    private readonly memberOrigin: () => string,
    private readonly intervalMs = 1000,
  ) {}

  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll now (also what the timer runs; overlapping calls share one). */
  poll(): Promise<void> {
    this.running ??= this.pollOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pollOnce() {
    try {
      const [p, m] = await Promise.all([this.fetch(this.partnerOrigin()), this.fetch(this.memberOrigin())]);
      this.clients = new Set(p.clients ?? []);
      this.partners = new Set(p.partners ?? []);
      this.grants = new Set(m.grants ?? []);
      this.members = new Set(m.members ?? []);
      this.lastSuccess = Date.now();
    } catch (e) {
      log.warn("revocation feed poll failed", { err: e });
    }
  }

  private async fetch(origin: string): Promise<Record<string, string[]>> {
    const res = await fetch(`${origin}/internal/auth/revocations`, {
      method: "POST",
      headers: { "content-type": "application/json", [IDENTITY_HEADER]: await serviceIdentity(this.key, SERVICE_SUB) },
      body: "{}",
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`revocation feed ${origin}: HTTP ${res.status}`);
    return (await res.json()) as Record<string, string[]>;
  }

  /** Why the token is refused now, or null. */
  reason(t: RevocableToken): string | null {
    if (t.clientId && this.clients.has(t.clientId)) return "The API client was revoked";
    if (t.partnerId && this.partners.has(t.partnerId)) return "The partner is inactive";
    if (t.grantId && this.grants.has(t.grantId)) return "The grant or session was revoked";
    if (t.memberId && this.members.has(t.memberId)) return "The member's sign-in is disabled";
    return null;
  }
}
