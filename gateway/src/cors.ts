import type { IncomingMessage, ServerResponse } from "node:http";
import cors from "cors";
import { log } from "../../lib/logger.ts";
import { internalGet, Poller } from "./poller.ts";

/** Request headers a browser app may send (preflight Access-Control-Allow-Headers). */
export const CORS_ALLOWED_HEADERS = ["authorization", "content-type", "coalition-purpose", "idempotency-key", "x-request-id", "apollographql-client-name", "apollographql-client-version"];
/** Response headers a browser app may read. */
export const CORS_EXPOSED_HEADERS = ["x-request-id", "retry-after", "www-authenticate"];
/** How long a browser may cache a preflight answer (seconds). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * CORS for browser apps (issue 17 §4). The partner subgraph owns each API client's allowed origins
 * (`ApiClient.allowedOrigins`); the gateway polls `/internal/clients/origins` every `intervalMs`
 * (default 2 s) and keeps origin → client ids.
 *
 * - Preflight (`OPTIONS`, no token yet): answered by the `cors` package (expressjs/cors), allowing
 *   an origin that some live client lists; any other origin gets no Access-Control-* headers, so
 *   the browser stops there. Never `*`, and no credentials mode: tokens travel in Authorization.
 * - The request itself: the same headers when the origin is listed by some client (so an app can
 *   read even a 401), then, once the token is verified, the token's own client must list the
 *   origin (`allows`), else 403 FORBIDDEN with reason ORIGIN_NOT_ALLOWED and nothing executes:
 *   one partner's page cannot spend another client's token.
 *
 * Poll failures keep the last known lists (an outage of the partner subgraph does not open or
 * close browser access); until the first poll answers, no origin is allowed.
 */
export class CorsPolicy extends Poller {
  private byOrigin = new Map<string, Set<string>>();
  private readonly middleware: ReturnType<typeof cors>;
  private readonly key: Uint8Array;
  private readonly partnerOrigin: () => string;

  constructor(key: Uint8Array, partnerOrigin: () => string, intervalMs = 2000) {
    super(intervalMs);
    this.key = key;
    this.partnerOrigin = partnerOrigin;
    this.middleware = cors({
      origin: (origin, done) => done(null, origin && this.byOrigin.has(origin) ? origin : false),
      methods: ["GET", "POST"],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: CORS_MAX_AGE_SECONDS,
      credentials: false,
      optionsSuccessStatus: 204,
      preflightContinue: false,
    });
  }

  protected async pollOnce() {
    try {
      const body = await internalGet<{ origins?: Record<string, string[]> }>(this.key, this.partnerOrigin(), "clients/origins", 5000);
      this.byOrigin = new Map(Object.entries(body.origins ?? {}).map(([o, ids]) => [o, new Set(ids)]));
    } catch (e) {
      log.warn("CORS origins poll failed; keeping the last lists", { err: e });
    }
  }

  /** May a page of `origin` use tokens of `clientId`? */
  allows(origin: string, clientId: string | null | undefined): boolean {
    return Boolean(clientId && this.byOrigin.get(origin)?.has(clientId));
  }

  /**
   * Adds the CORS response headers (or, for a preflight, answers it). Resolves true when the
   * response was completed (a preflight), false when the request goes on.
   */
  apply(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      this.middleware(req as Parameters<typeof this.middleware>[0], res as Parameters<typeof this.middleware>[1], () => resolve(false));
      if (res.writableEnded) resolve(true);
    });
  }
}
