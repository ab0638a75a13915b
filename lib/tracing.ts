import { type Attributes, type Context, context, type Link, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace, type Tracer } from "@opentelemetry/api";
import type { IncomingHttpHeaders } from "node:http";
import { suppressTracing } from "@opentelemetry/core";
import { readSetting } from "./config.ts";

/**
 * OpenTelemetry for every process of the hub (docs/ARCHITECTURE.md, rule "traces, metrics, logs"; docs/DECISIONS.md D26).
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test passes an exporter): then no SDK module
 * is even loaded, the API is OpenTelemetry's no-op, and every helper below returns at its first
 * line. On: one NodeTracerProvider per process (AsyncLocalStorage context, W3C trace context),
 * OTLP/HTTP export in batches, and the ecosystem's instrumentation:
 *  - gateway: `@graphql-hive/plugin-opentelemetry` (HTTP request, GraphQL parse/validate/execute,
 *    one `subgraph.execute` span per subgraph fetch, the upstream fetch; it injects `traceparent`);
 *  - SQL: `@prisma/instrumentation` (Prisma's own spans: operation, transaction, `db_query` with the
 *    SQL text, under whatever span is active);
 *  - outgoing HTTP of the relay and webhooks: `@opentelemetry/instrumentation-undici` (fetch);
 *  - subgraphs: `serverSpan` below opens the SERVER span from the gateway's `traceparent` (a few
 *    lines: instrumentation-http patches `require("http")`, which our ES modules never call);
 *  - events: the emitting request's traceparent is stored on the outbox row (lib/events/outbox.ts)
 *    and each consumer's span is its child (lib/events/inbox.ts `consumerSpans`).
 *
 * Sampling: a trace starts only at a SERVER span (a request reaching the gateway), at
 * HUB_TRACE_SAMPLE_RATIO; everything else follows its parent. Background work (relay polls, jobs,
 * revocation polls) therefore never starts a trace of its own.
 */

type SpanExporter = import("@opentelemetry/sdk-trace-base").SpanExporter;

interface Active {
  tracer: Tracer;
  /** Share of the requests reaching the gateway that start a trace (HUB_TRACE_SAMPLE_RATIO). */
  ratio: number;
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}
let active: Active | null = null;

/** Whether this process traces (the SDK is started). */
export function tracingOn(): boolean {
  return active !== null;
}

export interface TracingOptions {
  /** service.name of the spans: gateway, member, points, partner, or coalition-hub (all in one process). */
  serviceName: string;
  /** Tests: an in-memory exporter, spans exported one by one (SimpleSpanProcessor). */
  exporter?: SpanExporter;
  /** Share of new traces kept (default HUB_TRACE_SAMPLE_RATIO). */
  sampleRatio?: number;
  /** OTLP/HTTP base URL (default OTEL_EXPORTER_OTLP_ENDPOINT). */
  endpoint?: string;
}

/** Prisma's spans left out of traces (`PrismaInstrumentation` `ignoreSpanTypes`). */
const PRISMA_SPANS_NOT_KEPT = ["prisma:client:serialize", "prisma:client:compile"];

/**
 * Starts tracing in this process when configured (OTEL_EXPORTER_OTLP_ENDPOINT) or given an
 * exporter; resolves to whether it runs. Call before the servers start (spans need the provider).
 * Once per process: a second call keeps the first provider.
 */
