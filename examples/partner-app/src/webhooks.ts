import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** A delivery as the hub sends it (Standard Webhooks; payload shape: README "Webhooks"). */
export interface Delivery {
  id: string;
  type: string;
  occurredAt: string;
  partnerId: string;
  data: Record<string, unknown>;
}

/**
 * A local receiver: verifies every request's signature with the `standardwebhooks` package (headers
 * webhook-id, webhook-timestamp, webhook-signature; secret whsec_…), answers 401 to anything that
 * does not verify, and keeps each event once (deliveries are at least once: deduplicated by
 * webhook-id, which is the event id).
 */
export class WebhookReceiver {
  readonly events = new Map<string, Delivery>();
  rejected = 0;
  duplicates = 0;
  private server: Server | null = null;
  private verifier: Webhook | null = null;
  private waiters: (() => void)[] = [];

  /** Starts listening (port 0: any free port) before the secret is known (the hub shows it when the endpoint is created). */
  async listen(host = "127.0.0.1"): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]));
        let event: Delivery;
        try {
          if (!this.verifier) throw new Error("no secret yet");
          event = this.verifier.verify(body, headers) as Delivery;
        } catch {
          this.rejected++;
          res.writeHead(401).end();
          return;
        }
        const id = headers["webhook-id"]!;
        if (this.events.has(id)) this.duplicates++;
        else this.events.set(id, event);
        res.writeHead(204).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    return `http://${host}:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** The endpoint's signing secret (whsec_…), from createWebhookEndpoint. */
  useSecret(secret: string): void {
    this.verifier = new Webhook(secret);
  }

  /** Waits until `done(events)` holds or `timeoutMs` passes; returns whether it held. */
  async waitFor(done: (events: Delivery[]) => boolean, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!done([...this.events.values()])) {
      const left = until - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
