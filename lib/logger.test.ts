import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
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

/** An object nested `depth` levels deep: { k: { k: ... "cut" } }. */
const nest = (depth: number): unknown => (depth === 0 ? "cut" : { k: nest(depth - 1) });

test("redaction copies only what it changes: the caller's object keeps its values, keys match without case, arrays and depth too", () => {
  const out = capture();
  const logger = createLogger({ destination: out });
  const fields = { requestId: "r1", Authorization: `Bearer ${SECRETS.bearer}`, list: [{ EMAIL: SECRETS.email }, { ok: 1 }], deep: nest(14) };
  logger.info(fields, "x");
  const [line] = out.json();
  expect(line).toMatchObject({ requestId: "r1", Authorization: "[redacted]", list: [{ EMAIL: "[redacted]" }, { ok: 1 }] });
  expect(out.lines[0]).not.toContain(SECRETS.email);
  expect(out.lines[0]).toContain("[too deep]");
  // The caller's objects are not rewritten in place.
  expect(fields.Authorization).toContain(SECRETS.bearer);
  expect(fields.list[0]).toEqual({ EMAIL: SECRETS.email });
  // A line with nothing to redact comes out whole.
  logger.info({ requestId: "r2", nested: { route: "/graphql", codes: ["A", "B"] } }, "clean");
  expect(out.json()[1]).toMatchObject({ requestId: "r2", nested: { route: "/graphql", codes: ["A", "B"] } });
});

test("lines outside a trace share no state: a line's fields never reach the next line", () => {
  const out = capture();
  const logger = createLogger({ destination: out });
  logger.info({ first: 1 }, "a");
  logger.info({ second: 2 }, "b");
  logger.info("c");
  const [a, b, c] = out.json();
  expect(a).toMatchObject({ first: 1 });
  expect(b).not.toHaveProperty("first");
  expect(c).not.toHaveProperty("first");
  expect(c).not.toHaveProperty("second");
});

// The process's destination is buffered (lib/logger.ts logDestination): one write per 4 KB of
// lines. Each case runs the real logger in a child process writing to stderr (a pipe).
describe("buffered log writes lose no line", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "hub-logger-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, "child.mjs");
  writeFileSync(
    script,
    `const { log, flushLogs, createLogger, logDestination, useLogger } = await import(process.env.HUB_TEST_LOGGER);
const [mode, n] = [process.argv[2], Number(process.argv[3])];
// "hold": a flush interval of a minute, so only the buffer size or an error line writes.
if (mode === "hold") useLogger(createLogger({ destination: logDestination(2, { flushMs: 60_000 }) }));
for (let i = 0; i < n; i++) log.info("line", { i, pad: "x".repeat(100) });
if (mode === "exit") process.exit(0);
if (mode === "throw") throw new Error("crash");
if (mode === "sigterm" || mode === "hold") {
  // As the services do (scripts/start.ts, gateway/src/main.ts, lib/subgraph-main.ts).
  process.on("SIGTERM", async () => { await flushLogs(); process.exit(0); });
  process.on("SIGUSR2", () => log.error("failed", { i: n }));
  setInterval(() => {}, 1000);
  process.stdout.write("ready");
}
`,
  );
  const logger = fileURLToPath(new URL("./logger.ts", import.meta.url));
  function run(mode: string, n: number) {
    const child = spawn(process.execPath, ["--import", "tsx", script, mode, String(n)], { env: { ...process.env, HUB_TEST_LOGGER: logger, HUB_LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    const ready = new Promise<void>((resolve) => child.stdout.on("data", () => resolve()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const lines = () =>
      err
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { msg: string; i: number });
    return { child, ready, exited, lines, stderr: () => err.slice(0, 2000) };
  }
  const indexes = (lines: { msg: string; i: number }[]) => lines.filter((l) => l.msg === "line").map((l) => l.i);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

  test.concurrent.each(["exit", "throw", "end"])(
    "on %s: every line, in order",
    async (mode) => {
      const c = run(mode, 3000);
      expect(await c.exited, c.stderr()).toBe(mode === "throw" ? 1 : 0);
      expect(indexes(c.lines())).toEqual(upTo(3000));
    },
    60_000,
  );

  test.concurrent("on SIGTERM (flushLogs, then exit): every line, in order", async () => {
    const c = run("sigterm", 3000);
    await c.ready;
    c.child.kill("SIGTERM");
    expect(await c.exited).toBe(0);
    expect(indexes(c.lines())).toEqual(upTo(3000));
  }, 60_000);

  test("lines wait in the buffer; an error line writes them and itself at once", async () => {
    const c = run("hold", 3);
    await c.ready;
    await new Promise((r) => setTimeout(r, 300));
    expect(c.lines()).toEqual([]); // 3 lines < 4 KB, no flush for a minute: still buffered
    c.child.kill("SIGUSR2");
    await expect.poll(() => c.lines().length, { timeout: 5_000 }).toBe(4);
    expect(c.lines().at(-1)).toMatchObject({ msg: "failed", level: "error" });
    c.child.kill("SIGTERM");
    expect(await c.exited).toBe(0);
  }, 60_000);
});