export async function startTracing(opts: TracingOptions): Promise<boolean> {
  if (active) return true;
  const endpoint = opts.endpoint ?? readSetting("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (!opts.exporter && !endpoint) return false;
  const ratio = opts.sampleRatio ?? readSetting("HUB_TRACE_SAMPLE_RATIO");
  const [node, base, resources, prisma, undici, instr] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/resources"),
    import("@prisma/instrumentation"),
    import("@opentelemetry/instrumentation-undici"),
    import("@opentelemetry/instrumentation"),
  ]);
  // Roots: only a request arriving at the gateway, and only one already drawn for sampling (the
  // draw is made before any span exists: `gatewayTracingPlugin`'s `spans.http`, so the 90 % not
  // drawn create no span at all, not even a non-recording one). Children: as their parent
  // (ParentBased). `serverSpan` never starts a root (it needs the gateway's traceparent).
  const rootSampler: import("@opentelemetry/sdk-trace-base").Sampler = {
    shouldSample(_ctx, _traceId, _name, kind) {
      return { decision: kind === SpanKind.SERVER ? base.SamplingDecision.RECORD_AND_SAMPLED : base.SamplingDecision.NOT_RECORD };
    },
    toString: () => `ServerRoots{drawn at the gateway at ${ratio}}`,
  };
  let exporter = opts.exporter;
  if (!exporter) {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    exporter = new OTLPTraceExporter({ url: `${endpoint!.replace(/\/+$/, "")}/v1/traces` });
  }
  const provider = new node.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ "service.name": opts.serviceName }),
    sampler: new base.ParentBasedSampler({ root: rootSampler }),
    spanProcessors: [opts.exporter ? new base.SimpleSpanProcessor(exporter) : new base.BatchSpanProcessor(exporter)],
  });
  provider.register();
  const unregister = instr.registerInstrumentations({
    tracerProvider: provider,
    // Prisma's serialize and compile spans (18 of a traced earn's 73 spans) time in-process
    // steps no one reads a trace for; the operation, transaction and SQL spans stay.
    instrumentations: [new prisma.PrismaInstrumentation({ ignoreSpanTypes: PRISMA_SPANS_NOT_KEPT }), new undici.UndiciInstrumentation({ requireParentforSpans: true })],
  });
  onlyWhileRecording();
  active = {
    ratio,
    tracer: trace.getTracer("coalition-hub"),
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      unregister();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  return true;
}

/** Whether the span of `ctx` (default: the active context) records: a sampled trace runs. */
function recording(ctx?: Context): boolean {
  return trace.getSpan(ctx ?? context.active())?.isRecording() === true;
}

interface PrismaTracingHelper {
  isEnabled(): boolean;
  runInChildSpan(options: string | { name: string; context?: Context }, callback: (...args: unknown[]) => unknown): unknown;
  [k: string]: unknown;
}

/**
 * Prisma's tracing helper (set by `PrismaInstrumentation` on a global the client reads) makes a
 * span for every operation and statement whenever tracing is on, recording or not: for the 90 % of
 * requests not sampled that was context switches and objects for nothing (bench/obs.ts). Wrapped
 * here so Prisma traces only under a recording span: `isEnabled` and `runInChildSpan` ask the
 * active (or given) context first, as Prisma's own no-op helper does when tracing is off.
 */
function onlyWhileRecording() {
  const g = globalThis as unknown as Record<string, { helper?: PrismaTracingHelper } | undefined>;
  for (const key of Object.keys(g)) {
    if (!key.endsWith("PRISMA_INSTRUMENTATION")) continue;
    const holder = g[key];
    const inner = holder?.helper;
    if (!holder || !inner || (inner as { gated?: boolean }).gated) continue;
    holder.helper = Object.assign(Object.create(inner) as PrismaTracingHelper, {
      gated: true,
      isEnabled: () => recording(),
      runInChildSpan: (options: Parameters<PrismaTracingHelper["runInChildSpan"]>[0], callback: (...args: unknown[]) => unknown) =>
        recording(typeof options === "string" ? undefined : options.context) ? inner.runInChildSpan(options, callback) : callback(),
    });
  }
}

/** Exports what is buffered and stops tracing (process shutdown, tests). */
export async function stopTracing(): Promise<void> {
  const a = active;
  active = null;
  await a?.shutdown();
}

