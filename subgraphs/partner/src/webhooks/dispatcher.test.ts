import { describe, expect, it } from "vitest";
import { backoffMs, outcome } from "./dispatcher.ts";

const s = { backoffBaseMs: 5_000, backoffMaxMs: 3_600_000, retryWindowSeconds: 3 * 86_400 };
const half = () => 0.5; // no jitter: exactly base·2^(n−1)

describe("webhook dispatcher outcomes (written in batches)", () => {
  it("a 2xx is DELIVERED with its code and latency, no delay, no error", () => {
    expect(outcome({ id: "d1", attempts: 1, firstAttemptAt: new Date(), lastAttemptAt: null }, { status: 204, error: null, latencyMs: 7 }, s)).toEqual({
      id: "d1",
      attempt: 1,
      claimedAt: null,
      status: "DELIVERED",
      delayMs: 0,
      code: 204,
      latencyMs: 7,
      error: null,
    });
  });

  it("a failure inside the retry window is RETRYING after the backoff for its attempt number", () => {
    const now = Date.UTC(2026, 11, 3);
    const o = outcome({ id: "d2", attempts: 3, firstAttemptAt: new Date(now - 60_000), lastAttemptAt: new Date(now - 1000) }, { status: 500, error: "HTTP 500", latencyMs: 12 }, s, now, half);
    expect(o).toEqual({ id: "d2", attempt: 3, claimedAt: new Date(now - 1000).toISOString(), status: "RETRYING", delayMs: 20_000, code: 500, latencyMs: 12, error: "HTTP 500" });
    expect(backoffMs(3, s, half)).toBe(20_000);
  });

  it("a failure whose next attempt would fall past the window is DEAD; a long error is cut to 500 characters", () => {
    const now = Date.UTC(2026, 11, 3);
    const first = new Date(now - 3 * 86_400_000 + 1_000);
    const o = outcome({ id: "d3", attempts: 40, firstAttemptAt: first, lastAttemptAt: null }, { status: null, error: "x".repeat(900), latencyMs: 10_000 }, s, now, half);
    expect(o.status).toBe("DEAD");
    expect(o.error).toHaveLength(500);
    expect(o.code).toBeNull();
  });

  it("a first attempt without firstAttemptAt counts the window from now", () => {
    const now = Date.UTC(2026, 11, 3);
    expect(outcome({ id: "d4", attempts: 1, firstAttemptAt: null, lastAttemptAt: null }, { status: 503, error: "HTTP 503", latencyMs: 1 }, s, now, half).status).toBe("RETRYING");
  });
});
