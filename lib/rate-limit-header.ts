import { z } from "zod";

/**
 * The caller's rate-limit state as the gateway enforced it for this request (issue 18 §4), handed to
 * the subgraphs in one header so `viewer.limits` shows exactly what the gateway counted (the counters
 * live in Redis or the gateway's memory, not in any subgraph's tables). Only the gateway reaches the
 * subgraphs (its signed identity on every request), and it always sets this header itself.
 */
export const RATE_LIMITS_HEADER = "x-hub-rate-limits";

const Status = z.object({
  scope: z.enum(["PARTNER", "API_CLIENT"]),
  kind: z.enum(["REQUESTS", "COST"]),
  limit: z.number().int().min(0),
  remaining: z.number().int().min(0),
  /** Epoch milliseconds when the current window ends (the counter starts again). */
  resetAt: z.number().int().min(0),
  windowSeconds: z.number().int().min(1),
});
export type RateLimitStatus = z.infer<typeof Status>;

export function encodeRateLimits(list: RateLimitStatus[]): string {
  return JSON.stringify(list);
}

/** The statuses in the header; [] when absent or malformed (never an error: it is informational). */
export function parseRateLimits(header: string | string[] | undefined): RateLimitStatus[] {
  if (typeof header !== "string" || header.length > 4096) return [];
  try {
    const parsed = z.array(Status).max(8).safeParse(JSON.parse(header));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}