/** Exports the spans buffered so far (tests; shutdown). */
export async function flushTraces(): Promise<void> {
  await active?.forceFlush();
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The active span's W3C `traceparent` when a sampled span is active, else null (always null when
 * tracing is off). Stored on outbox rows so consumers and webhook deliveries join the trace.
 */
export function currentTraceparent(): string | null {
  if (!active) return null;
  const span = trace.getActiveSpan();
  if (!span) return null;
  const c = span.spanContext();
  if (!(c.traceFlags & 1)) return null;
  return `00-${c.traceId}-${c.spanId}-0${c.traceFlags.toString(16)}`.slice(0, 55);
}

/** The active trace id, if a sampled span is active (log lines, error reports). */
export function currentTraceId(): string | undefined {
  if (!active) return undefined;
  const c = trace.getActiveSpan()?.spanContext();
  return c && c.traceFlags & 1 ? c.traceId : undefined;
}

function contextOf(traceparent: string | null | undefined): Context | undefined {
  if (!traceparent || !TRACEPARENT.test(traceparent)) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, { traceparent });
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/**
 * W3C trace-context headers for an outgoing request that continues an event's trace (webhook
 * deliveries: `injectTraceHeaders(headers, event.traceparent)`). Inside an active sampled span (the
 * delivery's own, e.g. under `withSpan`), that span is the parent; otherwise the stored traceparent
 * is passed on as it is (a valid one only). Returns `headers`; adds nothing when there is no trace.
 */
export function injectTraceHeaders<H extends Record<string, string>>(headers: H, traceparent?: string | null): H {
  if (active && trace.getActiveSpan()?.isRecording()) {
    propagation.inject(context.active(), headers);
    return headers;
  }
  if (traceparent && TRACEPARENT.test(traceparent)) (headers as Record<string, string>).traceparent = traceparent;
  return headers;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** W3C traceparent of the parent (an event's emitting request); default: the active span. */
  parent?: string | null;
  links?: (string | null | undefined)[];
}

/**
 * Runs `fn` in a span named `name` (only when tracing is on; otherwise just `fn()`). The span
 * records an exception and an error status if `fn` throws.
 */
export async function withSpan<T>(name: string, opts: SpanOptions, fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!active) return fn();
  const parentCtx = opts.parent !== undefined ? (contextOf(opts.parent) ?? ROOT_CONTEXT) : context.active();
  const links: Link[] = [];
  for (const l of opts.links ?? []) {
    const c = contextOf(l);
    const sc = c && trace.getSpanContext(c);
    if (sc) links.push({ context: sc });
  }
  return active.tracer.startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes, links }, parentCtx, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
      throw e;
    } finally {
      span.end();
    }
  });
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => h[k],
};

/**
 * A subgraph's SERVER span for one request from the gateway, child of the gateway's fetch span
 * (its `traceparent` header). Requests without one (health checks, relay deliveries, polls) get
 * none: a subgraph never starts a trace. The returned `end` records the status code.
 */
export function serverSpan(headers: IncomingHttpHeaders, name: string, attributes: Attributes): { run<T>(fn: () => T): T; end(status: number, error?: string): void } | null {
  if (!active || typeof headers.traceparent !== "string") return null;
  const parent = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  // Never a root here (the root sampler would keep it): only a child of a valid, sampled traceparent.
  if (((trace.getSpanContext(parent)?.traceFlags ?? 0) & 1) === 0) return null;
  const span = active.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(ctx, fn),
    end(status, error) {
      span.setAttribute("http.response.status_code", status);
      if (status >= 500 || error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    },
  };
}

/**
 * Runs `fn` with tracing suppressed (background plumbing: relay passes, polls): no span, no
 * propagated header. Just `fn()` when tracing is off.
 */
export function untraced<T>(fn: () => T): T {
  if (!active) return fn();
  return context.with(suppressTracing(ROOT_CONTEXT), fn);
}

