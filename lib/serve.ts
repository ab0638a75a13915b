import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { log } from "./logger.ts";

/**
 * A process's HTTP server through its life (issue 18 §5): it listens first (a port clash is one
 * line naming the port and the setting, never a stack trace), answers health while the service is
 * still being built (`/healthz` 200, `/readyz` 503 naming the phase), serves, and on shutdown drains:
 * readiness turns 503, new requests (on a kept-alive connection or a new one) get a whole, clean 503
 * (`SHUTTING_DOWN`, `Retry-After`, `Connection: close`; lib/serve.test.ts) before anything of them runs, requests in flight finish (bounded by the drain
 * timeout), and only then are connections closed. Node's `server.close()` alone closes idle
 * keep-alive sockets, and `closeAllConnections()` (what the hub did) cuts requests mid-response.
 */

/** After the last request in flight: how long connections opened but not yet sent may still get their clean 503. */
const SETTLE_MS = 500;

export type Phase = "starting" | "ready" | "draining" | "stopped";

/** A port someone else holds: the message names the port, the interface and the setting to change. */
export class PortInUseError extends Error {
  readonly port: number;
  readonly host: string;
  readonly setting: string;
  constructor(port: number, host: string, setting: string) {
    super(`Port ${port} on ${host} is already in use (${setting}): stop what holds it, or set ${setting} to a free port (0 = any free port)`);
    this.name = "PortInUseError";
    this.port = port;
    this.host = host;
    this.setting = setting;
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServeOptions {
  /** For logs: gateway, member, points, partner. */
  name: string;
  port: number;
  host: string;
  /** The setting that chose the port (HUB_PORT, MEMBER_PORT…): named when the port is taken. */
  setting: string;
  /** Until `setHandler`, every path but the health ones answers 503 (starting). */
  handler?: Handler;
  /** What `/readyz` adds while ready (checks of the database, Redis, peers); 503 if `ok` is false. */
  readiness?: () => Promise<{ ok: boolean; [k: string]: unknown }>;
}

export interface Served {
  server: Server;
  port: number;
  phase(): Phase;
  /** What the service is doing while starting (migrating, seeding…), shown by /readyz and /healthz. */
  setStep(step: string): void;
  setHandler(handler: Handler): void;
  setReadiness(check: ServeOptions["readiness"]): void;
  /** Answers /readyz 200 from now on (if the readiness check agrees). */
  ready(): void;
  /** Requests being handled now. */
  inFlight(): number;
  /**
   * Readiness 503 at once; after `delayMs` (load balancers notice) new requests get a clean 503; the
   * in-flight ones finish, at most until `timeoutMs` after the call; then every connection is closed.
   * Resolves to how many requests had to be cut at the timeout (0 when all finished). Idempotent.
   */
  drain(opts: { timeoutMs: number; delayMs?: number }): Promise<{ cut: number }>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-store", ...headers });
  res.end(text);
};

/** Binds the port (rejecting with PortInUseError on a clash); resolves once listening. */
export function listen(server: Server, port: number, host: string, setting: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => reject(e.code === "EADDRINUSE" ? new PortInUseError(port, host, setting) : e);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function serve(opts: ServeOptions): Promise<Served> {
  let phase: Phase = "starting";
  let step = "starting";
  let handler = opts.handler;
  let readiness = opts.readiness;
  const active = new Set<ServerResponse>();
  let refusing = false;
  let idle: (() => void) | undefined;

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return json(res, 200, { status: phase === "stopped" ? "stopping" : "ok", phase, step, service: opts.name });
    if (path === "/readyz") {
      if (phase !== "ready") return json(res, 503, { status: phase === "starting" ? "starting" : "draining", phase, step, service: opts.name }, { "retry-after": "1" });
      if (!readiness) return json(res, 200, { status: "ready", phase, service: opts.name });
      void readiness().then(
        ({ ok, ...checks }) => json(res, ok ? 200 : 503, { status: ok ? "ready" : "unavailable", phase, service: opts.name, ...checks }),
        (e) => {
          log.warn("readiness check failed", { service: opts.name, err: e });
          json(res, 503, { status: "unavailable", phase, service: opts.name });
        },
      );
      return;
    }
    if (phase === "starting" || refusing || !handler) {
      // Nothing of this request has run: a client may retry it elsewhere (or here, shortly).
      // Its own code while stopping (SHUTTING_DOWN: this instance is going, retry on another), so a
      // client or a load balancer's log can tell it from a lost database (SERVICE_UNAVAILABLE).
      const starting = phase === "starting";
      const message = starting ? `The hub is starting (${step}); retry shortly` : "The hub is shutting down; retry (another instance will answer)";
      const code = starting ? "SERVICE_UNAVAILABLE" : "SHUTTING_DOWN";
      return json(res, 503, { errors: [{ message, extensions: { code, retryAfterSeconds: 1 } }] }, { "retry-after": "1", ...(refusing ? { connection: "close" } : {}) });
    }
    active.add(res);
    res.once("close", () => {
      active.delete(res);
      if (active.size === 0) idle?.();
    });
    // Draining already: this response closes its connection (no keep-alive into a closing server).
    if (phase === "draining") res.setHeader("connection", "close");
    handler(req, res);
  });
  // Longer than common load balancers' idle timeout, so they close first (no reset mid-request).
  server.keepAliveTimeout = 65_000;
  const port = await listen(server, opts.port, opts.host, opts.setting);

  let draining: Promise<{ cut: number }> | undefined;
  return {
    server,
    port,
    phase: () => phase,
    setStep(s) {
      step = s;
    },
    setHandler(h) {
      handler = h;
    },
    setReadiness(check) {
      readiness = check;
    },
    ready() {
      if (phase === "starting") phase = "ready";
    },
    inFlight: () => active.size,
    drain({ timeoutMs, delayMs = 0 }) {
      draining ??= (async () => {
        const deadline = Date.now() + timeoutMs;
        phase = "draining";
        for (const res of active) if (!res.headersSent) res.setHeader("connection", "close");
        if (delayMs > 0) await new Promise((r) => setTimeout(r, Math.min(delayMs, timeoutMs)));
        refusing = true;
        if (active.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
            idle = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        const cut = active.size;
        if (cut) log.warn("drain timeout: cutting requests still in flight", { service: opts.name, cut, timeoutMs });
        phase = "stopped";
        // Stop accepting, without http.Server#close's closeIdleConnections(): a connection whose
        // request is still on its way counts as idle, and closing it would reset that client. For a
        // short settle time such requests still get the clean 503 (and Connection: close); then the
        // rest is closed.
        // Still listening during the settle time: a late connection also gets the 503, not a refusal.
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(SETTLE_MS, deadline - Date.now()))));
        const allClosed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
        server.closeAllConnections();
        await allClosed;
        return { cut };
      })();
      return draining;
    },
  };
}
