import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { log } from "../../../lib/logger.ts";
import { MEMBER_SCOPES } from "../../../lib/principal.ts";
import { activationPage, consentPage, type Lang, messagePage, PAGE_HEADERS, pickLang, signInPage, text } from "./pages.ts";
import type { OAuthApp } from "../../../lib/oauth-app.ts";
import type { GrantInfo, TokenService } from "./token-service.ts";

/**
 * The authorization endpoint (RFC 6749 §4.1 with PKCE S256, RFC 7636) and the activation page.
 * Interactions (one sign-in attempt of one browser for one app) live in this gateway's memory for
 * 10 minutes; they hold nothing a stranger can use: the member signs in on every authorization.
 *
 * CSRF: the browser gets an HttpOnly, SameSite=Lax cookie with a random value; every form carries
 * HMAC(key, cookie) and every interaction is bound to the cookie it was created with, so a form
 * posted from another site (no cookie, or no token) is refused.
 */

const COOKIE = "hub_browser";
/** The hub's console for admins and partner staff (a public client): people who are not members sign in there. */
export const CONSOLE_CLIENT = "hub-console";
const INTERACTION_TTL_MS = 10 * 60_000;
const MAX_INTERACTIONS = 50_000;
const MAX_PARAM = 2048;

interface Interaction {
  browser: string;
  app: OAuthApp;
  redirectUri: string;
  state: string | null;
  codeChallenge: string;
  scopes: string[];
  memberId?: string;
  expiresAt: number;
}

function cookieValue(req: IncomingMessage): string | null {
  const m = (req.headers.cookie ?? "").match(new RegExp(`(?:^|;\\s*)${COOKIE}=([A-Za-z0-9_-]{20,64})`));
  return m ? m[1]! : null;
}

/** RFC 8252 §7.3: a public (native) client's loopback redirect may use any port. */
export function redirectAllowed(app: OAuthApp, uri: string): boolean {
  if (app.redirectUris.includes(uri)) return true;
  if (!app.publicClient) return false;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return false;
  }
  if (u.protocol !== "http:" || (u.hostname !== "127.0.0.1" && u.hostname !== "[::1]")) return false;
  return app.redirectUris.some((r) => {
    const reg = new URL(r);
    return reg.protocol === "http:" && reg.hostname === u.hostname && !reg.port && reg.pathname === u.pathname && reg.search === u.search;
  });
}

export class AuthorizationEndpoint {
  private interactions = new Map<string, Interaction>();
  /** Per-address failed sign-ins: progressive delay (the account's own delay lives with the account). */
  private addressFailures = new Map<string, { count: number; until: number }>();

  private readonly tokens: TokenService;
  private readonly key: Uint8Array;

  constructor(tokens: TokenService, key: Uint8Array) {
    this.tokens = tokens;
    this.key = key;
  }

  private csrfFor(browser: string) {
    return createHmac("sha256", this.key).update(`csrf:${browser}`).digest("base64url");
  }

