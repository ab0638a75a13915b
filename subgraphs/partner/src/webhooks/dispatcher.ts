import { request } from "undici";
import { loadEnv } from "../../../../lib/config.ts";
import type { PrismaClient } from "../../../../lib/db.ts";
import { log } from "../../../../lib/logger.ts";
import type { WebhookDelivery, WebhookEndpoint } from "../../../../prisma/generated/client/client.ts";
import { sweepExpiredConsents } from "./ingest.ts";
import { buildPayload, payloadContext } from "./payload.ts";
import { decryptSecret, signatureHeader } from "./secrets.ts";
import { guardedAgent, literalHostProblem, type UrlPolicy, urlPolicy } from "./url-guard.ts";
import { onWebhookWork } from "./wake.ts";

/**
 * The webhook dispatcher: sends pending WebhookDelivery rows, at least once, outside any request.
 * - Claims with `FOR UPDATE SKIP LOCKED` (several processes may dispatch; no transaction is held
 *   while sending: a claim is a lease, `lockedUntil`, renewed by nobody, so a crashed sender's rows
 *   are claimed again after it).
 * - In order per member per endpoint: a delivery is not claimed while an earlier one of the same
 *   subject (`subjectKey`) to the same endpoint is pending or retrying (in flight included).
 * - Paced: at most HUB_WEBHOOK_RATE sends started per second per process, each 1/rate after the
 *   previous one: deliveries are background work and leave the cores and the database to requests.
 *   Which go first: CLAIM_SQL (consent withdrawals' chains, then endpoints in turn, then oldest).
 * - Bounded: at most HUB_WEBHOOK_ENDPOINT_CONCURRENCY in flight per endpoint and
 *   HUB_WEBHOOK_CONCURRENCY in all, per process; every request has HUB_WEBHOOK_TIMEOUT_MS (undici
 *   with an AbortSignal). A slow or dead endpoint holds at most its own slots, for at most the
 *   timeout each, then waits out its backoff without any slot: other partners' deliveries proceed.
 * - Failure (non-2xx, timeout, refused address, network): retried with exponential backoff and ±50 %
 *   jitter (HUB_WEBHOOK_BACKOFF_BASE_MS doubling up to HUB_WEBHOOK_BACKOFF_MAX_MS) until
 *   HUB_WEBHOOK_RETRY_WINDOW_SECONDS after the first attempt (3 days), then DEAD (listed, replayable).
 * - Redirects are not followed (a 3xx is a failure): a redirect could point anywhere.
 */

export interface DispatcherSettings {
  timeoutMs: number;
  retryWindowSeconds: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  endpointConcurrency: number;
  concurrency: number;
  /** Poll interval when idle (a commit that enqueues wakes it at once). */
  pollMs: number;
  /** How often the consent-expiry sweep runs. */
  expirySweepMs: number;
  /** Longest wait before finished deliveries' outcomes are written (one statement for all of them). */
  flushMs: number;
  /** Deliveries started per second at most, by this process (0: as fast as the slots allow). */
  rate: number;
}

export function dispatcherSettings(env: NodeJS.ProcessEnv = process.env): DispatcherSettings {
  const e = loadEnv(env);
  return {
    timeoutMs: e.HUB_WEBHOOK_TIMEOUT_MS,
    retryWindowSeconds: e.HUB_WEBHOOK_RETRY_WINDOW_SECONDS,
    backoffBaseMs: e.HUB_WEBHOOK_BACKOFF_BASE_MS,
    backoffMaxMs: e.HUB_WEBHOOK_BACKOFF_MAX_MS,
    endpointConcurrency: e.HUB_WEBHOOK_ENDPOINT_CONCURRENCY,
    concurrency: e.HUB_WEBHOOK_CONCURRENCY,
    pollMs: 500,
    expirySweepMs: 15_000,
    flushMs: 5,
    rate: e.HUB_WEBHOOK_RATE,
  };
}

const MAX_ERROR = 500;

/** The delay before retry number `attempts` (1 = after the first failure): base·2^(n−1), capped, ±50 % jitter. */
export function backoffMs(attempts: number, s: Pick<DispatcherSettings, "backoffBaseMs" | "backoffMaxMs">, random = Math.random): number {
  const exp = Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.max(1, Math.round(exp * (0.5 + random())));
}

