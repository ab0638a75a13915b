import { createHash, randomBytes } from "node:crypto";

/**
 * A tiny OAuth client that goes through the hub's real pages as a browser would, without a
 * browser: GET /oauth/authorize, post the sign-in form (and the consent form) with the CSRF token
 * and the cookie, follow the redirect to the app's redirect URI, redeem the code with PKCE (S256).
 * Used by the test helpers, the CLI and the benches: no test-only endpoint, no signing shortcut.
 */

export interface FlowOptions {
  baseUrl: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  login: string;
  password: string;
  /** Requested scopes (default: the client's allowed scopes). */
  scopes?: string[];
  /** Partner apps: what the member approves on the consent screen (default: every requested scope). */
  approve?: string[];
  redeemDailyLimit?: number;
  /** Partner apps: press "Deny" instead. */
  deny?: boolean;
  /** The console (admins): the authenticator code. */
  totp?: string;
}

export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  scope: string;
  expiresIn: number;
}

export class FlowError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(message: string, status: number, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const newVerifier = () => randomBytes(32).toString("base64url");
export const challengeOf = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

/** The hidden inputs of the page's form. */
export function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    out[m[1]!] = m[2]!
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  return out;
}

class Browser {
  private cookies = new Map<string, string>();
  private readonly baseUrl: string;
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }
  async request(path: string, init: { method?: string; form?: URLSearchParams } = {}): Promise<Response> {
    const headers: Record<string, string> = { "accept-language": "en" };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (init.form) headers["content-type"] = "application/x-www-form-urlencoded";
    const res = await fetch(new URL(path, this.baseUrl), { method: init.method ?? "GET", headers, body: init.form, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return res;
  }
}

/** Signs in (and consents) through the pages; returns the redirect's query (code or error) and the verifier. */
export async function authorize(o: FlowOptions): Promise<{ params: URLSearchParams; verifier: string }> {
  const verifier = newVerifier();
  const state = randomBytes(12).toString("base64url");
  const q = new URLSearchParams({ response_type: "code", client_id: o.clientId, redirect_uri: o.redirectUri, code_challenge: challengeOf(verifier), code_challenge_method: "S256", state });
  if (o.scopes) q.set("scope", o.scopes.join(" "));
  const location = await signInAt(new URL(`/oauth/authorize?${q}`, o.baseUrl), o);
  if (`${location.origin}${location.pathname}` !== new URL(o.redirectUri).origin + new URL(o.redirectUri).pathname) throw new FlowError(`redirected elsewhere: ${location}`, 303, null);
  if (location.searchParams.get("state") !== state) throw new FlowError("state mismatch", 303, null);
  return { params: location.searchParams, verifier };
}

/**
 * Opens an authorization URL (built by any client library), signs in and answers the consent
 * screen; returns where the hub redirects the browser (the app's redirect URI with code or error).
 */
export async function signInAt(authorizeUrl: URL, o: Pick<FlowOptions, "login" | "password" | "approve" | "redeemDailyLimit" | "deny" | "totp">): Promise<URL> {
  const browser = new Browser(authorizeUrl.origin);
  const landing = await browser.request(`${authorizeUrl.pathname}${authorizeUrl.search}`);
  if (landing.status !== 200) throw new FlowError(`authorize: HTTP ${landing.status} ${landing.headers.get("location") ?? ""}`, landing.status, await landing.text());
  const signIn = hiddenFields(await landing.text());
  let res = await browser.request("/oauth/authorize", { method: "POST", form: new URLSearchParams({ ...signIn, login: o.login, password: o.password, ...(o.totp ? { totp: o.totp } : {}) }) });
  if (res.status === 200) {
    const html = await res.text();
    const fields = hiddenFields(html);
    if (fields.step !== "consent") throw new FlowError("sign-in did not reach the consent screen", 200, html);
    const form = new URLSearchParams(fields);
    form.set("decision", o.deny ? "deny" : "approve");
    const offered = [...html.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!);
    for (const s of o.approve ?? offered) form.append("scope", s);
    if (html.includes('name="redeem_daily_limit"')) form.set("redeem_daily_limit", String(o.redeemDailyLimit ?? 0));
    res = await browser.request("/oauth/authorize", { method: "POST", form });
  }
  if (res.status !== 303) throw new FlowError(`sign-in failed: HTTP ${res.status}`, res.status, await res.text());
  return new URL(res.headers.get("location")!);
}

export async function tokenRequest(baseUrl: string, form: Record<string, string>, basic?: { clientId: string; secret: string }): Promise<Record<string, any> & { status: number }> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic.clientId)}:${encodeURIComponent(basic.secret)}`).toString("base64")}`;
  const res = await fetch(new URL("/oauth/token", baseUrl), { method: "POST", headers, body: new URLSearchParams(form) });
  return { status: res.status, ...((await res.json()) as Record<string, any>) };
}

/** The whole authorization code + PKCE flow → tokens. */
export async function codeFlow(o: FlowOptions): Promise<TokenSet> {
  const { params, verifier } = await authorize(o);
  const code = params.get("code");
  if (!code) throw new FlowError(`authorization refused: ${params.get("error")} ${params.get("error_description") ?? ""}`, 400, Object.fromEntries(params));
  const form: Record<string, string> = { grant_type: "authorization_code", code, redirect_uri: o.redirectUri, code_verifier: verifier, client_id: o.clientId };
  const body = await tokenRequest(o.baseUrl, form, o.clientSecret ? { clientId: o.clientId, secret: o.clientSecret } : undefined);
  if (body.status !== 200) throw new FlowError(`token request failed: ${body.status} ${JSON.stringify(body)}`, body.status, body);
  return { accessToken: body.access_token, refreshToken: body.refresh_token, scope: body.scope, expiresIn: body.expires_in };
}

/** The hub's own member app: a public client; the loopback redirect (RFC 8252). */
export const MEMBER_APP = { clientId: "hub-member-app", redirectUri: "http://127.0.0.1/callback" };

/** A member's own session (scope `member`) through the sign-in page. */
export async function memberSignIn(baseUrl: string, login: string, password: string): Promise<TokenSet> {
  return codeFlow({ baseUrl, clientId: MEMBER_APP.clientId, redirectUri: MEMBER_APP.redirectUri, login, password, scopes: ["member"] });
}

/** The hub's console for admins and partner staff (public client). */
export const CONSOLE_APP = { clientId: "hub-console", redirectUri: "http://127.0.0.1/console/callback" };

/** An admin's or partner staff member's PERSON token through the sign-in page (TOTP for admins). */
export async function personSignIn(baseUrl: string, login: string, password: string, totp?: string): Promise<string> {
  return (await codeFlow({ baseUrl, clientId: CONSOLE_APP.clientId, redirectUri: CONSOLE_APP.redirectUri, login, password, totp, scopes: ["person"] })).accessToken;
}

/** Activates a member's sign-in on the activation page with a one-time code. */
export async function activateAccount(baseUrl: string, login: string, code: string, password: string): Promise<{ totpUri: string | null }> {
  const browser = new Browser(baseUrl);
  const page = await browser.request("/account/activate");
  const fields = hiddenFields(await page.text());
  const res = await browser.request("/account/activate", { method: "POST", form: new URLSearchParams({ ...fields, login, code, password }) });
  const html = await res.text();
  if (res.status !== 200 || !html.includes('class="ok"')) throw new FlowError(`activation failed: HTTP ${res.status}`, res.status, html);
  const uri = html.match(/<code id="totp-uri"[^>]*>([^<]+)<\/code>/)?.[1];
  return { totpUri: uri ? uri.replace(/&amp;/g, "&") : null };
}
