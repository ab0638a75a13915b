import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, expect, test } from "vitest";
import { loadEnv } from "./config.ts";
import { createLogger, log, redactPaths, useLogger } from "./logger.ts";
import { startTracing, stopTracing, withSpan } from "./tracing.ts";

/** A pino destination that keeps the lines. */
function capture() {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s), json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRETS = {
  bearer: "eyJhbGciOiJFUzI1NiJ9.secret-access-token.sig",
  clientSecret: "cs_9f8e7d6c5b4a39281706",
  password: "correct-horse-battery-staple",
  deepPassword: "nested-password-value-77",
  email: "alice.liu@example.com",
  phone: "+86 138 0013 8000",
  refresh: "rt_2b3c4d5e6f",
  identity: "hub-identity-jwt-value",
  totp: "JBSWY3DPEHPK3PXP",
  signature: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
};

test("a logged request carrying Authorization, client secrets, passwords, tokens, email and phone shows none of them", () => {
  const out = capture();
  const logger = createLogger({ level: "debug", destination: out });
  logger.info(
    {
      requestId: "req-1",
      headers: { authorization: `Bearer ${SECRETS.bearer}`, "x-hub-identity": SECRETS.identity, cookie: "sid=abc", "content-type": "application/json" },
      body: {
        grant_type: "client_credentials",
        client_id: "partner-app",
        client_secret: SECRETS.clientSecret,
        refresh_token: SECRETS.refresh,
        variables: { input: { email: SECRETS.email, phone: SECRETS.phone, profile: { password: SECRETS.deepPassword } } },
      },
      person: { password: SECRETS.password, totpSecret: SECRETS.totp },
      webhook: { "webhook-signature": SECRETS.signature },
    },
    "request",
  );
  const text = out.lines.join("");
  for (const [name, value] of Object.entries(SECRETS)) expect(text, name).not.toContain(value);
  expect(text).not.toContain("sid=abc");
  const [line] = out.json();
  // What is not secret stays, so the line is still useful.
  expect(line).toMatchObject({ level: "info", msg: "request", requestId: "req-1", headers: { "content-type": "application/json", authorization: "[redacted]" }, body: { client_id: "partner-app" } });
});

test("the legacy API (log.info(msg, fields)) goes through the same redaction, and err keeps its message and stack", () => {
  const out = capture();
  const prev = useLogger(createLogger({ level: "info", destination: out }));
  try {
    log.info("sign-in", { login: SECRETS.email, password: SECRETS.password, requestId: "r2" });
    log.error("failed", { err: new Error("boom"), requestId: "r3" });
    log.debug("not written at info");
  } finally {
    useLogger(prev);
  }
  const lines = out.json();
  expect(lines).toHaveLength(2);
  expect(JSON.stringify(lines)).not.toContain(SECRETS.email);
  expect(JSON.stringify(lines)).not.toContain(SECRETS.password);
  expect(lines[1]).toMatchObject({ level: "error", msg: "failed", err: { message: "boom", type: "Error" } });
  expect(String((lines[1]!.err as { stack: string }).stack)).toContain("logger.test.ts");
});

test("HUB_LOG_REDACT adds keys (any depth) and dotted paths", () => {
  expect(loadEnv({ HUB_LOG_REDACT: "memo, req.body.note" }).HUB_LOG_REDACT).toEqual(["memo", "req.body.note"]);
  expect(() => loadEnv({ HUB_LOG_REDACT: "bad key!" })).toThrow(/HUB_LOG_REDACT/);
  const out = capture();
  const logger = createLogger({ destination: out, redact: ["memo", "req.body.note"] });
  logger.info({ a: { memo: "private memo" }, req: { body: { note: "private note", other: "kept" } } }, "x");
  expect(out.lines[0]).not.toContain("private memo");
  expect(out.lines[0]).not.toContain("private note");
  expect(out.lines[0]).toContain("kept");
  expect(redactPaths(["memo", "req.body.note"])).toEqual(["req.body.note"]);
});

test("the level comes from HUB_LOG_LEVEL or LOG_LEVEL (validated by the config table)", () => {
  expect(loadEnv({ LOG_LEVEL: "warn" }).LOG_LEVEL).toBe("warn");
  expect(() => loadEnv({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
  const out = capture();
  const logger = createLogger({ level: "warn", destination: out });
  logger.info("dropped");
  logger.warn("kept");
  expect(out.json().map((l) => l.msg)).toEqual(["kept"]);
});

afterAll(() => stopTracing());
test("inside a sampled span every line carries the trace and span ids", async () => {
  const out = capture();
  const logger = createLogger({ destination: out });
  logger.info("before tracing");
  await startTracing({ serviceName: "log-test", exporter: new InMemorySpanExporter(), sampleRatio: 1 });
  let traceId = "";
  await withSpan("request", { kind: SpanKind.SERVER }, async (span) => {
    traceId = span!.spanContext().traceId;
    logger.info("inside");
  });
  const [before, inside] = out.json();
  expect(before).not.toHaveProperty("traceId");
  expect(inside).toMatchObject({ msg: "inside", traceId });
});