/** What one attempt's row becomes: DELIVERED, or RETRYING after `delayMs`, or DEAD past the retry window. */
export interface Outcome {
  id: string;
  /** The claim it answers (the row's attempts and lastAttemptAt as claimed): a row claimed again or replayed since ignores it. */
  attempt: number;
  claimedAt: string | null;
  status: "DELIVERED" | "RETRYING" | "DEAD";
  delayMs: number;
  code: number | null;
  latencyMs: number;
  error: string | null;
}

/** The outcome of an attempt (`d` as claimed: attempts counts this one). */
export function outcome(
  d: Pick<WebhookDelivery, "id" | "attempts" | "firstAttemptAt" | "lastAttemptAt">,
  r: { status: number | null; error: string | null; latencyMs: number },
  s: Pick<DispatcherSettings, "backoffBaseMs" | "backoffMaxMs" | "retryWindowSeconds">,
  now = Date.now(),
  random = Math.random,
): Outcome {
  const claim = { attempt: d.attempts, claimedAt: d.lastAttemptAt ? new Date(d.lastAttemptAt).toISOString() : null };
  if (!r.error) return { id: d.id, ...claim, status: "DELIVERED", delayMs: 0, code: r.status, latencyMs: r.latencyMs, error: null };
  const delay = backoffMs(d.attempts, s, random);
  const first = d.firstAttemptAt ? new Date(d.firstAttemptAt).getTime() : now;
  const dead = now + delay > first + s.retryWindowSeconds * 1000;
  return { id: d.id, ...claim, status: dead ? "DEAD" : "RETRYING", delayMs: delay, code: r.status, latencyMs: r.latencyMs, error: r.error.slice(0, MAX_ERROR) };
}

/**
 * Every finished attempt of a batch in one statement, each only onto the claim it answers (same
 * attempt number and claim time, still leased; the number alone repeats after a replay resets it):
 * a replay meanwhile (attempts 0, no lease) wins, so the delivery is sent again as the partner asked
 * (a success used to overwrite it: the replay was lost), and a late answer to an expired lease that
 * another sender claimed again leaves that claim alone.
 */
const OUTCOMES_SQL = `UPDATE "partner"."WebhookDelivery" d SET
    status = o.status::"partner"."WebhookDeliveryStatus",
    "deliveredAt" = CASE WHEN o.status = 'DELIVERED' THEN now() ELSE d."deliveredAt" END,
    "nextAttemptAt" = CASE WHEN o.status = 'DELIVERED' THEN d."nextAttemptAt" ELSE now() + (o."delayMs" * interval '1 millisecond') END,
    "deadAt" = CASE WHEN o.status = 'DEAD' THEN now() WHEN o.status = 'DELIVERED' THEN d."deadAt" ELSE NULL END,
    "lockedUntil" = NULL, "lastResponseStatus" = o.code, "lastLatencyMs" = o."latencyMs", "lastError" = o.error
  FROM jsonb_to_recordset($1::jsonb) AS o(id uuid, attempt int, "claimedAt" timestamptz, status text, "delayMs" int, code int, "latencyMs" int, error text)
  WHERE d.id = o.id AND d.attempts = o.attempt AND d."lastAttemptAt" IS NOT DISTINCT FROM o."claimedAt" AND d."lockedUntil" IS NOT NULL
    AND d.status IN ('PENDING', 'RETRYING')`;

/** Writes finished attempts (OUTCOMES_SQL); returns how many rows took their outcome. */
export function writeOutcomes(db: Pick<PrismaClient, "$executeRawUnsafe">, outcomes: readonly Outcome[]): Promise<number> {
  return db.$executeRawUnsafe(OUTCOMES_SQL, JSON.stringify(outcomes));
}

export interface WebhookDispatcher {
  stop(): Promise<void>;
  /** Deliveries in flight now (bench, tests). */
  inFlight(): number;
}

const T = `"partner"."WebhookDelivery"`;

/** Event types whose chains jump the queue: the partner must stop using data now (CONSENT_REVOKED is promised within seconds). */
export const URGENT_EVENT_TYPES = ["CONSENT_REVOKED", "CONSENT_EXPIRED"] as const;
/**
 * Due withdrawals a claim reads at most to find the chains that go first: the claim's cost stays
 * bounded however many are open (e.g. an expiry wave on a paused endpoint); past that many, the
 * rest are sent in their turn, still in order per member.
 */
