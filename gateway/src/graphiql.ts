/**
 * GraphiQL at GET /graphql for browsers: GraphiQL 5 with its schema explorer, docs, autocomplete and
 * headers editor, as bundled by @graphql-yoga/render-graphiql (the build graphql-yoga and the Hive
 * gateway serve). We serve that bundle's files from our own origin instead of its one-page form,
 * which inlines ~9 MB of script and its Monaco workers as blob: URLs: here the page is a few hundred
 * bytes, every script comes from /graphiql/* (cacheable, gzip), and the Content-Security-Policy can
 * say `script-src 'self'` with no 'unsafe-inline'. No CDN: these machines and many partner networks
 * have no internet.
 *
 * The bundle (a 9 MB string module) is imported on the first request for the page, not at start-up.
 */
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";

const VERSION = (createRequire(import.meta.url)("@graphql-yoga/render-graphiql/package.json") as { version: string }).version;

/** The page's policy: our own scripts, workers and fetches only; Monaco sets inline styles and data: fonts. */
export const GRAPHIQL_CSP =
  "default-src 'self'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const SAMPLE_QUERY = `# Coalition Hub. Put a token in Headers below,
# then run with Ctrl-Enter. Tokens: README,
# "Getting a token". Partners also send
#   "Coalition-Purpose": "ACCOUNT_SERVICING"
query Me {
  me {
    displayName
    tier { tier qualifyingPoints64 nextTier }
    wallet { balance64 available64 held64 }
    eligibleOffers { title }
  }
}
`;

const BOOT = `(() => {
  const config = JSON.parse(document.getElementById("graphiql-config").textContent);
  const v = "?v=" + config.version;
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: (_moduleId, label) =>
      "/graphiql/" + (label === "json" ? "json" : label === "graphql" ? "graphql" : "editor") + ".worker.js" + v,
  };
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById("root"), config.options);
})();
`;

export function graphiqlPage(endpoint: string): string {
  const options = {
    endpoint,
    title: "Coalition Hub",
    defaultQuery: SAMPLE_QUERY,
    headers: JSON.stringify({ Authorization: "Bearer <token>" }, null, 2),
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    // A token typed into the headers editor stays in this browser only when the user opts in.
    shouldPersistHeaders: false,
    schemaDescription: true,
    inputValueDeprecation: true,
  };
  // JSON in a data block is never executed; "<" is escaped so no text can close the element.
  const config = JSON.stringify({ version: VERSION, options }).replace(/</g, "\\u003c");
  const v = `?v=${VERSION}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Coalition Hub — GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/graphiql/favicon.ico${v}">
<link rel="stylesheet" href="/graphiql/app.css${v}">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript. Without it, POST queries to ${endpoint} (README, "Calling the API").</noscript>
<div id="root" style="height:100vh"></div>
<script type="application/json" id="graphiql-config">${config}</script>
<script src="/graphiql/app.js${v}"></script>
<script src="/graphiql/boot.js${v}"></script>
</body></html>`;
}

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

let assets: Promise<Map<string, Asset>> | undefined;

function load(): Promise<Map<string, Asset>> {
  assets ??= import("@graphql-yoga/render-graphiql/graphiql").then((b) => {
    const js = "text/javascript; charset=utf-8";
    const entries: [string, string, string | Buffer][] = [
      ["app.js", js, b.js],
      ["boot.js", js, BOOT],
      ["editor.worker.js", js, b.editorWorkerService],
      ["json.worker.js", js, b.jsonWorker],
      ["graphql.worker.js", js, b.graphqlWorker],
      ["app.css", "text/css; charset=utf-8", b.css],
      ["favicon.ico", "image/x-icon", Buffer.from(b.favicon.slice(b.favicon.indexOf(",") + 1), "base64")],
    ];
    return new Map(
      entries.map(([name, type, content]) => {
        const body = typeof content === "string" ? Buffer.from(content) : content;
        return [`/graphiql/${name}`, { type, body, gzip: gzipSync(body, { level: 6 }) }];
      }),
    );
  });
  return assets;
}

/** Whether `pathname` is one of GraphiQL's files. */
export function isGraphiqlAsset(pathname: string): boolean {
  return /^\/graphiql\/(app\.js|boot\.js|(editor|json|graphql)\.worker\.js|app\.css|favicon\.ico)$/.test(pathname);
}

/** One of GraphiQL's files (`isGraphiqlAsset`), gzip when the browser accepts it; cached for a day, versioned by URL. */
export async function graphiqlAsset(pathname: string, acceptEncoding: string | undefined): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const a = (await load()).get(pathname);
  if (!a) return { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: Buffer.from("not found") };
  const gzip = /\bgzip\b/.test(acceptEncoding ?? "");
  return {
    status: 200,
    headers: {
      "content-type": a.type,
      "cache-control": "public, max-age=86400",
      "x-content-type-options": "nosniff",
      vary: "accept-encoding",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    },
    body: gzip ? a.gzip : a.body,
  };
}
