import { IDENTITY_HEADER, serviceIdentity } from "../../lib/internal-auth.ts";
import { SERVICE_SUB } from "../../lib/principal.ts";

/**
 * What the gateway keeps fresh by polling an owner subgraph (revocations, CORS origins): a timer
 * that does not hold the process open, and `poll()` for tests and start-up, where overlapping calls
 * share one run.
 */
export abstract class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  protected abstract pollOnce(): Promise<void>;

  start(opts: { now?: boolean } = {}): this {
    if (!this.timer) {
      if (opts.now) void this.poll();
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
}

/** POST {} to an owner's `/internal/<route>` as the gateway (SERVICE identity); the JSON answer. */
export async function internalGet<T>(key: Uint8Array, origin: string, route: string, timeoutMs: number): Promise<T> {
  const res = await fetch(`${origin}/internal/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", [IDENTITY_HEADER]: await serviceIdentity(key, SERVICE_SUB) },
    body: "{}",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`${origin}/internal/${route}: HTTP ${res.status}`);
  return (await res.json()) as T;
}