const URGENT_SCAN = 1000;

/**
 * The deliveries a dispatcher may send now, for `$2` free slots (ids, in the order to send): at most
 * `$1` leased at once per endpoint (in flight anywhere, every process counted), and in order per
 * member per endpoint: a delivery is ready only when no earlier delivery of its subject
 * (`subjectKey`) to that endpoint is still open (PENDING or RETRYING, in flight included).
 *
 * Which ready deliveries go first: (1) the head of any chain (endpoint, subject) holding a due
 * consent withdrawal (URGENT_EVENT_TYPES: it cannot overtake its member's earlier events, so they go
 * ahead of everything else with it; the first URGENT_SCAN due withdrawals are looked at); (2) turns
 * across endpoints: every endpoint's first ready delivery before any endpoint's second, and among
 * those the endpoints this process served least recently first (`$4` endpoint ids, `$5` the claim
 * number that last served each; none: first), so a partner's large backlog does not hold the
 * others back while the dispatcher is paced; (3) oldest first (`seq`). Returns each id with its
 * endpoint.
 *
 * It reads each ACTIVE endpoint's queue head, not the whole backlog: the first `$3` open rows by
 * `seq` (two index range scans of (endpointId, status, seq), merged). Within such a prefix a row's
 * earlier open siblings are all present, so "first of its subject in the window" is exactly "no
 * earlier open delivery of its subject", without a probe per row. Only when a full window yields
 * fewer ready rows than the endpoint has free slots (its head blocked: retries waiting out their
 * backoff, or one member's long chain) does the statement look past the window, with the probe, for
 * that endpoint alone; urgent chains are found through (eventType, status, nextAttemptAt). The result is what the
 * reference claim (every open row probed; kept in the claim's property test) selects; the cost no
 * longer grows with the backlog (bench/RESULTS.md: 20.8 ms per claim at a 10,000-delivery backlog,
 * 93 % of PostgreSQL's time, → 5.5 ms).
 */