  private csrfOk(req: IncomingMessage, token: string | null): string | null {
    const browser = cookieValue(req);
    if (!browser || !token) return null;
    const want = Buffer.from(this.csrfFor(browser));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got) ? browser : null;
  }

  private browserCookie(req: IncomingMessage, res: ServerResponse): string {
    const existing = cookieValue(req);
    if (existing) return existing;
    const v = randomBytes(24).toString("base64url");
    res.setHeader("set-cookie", `${COOKIE}=${v}; Path=/; HttpOnly; SameSite=Lax`);
    return v;
  }

  private page(res: ServerResponse, status: number, html: string) {
    res.writeHead(status, PAGE_HEADERS);
    res.end(html);
  }

  private redirect(res: ServerResponse, uri: string, params: Record<string, string | null>) {
    const u = new URL(uri);
    for (const [k, v] of Object.entries(params)) if (v !== null) u.searchParams.set(k, v);
    res.writeHead(303, { location: u.toString(), "cache-control": "no-store" });
    res.end();
  }

  private switchHref(path: string, params: URLSearchParams, lang: Lang) {
    const p = new URLSearchParams(params);
    p.set("lang", text(lang).otherLang);
    return `${path}?${p.toString()}`;
  }

  /** GET /oauth/authorize */
  async start(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const lang = pickLang(query.get("lang"), req.headers["accept-language"]);
    const one = (k: string) => {
      const all = query.getAll(k);
      if (all.length > 1) return undefined; // RFC 6749 §3.1: a parameter at most once
      const v = all[0];
      return v !== undefined && v.length <= MAX_PARAM ? v : undefined;
    };
    const bad = (msg: string) => this.page(res, 400, messagePage(lang, msg, this.switchHref("/oauth/authorize", query, lang)));
    const clientId = one("client_id");
    const redirectUri = one("redirect_uri");
    // §4.1.2.1: with an unknown client or a redirect URI that is not registered, never redirect.
    if (!clientId) return bad("invalid_request: client_id is required");
    const known = await this.appForAuthorize(clientId);
    if (!known) return bad("invalid_client: unknown client");
    if (!redirectUri || !redirectAllowed(known, redirectUri)) return bad("invalid_request: redirect_uri is missing or not registered for this client");
    const state = one("state") ?? null;
    const back = (error: string, description: string) => this.redirect(res, redirectUri, { error, error_description: description, state });
    if (one("response_type") !== "code") return back("unsupported_response_type", "Only response_type=code is supported");
    const challenge = one("code_challenge");
    const method = one("code_challenge_method");
    if (!challenge || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) return back("invalid_request", "code_challenge (PKCE, S256) is required");
    if (method !== "S256") return back("invalid_request", "code_challenge_method must be S256 (plain is not accepted)");
    const requested = (one("scope") ?? "").split(" ").filter(Boolean);
    const scopes = requested.length ? [...new Set(requested)] : known.allowedScopes;
    const isConsole = known.clientId === CONSOLE_CLIENT;
    if (!scopes.length || scopes.some((s) => !known.allowedScopes.includes(s) || !(isConsole ? s === "person" : s in MEMBER_SCOPES)))
      return back("invalid_scope", `This client may ask only for: ${known.allowedScopes.join(" ")}`);
    if (this.interactions.size >= MAX_INTERACTIONS) this.sweep();
    if (this.interactions.size >= MAX_INTERACTIONS) return back("temporarily_unavailable", "Too many sign-ins in progress; retry shortly");
    const browser = this.browserCookie(req, res);
    const id = randomBytes(24).toString("base64url");
    this.interactions.set(id, { browser, app: known, redirectUri, state, codeChallenge: challenge, scopes, expiresAt: Date.now() + INTERACTION_TTL_MS });
    this.page(res, 200, signInPage({ lang, appName: known.appName, interaction: id, csrf: this.csrfFor(browser), switchHref: this.switchHref("/oauth/authorize", query, lang), totp: isConsole }));
  }

  /** A confidential partner app at the authorization endpoint (no secret there: it is public by nature). */
  private async appForAuthorize(clientId: string): Promise<OAuthApp | null> {
    const res = await this.tokens.call("partner", "clients/app", { clientId });
    return res.status === 200 ? (res.body as OAuthApp) : null;
  }

  private sweep() {
    const now = Date.now();
    for (const [k, v] of this.interactions) if (v.expiresAt < now) this.interactions.delete(k);
    for (const [k, v] of this.addressFailures) if (v.until < now - 3_600_000) this.addressFailures.delete(k);
  }

  /** POST /oauth/authorize: the sign-in form, then the consent form. */
  async submit(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, ip: string): Promise<void> {
    const lang = pickLang(form.get("lang"), req.headers["accept-language"]);
    const t = text(lang);
    const browser = this.csrfOk(req, form.get("csrf"));
    const id = form.get("interaction") ?? "";
    const ia = this.interactions.get(id);
    if (!browser || !ia || ia.browser !== browser) return this.page(res, 403, messagePage(lang, t.badRequest, `?lang=${t.otherLang}`));
    if (ia.expiresAt < Date.now()) {
      this.interactions.delete(id);
      return this.page(res, 400, messagePage(lang, t.expired, `?lang=${t.otherLang}`));
    }
    const switchHref = `/oauth/authorize?${new URLSearchParams({ client_id: ia.app.clientId, redirect_uri: ia.redirectUri, response_type: "code", code_challenge: ia.codeChallenge, code_challenge_method: "S256", scope: ia.scopes.join(" "), ...(ia.state ? { state: ia.state } : {}), lang: t.otherLang })}`;
    const step = form.get("step");
    if (step === "signin") {
      const login = (form.get("login") ?? "").slice(0, 254);
      const password = form.get("password") ?? "";
      const isConsole = ia.app.clientId === CONSOLE_CLIENT;
      const again = (error: string, status = 200) => this.page(res, status, signInPage({ lang, appName: ia.app.appName, interaction: id, csrf: this.csrfFor(browser), error, login, switchHref, totp: isConsole }));
      const addr = this.addressFailures.get(ip);
      if (addr && addr.until > Date.now()) return again(t.throttled(Math.ceil((addr.until - Date.now()) / 1000)), 429);
      if (!login || !password || password.length > 1024) return again(t.invalid, 400);
      if (isConsole) {
        const p = await this.tokens.call("partner", "auth/person-sign-in", { login, password, totp: (form.get("totp") ?? "").slice(0, 16) });
        if (p.status !== 200) {
          if (p.body?.error === "throttled") return again(t.throttled(Math.ceil((p.body.retryAfterMs ?? 1000) / 1000)), 429);
          this.addressFailed(ip);
          return again(p.body?.error === "totp_required" ? t.totpInvalid : t.invalid, 401);
        }
        this.addressFailures.delete(ip);
        this.interactions.delete(id);
        const grant: GrantInfo = {
          grantId: p.body.sessionId,
          memberId: p.body.personId,
          kind: "PERSON",
          personRole: p.body.role,
          clientId: ia.app.clientId,
          partnerId: p.body.partnerId ?? null,
          scopes: [p.body.role === "ADMIN" ? "hub:admin" : "hub:partner"],
          redeemDailyLimit: null,
        };
        const code = this.tokens.issueCode({ clientId: ia.app.clientId, redirectUri: ia.redirectUri, codeChallenge: ia.codeChallenge, grant });
        return this.redirect(res, ia.redirectUri, { code, state: ia.state });
      }
      const r = await this.tokens.call("member", "auth/sign-in", { login, password });
      if (r.status !== 200) {
        if (r.body?.error === "throttled") return again(t.throttled(Math.ceil((r.body.retryAfterMs ?? 1000) / 1000)), 429);
        this.addressFailed(ip);
        return again(t.invalid, 401);
      }
      this.addressFailures.delete(ip);
      ia.memberId = r.body.memberId as string;
      if (ia.app.publicClient) return this.finish(res, id, ia, ia.scopes, null, "SESSION");
      return this.page(res, 200, consentPage({ lang, appName: ia.app.appName, interaction: id, csrf: this.csrfFor(browser), scopes: ia.scopes, switchHref }));
    }
    if (step === "consent" && ia.memberId && !ia.app.publicClient) {
      if (form.get("decision") !== "approve") {
        this.interactions.delete(id);
        return this.redirect(res, ia.redirectUri, { error: "access_denied", error_description: "The member denied the request", state: ia.state });
      }
      const approved = [...new Set(form.getAll("scope"))].filter((s) => ia.scopes.includes(s));
      if (!approved.length) {
        this.interactions.delete(id);
        return this.redirect(res, ia.redirectUri, { error: "access_denied", error_description: "The member approved no scope", state: ia.state });
      }
      let limit: number | null = null;
      if (approved.includes("member:redeem")) {
        const raw = (form.get("redeem_daily_limit") ?? "").trim();
        limit = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(limit) || limit > 1_000_000_000) return this.page(res, 400, consentPage({ lang, appName: ia.app.appName, interaction: id, csrf: this.csrfFor(browser), scopes: ia.scopes, switchHref }));
      }
      return this.finish(res, id, ia, approved, limit, "APP");
    }
    return this.page(res, 400, messagePage(lang, t.badRequest, switchHref));
  }

  private addressFailed(ip: string) {
    const f = this.addressFailures.get(ip) ?? { count: 0, until: 0 };
    f.count++;
    // Ten free failures per address (a shared office NAT), then 1 s, 2 s, ... up to 5 minutes.
    f.until = f.count <= 10 ? 0 : Date.now() + Math.min(300_000, 1000 * 2 ** Math.min(f.count - 11, 20));
    this.addressFailures.set(ip, f);
    if (this.addressFailures.size > 100_000) this.sweep();
  }

  private async finish(res: ServerResponse, id: string, ia: Interaction, scopes: string[], limit: number | null, kind: "SESSION" | "APP") {
    this.interactions.delete(id);
    const g = await this.tokens.call("member", "auth/grants/create", {
      memberId: ia.memberId,
      kind,
      clientId: ia.app.clientId,
      partnerId: kind === "APP" ? ia.app.partnerId : null,
      appName: ia.app.appName,
      scopes,
      redeemDailyLimit: limit,
    });
    if (g.status !== 200) {
      log.warn("grant not created", { status: g.status });
      return this.redirect(res, ia.redirectUri, { error: "access_denied", error_description: "The member cannot sign in", state: ia.state });
    }
    const code = this.tokens.issueCode({ clientId: ia.app.clientId, redirectUri: ia.redirectUri, codeChallenge: ia.codeChallenge, grant: g.body as GrantInfo });
    this.redirect(res, ia.redirectUri, { code, state: ia.state });
  }

  /** GET /account/activate */
  activationForm(req: IncomingMessage, res: ServerResponse, query: URLSearchParams) {
    const lang = pickLang(query.get("lang"), req.headers["accept-language"]);
    const browser = this.browserCookie(req, res);
    this.page(res, 200, activationPage({ lang, csrf: this.csrfFor(browser), switchHref: `/account/activate?lang=${text(lang).otherLang}` }));
  }

  /** POST /account/activate */
  async activate(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, ip: string) {
    const lang = pickLang(form.get("lang"), req.headers["accept-language"]);
    const t = text(lang);
    const switchHref = `/account/activate?lang=${t.otherLang}`;
    const browser = this.csrfOk(req, form.get("csrf"));
    if (!browser) return this.page(res, 403, messagePage(lang, t.badRequest, switchHref));
    const login = (form.get("login") ?? "").slice(0, 254);
    const addr = this.addressFailures.get(ip);
    if (addr && addr.until > Date.now()) return this.page(res, 429, activationPage({ lang, csrf: this.csrfFor(browser), error: t.throttled(Math.ceil((addr.until - Date.now()) / 1000)), login, switchHref }));
    const args = { login, code: form.get("code") ?? "", password: form.get("password") ?? "" };
    let r = await this.tokens.call("member", "auth/activate", args);
    // Not a member's code: perhaps an invited admin's or partner staff's.
    if (r.status !== 200 && r.body?.error === "invalid") r = await this.tokens.call("partner", "auth/person-activate", args);
    if (r.status === 200) return this.page(res, 200, activationPage({ lang, csrf: this.csrfFor(browser), done: true, switchHref, totpUri: typeof r.body?.totpUri === "string" ? r.body.totpUri : undefined }));
    if (r.body?.error !== "bad_password") this.addressFailed(ip);
    const error = r.body?.error === "bad_password" ? String(r.body.message ?? t.badCode) : t.badCode;
    this.page(res, 400, activationPage({ lang, csrf: this.csrfFor(browser), error, login, switchHref }));
  }
}
