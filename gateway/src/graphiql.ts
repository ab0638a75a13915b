/**
 * A self-contained GraphQL explorer for browsers: no CDN, no external assets (these machines, and
 * many partner networks, have no internet). Paste a token, write a query, run it.
 */
export function graphiqlPage(endpoint: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Coalition Hub — GraphQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body{font:14px system-ui,sans-serif;margin:0;display:grid;grid-template-rows:auto 1fr;height:100vh;background:#f6f7f9;color:#1d2330}
  header{display:flex;gap:.5rem;align-items:center;padding:.6rem 1rem;background:#1d2330;color:#fff}
  header h1{font-size:15px;margin:0 1rem 0 0}
  header input{flex:1;padding:.4rem;border-radius:4px;border:0;font-family:monospace}
  button{padding:.45rem 1rem;border:0;border-radius:4px;background:#3b82f6;color:#fff;font-weight:600;cursor:pointer}
  main{display:grid;grid-template-columns:1fr 1fr;gap:.5rem;padding:.5rem;min-height:0}
  section{display:grid;grid-template-rows:auto 3fr auto 1fr;gap:.3rem;min-height:0}
  textarea,pre{font:13px ui-monospace,monospace;border:1px solid #d0d4dc;border-radius:4px;padding:.5rem;margin:0;background:#fff;overflow:auto;resize:none}
  label{font-size:12px;color:#5b6475}
</style></head>
<body>
<header><h1>Coalition Hub</h1>
  <input id="token" placeholder="Bearer token: POST /oauth/token (client_credentials or token exchange)" autocomplete="off">
  <input id="purpose" placeholder="Coalition-Purpose (partners)" style="flex:0 0 14rem">
  <button id="run">Run ▶</button></header>
<main>
  <section><label>Query</label><textarea id="query" spellcheck="false">{
  me {
    displayName
    tier { tier qualifyingPoints64 nextTier pointsToNextTier }
    wallet { balance64 available64 held64 expiring { points64 expiresAt } }
    eligibleOffers { title coIssuers { partner { name } shareBps } }
  }
}</textarea><label>Variables (JSON)</label><textarea id="variables" spellcheck="false">{}</textarea></section>
  <section style="grid-template-rows:auto 1fr"><label>Response</label><pre id="out"></pre></section>
</main>
<script>
  const $ = (id) => document.getElementById(id);
  $("token").value = localStorage.getItem("hub-token") || "";
  $("run").onclick = async () => {
    localStorage.setItem("hub-token", $("token").value);
    const headers = { "content-type": "application/json" };
    const token = $("token").value.trim().replace(/^Bearer\\s+/i, "");
    if (token) headers.authorization = "Bearer " + token;
    if ($("purpose").value.trim()) headers["coalition-purpose"] = $("purpose").value.trim();
    let variables = {};
    try { variables = JSON.parse($("variables").value || "{}"); } catch (e) { $("out").textContent = "Variables are not valid JSON: " + e.message; return; }
    const res = await fetch(${JSON.stringify(endpoint)}, { method: "POST", headers, body: JSON.stringify({ query: $("query").value, variables }) });
    $("out").textContent = res.status + " " + res.statusText + "\\n\\n" + JSON.stringify(await res.json().catch(() => null), null, 2);
  };
  document.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "Enter") $("run").click(); });
</script></body></html>`;
}