export const CLAIM_SQL = `WITH inflight AS (
    SELECT "endpointId", count(*)::int AS n FROM ${T} WHERE "lockedUntil" > now() AND status IN ('PENDING', 'RETRYING') GROUP BY 1
  ), urgent AS (
    SELECT DISTINCT u."endpointId", u."subjectKey" FROM (
      SELECT d."endpointId", d."subjectKey" FROM ${T} d
      WHERE d."eventType" IN (${URGENT_EVENT_TYPES.map((t) => `'${t}'`).join(", ")}) AND d.status IN ('PENDING', 'RETRYING') AND d."nextAttemptAt" <= now()
      LIMIT ${URGENT_SCAN}
    ) u JOIN "partner"."WebhookEndpoint" e ON e.id = u."endpointId" AND e.status = 'ACTIVE'
  ), win AS (
    SELECT e.id AS "endpointId", w.id, w.seq, w."subjectKey", w."nextAttemptAt", w."lockedUntil"
    FROM "partner"."WebhookEndpoint" e CROSS JOIN LATERAL (
      SELECT * FROM (
        (SELECT id, seq, "subjectKey", "nextAttemptAt", "lockedUntil" FROM ${T} WHERE "endpointId" = e.id AND status = 'PENDING' ORDER BY seq LIMIT $3)
        UNION ALL
        (SELECT id, seq, "subjectKey", "nextAttemptAt", "lockedUntil" FROM ${T} WHERE "endpointId" = e.id AND status = 'RETRYING' ORDER BY seq LIMIT $3)
      ) u ORDER BY seq LIMIT $3
    ) w
    WHERE e.status = 'ACTIVE'
  ), heads AS (
    SELECT win.*, row_number() OVER (PARTITION BY "endpointId", "subjectKey" ORDER BY seq) AS k FROM win
  ), ready AS (
    SELECT "endpointId", id, seq, "subjectKey" FROM heads WHERE k = 1 AND "nextAttemptAt" <= now() AND ("lockedUntil" IS NULL OR "lockedUntil" <= now())
  ), full_windows AS (
    SELECT "endpointId", max(seq) AS last FROM win GROUP BY 1 HAVING count(*) >= $3
  ), need AS (
    SELECT f."endpointId", f.last, $1 - coalesce(i.n, 0) - coalesce(r.n, 0) AS more
    FROM full_windows f LEFT JOIN inflight i USING ("endpointId") LEFT JOIN (SELECT "endpointId", count(*) AS n FROM ready GROUP BY 1) r USING ("endpointId")
  ), beyond AS (
    SELECT b."endpointId", b.id, b.seq, b."subjectKey" FROM need n CROSS JOIN LATERAL (
      SELECT d."endpointId", d.id, d.seq, d."subjectKey" FROM ${T} d
      WHERE d."endpointId" = n."endpointId" AND d.status IN ('PENDING', 'RETRYING') AND d.seq > n.last
        AND d."nextAttemptAt" <= now() AND (d."lockedUntil" IS NULL OR d."lockedUntil" <= now())
        AND NOT EXISTS (SELECT 1 FROM ${T} p WHERE p."endpointId" = d."endpointId" AND p."subjectKey" = d."subjectKey" AND p.seq < d.seq AND p.status IN ('PENDING', 'RETRYING'))
      ORDER BY d.seq LIMIT n.more
    ) b
    WHERE n.more > 0
  ), urgent_heads AS (
    SELECT h."endpointId", h.id, h.seq, h."subjectKey" FROM urgent u
    JOIN "partner"."WebhookEndpoint" e ON e.id = u."endpointId" AND e.status = 'ACTIVE'
    CROSS JOIN LATERAL (
      SELECT d."endpointId", d.id, d.seq, d."subjectKey", d."nextAttemptAt", d."lockedUntil" FROM ${T} d
      WHERE d."endpointId" = u."endpointId" AND d."subjectKey" = u."subjectKey" AND d.status IN ('PENDING', 'RETRYING')
      ORDER BY d.seq LIMIT 1
    ) h
    WHERE h."nextAttemptAt" <= now() AND (h."lockedUntil" IS NULL OR h."lockedUntil" <= now())
  ), candidates AS (
    SELECT * FROM ready UNION SELECT * FROM beyond UNION SELECT * FROM urgent_heads
  ), ranked AS (
    SELECT c.id, c."endpointId", c.seq, u."endpointId" IS NOT NULL AS urgent, coalesce(i.n, 0) AS busy, sv.turn,
      row_number() OVER (PARTITION BY c."endpointId" ORDER BY u."endpointId" IS NOT NULL DESC, c.seq) AS k
    FROM candidates c LEFT JOIN urgent u USING ("endpointId", "subjectKey") LEFT JOIN inflight i USING ("endpointId")
      LEFT JOIN unnest($4::uuid[], $5::bigint[]) AS sv("endpointId", turn) USING ("endpointId")
  )
  SELECT id::text, "endpointId"::text FROM ranked WHERE k + busy <= $1 ORDER BY urgent DESC, k, turn NULLS FIRST, seq LIMIT $2`;

