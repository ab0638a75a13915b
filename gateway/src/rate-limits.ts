import { Redis } from "ioredis";
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { type HubEnv, loadEnv } from "../../lib/config.ts";
import { log } from "../../lib/logger.ts";
import type { Principal } from "../../lib/principal.ts";
import type { RateLimitStatus } from "../../lib/rate-limit-header.ts";
import { internalGet, Poller } from "./poller.ts";

/**
 * Per-partner and per-API-client limits (issue 18 §4), enforced at the gateway before planning:
 * requests per minute (checked when the token is verified, before the body is read) and estimated
 * cost per minute (checked after validation, with the estimate of gateway/src/cost.ts, before any
 * plan or subgraph fetch). Counted by rate-limiter-flexible: RateLimiterRedis when REDIS_URL is
 * set, so every gateway replica shares one counter per key; RateLimiterMemory otherwise (the
 * embedded hub has one gateway).
 *
 * Who is limited: callers acting for a partner (its API clients, its apps acting for members, its
 * staff). The partner counter takes every request of the partner; the client counter those of one
 * client or app. Admins and members' own sessions are not limited here (their clients are the
 * hub's own, shared by everybody).
 *
 * Redis down: the RateLimiterRedis is given a RateLimiterMemory as its insurance limiter and is
 * told not to queue commands while disconnected, so a request never waits for Redis: the gateway
 * counts in its own memory (per replica: the effective limit is up to N × the quota with N
 * replicas) and logs a warning once per outage, and Redis takes over again when it is back. Fail
 * open to per-replica limits rather than refusing every partner's traffic because a cache is down.
 *
 * Windows: fixed 60-second windows per key (rate-limiter-flexible's model; it has no token-bucket
 * class). What the caller sees (`viewer.limits`, `Retry-After`) is exactly that window's state.
 */

export const WINDOW_SECONDS = 60;

export interface QuotaOverride {
  requestsPerMinute: number | null;
  costPerMinute: number | null;
}

/** Rejection: what to tell the client. */
export interface RateLimited {
  scope: RateLimitStatus["scope"];
  kind: RateLimitStatus["kind"];
  limit: number;
  retryAfterSeconds: number;
}

type Key = { scope: RateLimitStatus["scope"]; id: string };

/** The counters a principal is subject to (none for admins and members' own sessions). */
export function limitedKeys(p: Pick<Principal, "partnerId" | "clientId" | "authority">): Key[] {
  if (!p.partnerId) return [];
  const keys: Key[] = [{ scope: "PARTNER", id: p.partnerId }];
  // The console (hub-console) is the hub's own client, shared by every partner's staff: only the partner counts.
  if (p.clientId && p.authority !== "PERSON") keys.push({ scope: "API_CLIENT", id: p.clientId });
  return keys;
}

export interface RateLimitsOptions {
  key: Uint8Array;
  partnerOrigin: () => string;
  env?: HubEnv;
  /** Tests: another Redis URL / prefix than the configuration's. */
  redisUrl?: string;
  prefix?: string;
  pollMs?: number;
}

export class RateLimits extends Poller {
  private readonly env: HubEnv;
  private readonly prefix: string;
  private readonly redis: Redis | undefined;
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private partners = new Map<string, QuotaOverride>();
  private clients = new Map<string, QuotaOverride>();
  private redisDown = false;
  private readonly key: Uint8Array;
  private readonly partnerOrigin: () => string;