/** The Hive gateway runtime's OpenTelemetry plugin, when tracing is on (gateway/src/gateway.ts). */
export async function gatewayTracingPlugin(): Promise<unknown[]> {
  if (!active) return [];
  const { useOpenTelemetry } = await import("@graphql-hive/plugin-opentelemetry");
  const ratio = active.ratio;
  const drawn = new WeakSet<object>();
  const plugin = useOpenTelemetry({
    useContextManager: true,
    inheritContext: true,
    propagateContext: true,
    flushOnDispose: false,
    // The sampling draw, before the plugin makes any span: a request is traced with probability
    // `ratio` (drawn in `onlyDrawn` below). One not drawn gets no span, so the plugin's per-phase
    // spans, the subgraph fetches' traceparent and the subgraphs' and Prisma's spans cost nothing
    // for it. A caller cannot force tracing (a sampled traceparent on every request would multiply
    // the cost); a drawn request joins the caller's trace (inheritContext), and one whose caller
    // said "not sampled" stays unsampled (ParentBased). Log lines carry the caller's trace id either way.
    traces: { tracer: trace.getTracer("gateway"), spans: { schema: false, initialization: false, http: ({ request }: { request: object }) => drawn.has(request) } },
  });
  return [onlyDrawn(plugin as unknown as Record<string, unknown>, ratio, drawn)];
}

/** The plugin's hooks that run once per request, operation or subgraph fetch. */
const PER_REQUEST_HOOKS = ["onRequest", "onEnveloped", "onResponse", "onParams", "onExecutionResult", "onParse", "onValidate", "onExecute", "onSubgraphExecute", "onFetch"];
const PER_REQUEST_INSTRUMENTS = ["request", "operation", "context", "parse", "validate", "execute", "subgraphExecute", "fetch"];

type HookPayload = { request?: object; context?: { request?: object }; executionRequest?: { context?: { request?: object } } } | undefined;

/**
 * The Hive plugin with its per-request hooks skipped for the requests not drawn. Even for those
 * the plugin ran a dozen hooks per request (and two per subgraph fetch), each copying its payload
 * into a new object with lazily built state, promise chains around every phase and a header copy
 * per fetch, only to find no span (bench/obs.ts profile). The request is found as the plugin finds
 * it (`request`, `context.request`, `executionRequest.context.request`); a hook whose request
 * cannot be found runs as before.
 */
function onlyDrawn(plugin: Record<string, unknown>, ratio: number, drawn: WeakSet<object>): Record<string, unknown> {
  const requestOf = (p: HookPayload) => p?.request ?? p?.context?.request ?? p?.executionRequest?.context?.request;
  const skip = (p: HookPayload) => {
    const r = requestOf(p);
    return r !== undefined && !drawn.has(r);
  };
  const gated: Record<string, unknown> = Object.defineProperties({}, Object.getOwnPropertyDescriptors(plugin));
  for (const name of PER_REQUEST_HOOKS) {
    const hook = plugin[name];
    if (typeof hook !== "function") continue;
    gated[name] = (payload: HookPayload, ...rest: unknown[]) => (skip(payload) ? undefined : hook(payload, ...rest));
  }
  const instruments = plugin.instrumentation as Record<string, unknown> | undefined;
  if (instruments) {
    const wrapped: Record<string, unknown> = Object.defineProperties({}, Object.getOwnPropertyDescriptors(instruments));
    for (const name of PER_REQUEST_INSTRUMENTS) {
      const inner = instruments[name];
      if (typeof inner !== "function") continue;
      wrapped[name] =
        name === "request"
          ? (payload: { request: object }, run: () => unknown) => {
              if (Math.random() >= ratio) return run();
              drawn.add(payload.request);
              return inner(payload, run);
            }
          : (payload: HookPayload, run: () => unknown) => (skip(payload) ? run() : inner(payload, run));
    }
    gated.instrumentation = wrapped;
  }
  return gated;
}