export function startWebhookDispatcher(opts: { prisma: () => PrismaClient; settings?: Partial<DispatcherSettings>; policy?: UrlPolicy }): WebhookDispatcher {
  const s: DispatcherSettings = { ...dispatcherSettings(), ...opts.settings };
  const policy = opts.policy ?? urlPolicy();
  const agent = guardedAgent(policy, { connectTimeoutMs: s.timeoutMs });
  const db = () => opts.prisma();
  let stopped = false;
  let inflight = 0;
  const running = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let lastSweep = 0;

  // Which claim last gave each endpoint a delivery (CLAIM_SQL's $4/$5): endpoints served least
  // recently go first, so turns go round across claims, not only within one.
  const served = new Map<string, number>();
  let claims = 0;

  /** Ready deliveries for the free slots (CLAIM_SQL's rules and order), claimed (leased), in that order. */
  async function claim(free: number): Promise<WebhookDelivery[]> {
    const turn = ++claims;
    const candidates = await db().$queryRawUnsafe<{ id: string; endpointId: string }[]>(CLAIM_SQL, s.endpointConcurrency, free, Math.max(8, s.endpointConcurrency * 2), [...served.keys()], [...served.values()]);
    if (!candidates.length) return [];
    for (const c of candidates) served.set(c.endpointId, turn);
    // Forget endpoints not served for a long while (deleted or quiet): they rank as never served.
    if (served.size > 10_000) for (const [id, at] of served) if (at < turn - 10_000) served.delete(id);
    const rank = new Map(candidates.map((c, i) => [c.id, i]));
    const rows = await db().$queryRawUnsafe<WebhookDelivery[]>(
      `UPDATE ${T} SET "lockedUntil" = now() + ($2::int * interval '1 millisecond'), attempts = attempts + 1, "lastAttemptAt" = now(), "firstAttemptAt" = COALESCE("firstAttemptAt", now())
       WHERE id IN (SELECT id FROM ${T} WHERE id = ANY($1::uuid[]) AND status IN ('PENDING', 'RETRYING') AND ("lockedUntil" IS NULL OR "lockedUntil" <= now()) FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      candidates.map((c) => c.id),
      s.timeoutMs + 30_000,
    );
    // RETURNING has no order: sent in the claim's (a withdrawal first, then the turns).
    return rows.sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
  }

  /**
   * Outcomes are written in batches: one UPDATE for every delivery that finished within
   * `flushMs` of the first (or as soon as half the process's slots have finished), not one
   * statement per delivery. A delivery's slot is freed only after its outcome is written, so the
   * per-endpoint bound and the order per member hold as before (the row stays leased until then).
   */
  let outcomes: { o: Outcome; done: () => void; failed: (e: unknown) => void }[] = [];
  // Paced, a batch's sends finish one by one, 1/rate apart: outcomes wait up to 25 ms to share a
  // statement (~4 at 150/s; at 5 ms each statement carried one). Not the whole tenth of a
  // second: a slot, and a member's next delivery, wait for the outcome (review: 100 ms halved what
  // one endpoint could get).
  const flushMs = s.rate > 0 ? Math.max(s.flushMs, 25) : s.flushMs;
  let flushTimer: NodeJS.Timeout | undefined;
  function flush(): void {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const batch = outcomes;
    outcomes = [];
    if (!batch.length) return;
    writeOutcomes(
      db(),
      batch.map((b) => b.o),
    ).then(
      () => {
        for (const b of batch) b.done();
      },
      (err) => {
        for (const b of batch) b.failed(err);
      },
    );
  }
  function record(o: Outcome): Promise<void> {
    return new Promise<void>((done, failed) => {
      outcomes.push({ o, done, failed });
      if (outcomes.length >= Math.max(1, Math.floor(s.concurrency / 2))) flush();
      else flushTimer ??= setTimeout(flush, flushMs);
    });
  }

  async function send(d: WebhookDelivery, endpoint: WebhookEndpoint, body: string): Promise<void> {
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const literal = literalHostProblem(endpoint.url, policy);
      if (literal) throw new Error(literal);
      const now = new Date();
      const secrets = [decryptSecret(endpoint.secretEncrypted)];
      if (endpoint.previousSecretEncrypted && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) secrets.push(decryptSecret(endpoint.previousSecretEncrypted));
      const timestamp = Math.floor(now.getTime() / 1000);
      const res = await request(endpoint.url, {
        method: "POST",
        dispatcher: agent,
        signal: AbortSignal.timeout(s.timeoutMs),
        headersTimeout: s.timeoutMs,
        bodyTimeout: s.timeoutMs,
        headers: {
          "content-type": "application/json",
          "user-agent": "CoalitionHub-Webhooks/1",
          "webhook-id": d.eventId,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signatureHeader(secrets, d.eventId, timestamp, body),
        },
        body,
      });
      status = res.statusCode;
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error = e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
    }
    const latency = Math.round(performance.now() - started);
    const o = outcome(d, { status, error, latencyMs: latency }, s);
    await record(o);
    if (o.status === "DEAD") log.warn("webhook delivery dead-lettered after its retry window", { deliveryId: d.id, endpointId: d.endpointId, attempts: d.attempts, err: error });
  }

  // Pacing (s.rate deliveries per second at most; 0: none): a token bucket holding a tenth of a
  // second's worth. A pass claims only once that batch's worth has accumulated (claims stay batched:
  // a wake, i.e. every commit that enqueues a delivery, claims nothing in between), and the batch's
  // sends are spread over that tenth, one every 1/rate s. Pacing sends alone, with claims whenever
  // slots freed, claimed once per wake and cost PostgreSQL 0.3 → 0.9 ms per delivery (bench:webhooks).
  // The price: while paced, one endpoint gets at most its concurrency per claim (40/s at the
  // defaults) and one member's chain at one endpoint one delivery per claim (10/s).
  const burst = s.rate > 0 ? Math.max(1, Math.min(s.concurrency, Math.ceil(s.rate / 10))) : Number.POSITIVE_INFINITY;
  let tokens = burst;
  let refilledAt = performance.now();
  let paceTimer: NodeJS.Timeout | undefined;
  function tokensNow(): number {
    if (!(s.rate > 0)) return Number.POSITIVE_INFINITY;
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * s.rate);
    refilledAt = now;
    return tokens;
  }
  const waiting = new Set<() => void>();
  function wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const go = () => {
        clearTimeout(t);
        waiting.delete(go);
        resolve();
      };
      const t = setTimeout(go, ms);
      waiting.add(go);
    });
  }

  async function pass(): Promise<number> {
    const slots = s.concurrency - inflight;
    if (slots <= 0) return 0;
    const want = Math.min(slots, burst);
    const have = tokensNow();
    if (have < want) {
      if (!paceTimer && !stopped) {
        paceTimer = setTimeout(
          () => {
            paceTimer = undefined;
            kick();
          },
          Math.ceil(((want - have) / s.rate) * 1000),
        );
        paceTimer.unref?.();
      }
      return 0;
    }
    const rows = await claim(Math.min(slots, Math.floor(have)));
    if (!rows.length) return 0;
    if (s.rate > 0) tokens -= rows.length;
    const endpoints = new Map((await db().webhookEndpoint.findMany({ where: { id: { in: [...new Set(rows.map((r) => r.endpointId))] } } })).map((e) => [e.id, e]));
    const contexts = await payloadContext(db(), rows);
    const gapMs = s.rate > 0 ? 1000 / s.rate : 0;
    let i = 0;
    for (const d of rows) {
      const endpoint = endpoints.get(d.endpointId);
      if (!endpoint) continue; // deleted meanwhile (its deliveries went with it)
      inflight++;
      const body = buildPayload(d, endpoint, contexts.get(d.partnerId));
      const delay = gapMs * i++;
      // After stop() a waiting delivery goes at once (its lease is held; stop waits for it).
      const p = (delay >= 1 ? wait(delay).then(() => send(d, endpoint, body)) : send(d, endpoint, body))
        .catch((err) => log.warn("webhook delivery bookkeeping failed", { deliveryId: d.id, err }))
        .finally(() => {
          inflight--;
          running.delete(p);
          // Claim again once half the slots are free (or on the next poll): a claim per finished
          // delivery made the claim query (over the ready backlog) the cost of every delivery.
          if (inflight <= s.concurrency / 2) kick();
        });
      running.add(p);
    }
    return rows.length;
  }

  let passing: Promise<void> | null = null;
  let again = false;
  function kick(): void {
    if (stopped) return;
    if (passing) {
      again = true;
      return;
    }
    passing = (async () => {
      do {
        again = false;
        try {
          if (Date.now() - lastSweep >= s.expirySweepMs) {
            lastSweep = Date.now();
            await db().$transaction((tx) => sweepExpiredConsents(tx), { maxWait: 10_000, timeout: 20_000 });
          }
          while (!stopped && (await pass()) > 0);
        } catch (err) {
          if (!stopped) log.warn("webhook dispatcher pass failed", { err });
        }
      } while (again && !stopped);
    })().finally(() => {
      passing = null;
    });
  }

  const unregister = onWebhookWork(kick);
  const tick = () => {
    if (stopped) return;
    kick();
    timer = setTimeout(tick, s.pollMs);
    timer.unref?.();
  };
  tick();

  return {
    inFlight: () => inflight,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(paceTimer);
      for (const go of [...waiting]) go();
      unregister();
      if (passing) await passing;
      const all = Promise.allSettled([...running]);
      // Outcomes still waiting for their batch are written now, not after flushMs.
      flush();
      await all;
      flush();
      await agent.close().catch(() => undefined);
    },
  };
}