  constructor(opts: RateLimitsOptions) {
    const env = opts.env ?? loadEnv();
    super(opts.pollMs ?? env.HUB_RATE_LIMITS_POLL_MS);
    this.env = env;
    this.key = opts.key;
    this.partnerOrigin = opts.partnerOrigin;
    this.prefix = opts.prefix ?? env.HUB_RATE_LIMIT_PREFIX;
    const url = opts.redisUrl ?? env.REDIS_URL;
    if (url) {
      // No offline queue: while disconnected a command fails at once and the insurance limiter counts.
      this.redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: (n) => Math.min(n * 200, 2000) });
      this.redis.on("error", (e) => {
        if (!this.redisDown) log.warn("Redis for rate limits unreachable: counting in this gateway's memory until it is back (limits are per replica meanwhile)", { err: e });
        this.redisDown = true;
      });
      this.redis.on("ready", () => {
        if (this.redisDown) log.info("Redis for rate limits is back: limits are shared across replicas again");
        this.redisDown = false;
      });
    }
  }

  /**
   * Resolves once Redis is connected, or after `timeoutMs` (then the memory insurance counts until
   * it is): a gateway that starts before it reached Redis would otherwise count its first requests
   * alone. Without REDIS_URL, at once.
   */
  async connected(timeoutMs: number): Promise<boolean> {
    const redis = this.redis;
    if (!redis) return true;
    if (redis.status === "ready") return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        redis.off("ready", onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      redis.once("ready", onReady);
    });
  }

  /** What /readyz reports about Redis (the gateway stays ready without it: it fails open to memory). */
  redisStatus(): string {
    if (!this.redis) return "not configured (limits in memory)";
    return this.redis.status === "ready" ? "ok" : `unavailable (${this.redis.status}): limits counted in memory per replica`;
  }

  protected async pollOnce() {
    try {
      const body = await internalGet<{ partners?: Record<string, QuotaOverride>; clients?: Record<string, QuotaOverride> }>(this.key, this.partnerOrigin(), "limits", 5000);
      this.partners = new Map(Object.entries(body.partners ?? {}));
      this.clients = new Map(Object.entries(body.clients ?? {}));
    } catch (e) {
      log.warn("rate-limit settings poll failed; keeping the last ones", { err: e });
    }
  }

  /** The quota of a key and kind: the admin's, else the configured default. */
  limitOf(k: Key, kind: RateLimitStatus["kind"]): number {
    const o = (k.scope === "PARTNER" ? this.partners : this.clients).get(k.id);
    if (kind === "REQUESTS") return o?.requestsPerMinute ?? (k.scope === "PARTNER" ? this.env.HUB_RATE_PARTNER_REQUESTS_PER_MINUTE : this.env.HUB_RATE_CLIENT_REQUESTS_PER_MINUTE);
    return o?.costPerMinute ?? (k.scope === "PARTNER" ? this.env.HUB_RATE_PARTNER_COST_PER_MINUTE : this.env.HUB_RATE_CLIENT_COST_PER_MINUTE);
  }

  /** One limiter per (scope, kind, quota): a changed quota starts a fresh window under its own keys. */
  private limiter(k: Key, kind: RateLimitStatus["kind"], points: number): RateLimiterAbstract {
    const keyPrefix = `${this.prefix}:${k.scope}:${kind}:${points}`;
    let l = this.limiters.get(keyPrefix);
    if (!l) {
      const memory = new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS });
      l = this.redis ? new RateLimiterRedis({ storeClient: this.redis, keyPrefix, points, duration: WINDOW_SECONDS, rejectIfRedisNotReady: true, insuranceLimiter: memory }) : memory;
      this.limiters.set(keyPrefix, l);
    }
    return l;
  }

  /**
   * Takes `amount` from each of the principal's counters of this kind. Resolves to the statuses
   * (for `viewer.limits`) or to the first counter that refused. Every counter is charged (a refused
   * request still counts against the others: it was made).
   */
  async consume(
    p: Pick<Principal, "partnerId" | "clientId" | "authority">,
    kind: RateLimitStatus["kind"],
    amount: number,
  ): Promise<{ ok: true; statuses: RateLimitStatus[] } | { ok: false; limited: RateLimited; statuses: RateLimitStatus[] }> {
    const keys = limitedKeys(p);
    if (!keys.length) return { ok: true, statuses: [] };
    const outcomes = await Promise.all(
      keys.map(async (k) => {
        const limit = this.limitOf(k, kind);
        const n = Math.max(0, Math.ceil(amount));
        try {
          const res = await this.limiter(k, kind, limit).consume(k.id, n);
          return { k, limit, res, refused: false };
        } catch (e) {
          if (e instanceof RateLimiterRes) return { k, limit, res: e, refused: true };
          // Neither Redis nor the insurance limiter answered: fail open, said in the log.
          log.warn("rate limiter failed; request let through", { scope: k.scope, kind, err: e });
          return { k, limit, res: null, refused: false };
        }
      }),
    );
    const now = Date.now();
    const statuses: RateLimitStatus[] = outcomes.map(({ k, limit, res }) => ({
      scope: k.scope,
      kind,
      limit,
      remaining: res ? Math.max(0, res.remainingPoints) : limit,
      resetAt: now + (res?.msBeforeNext ?? WINDOW_SECONDS * 1000),
      windowSeconds: WINDOW_SECONDS,
    }));
    const refused = outcomes.find((o) => o.refused);
    if (!refused) return { ok: true, statuses };
    return {
      ok: false,
      statuses,
      limited: { scope: refused.k.scope, kind, limit: refused.limit, retryAfterSeconds: Math.max(1, Math.ceil((refused.res?.msBeforeNext ?? 1000) / 1000)) },
    };
  }

  override close() {
    super.close();
    this.redis?.disconnect();
  }
}

/** The client-facing message of a refusal. */
export function rateLimitedMessage(l: RateLimited, amount?: number): string {
  const whose = l.scope === "PARTNER" ? "the partner's" : "this API client's";
  const what = l.kind === "REQUESTS" ? `${l.limit} requests` : `an estimated cost of ${l.limit}`;
  const single = l.kind === "COST" && amount !== undefined && amount > l.limit ? ` (this operation alone is estimated at ${amount}: ask for smaller pages)` : "";
  return `Rate limit reached: ${whose} limit is ${what} per ${WINDOW_SECONDS} seconds${single}; retry after ${l.retryAfterSeconds} s`;
}
