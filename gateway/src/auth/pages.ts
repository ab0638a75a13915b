import { MEMBER_SCOPES, type MemberScope } from "../../../lib/principal.ts";

/**
 * The hub's own pages for people: sign-in, the consent screen for a partner app, activation.
 * Server-rendered HTML, no scripts, no CDN (inline styles only), every form with a CSRF token.
 * English and Simplified Chinese: `?lang=` / the form's `lang` field, else Accept-Language.
 */

export type Lang = "en" | "zh";

export function pickLang(explicit: string | null | undefined, acceptLanguage: string | undefined): Lang {
  if (explicit === "zh" || explicit === "en") return explicit;
  const prefs = (acceptLanguage ?? "")
    .split(",")
    .map((part) => {
      const [tag, ...params] = part.trim().toLowerCase().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { tag: tag ?? "", q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((p) => p.tag)
    .sort((a, b) => b.q - a.q);
  for (const p of prefs) {
    if (p.tag.startsWith("zh")) return "zh";
    if (p.tag.startsWith("en")) return "en";
  }
  return "en";
}

const T = {
  en: {
    title: "Coalition Hub",
    signInTitle: "Sign in",
    signInFor: (app: string) => `to continue to ${app}`,
    login: "Member number or e-mail",
    password: "Password",
    signIn: "Sign in",
    invalid: "The member number, e-mail or password is not right.",
    totp: "Authenticator code (admins)",
    totpInvalid: "The password or the authenticator code is not right.",
    totpSetup: "Add this key to your authenticator app now (it is shown only once):",
    throttled: (s: number) => `Too many attempts. Try again in ${s} seconds.`,
    consentTitle: "Allow access?",
    consentLead: (app: string) => `${app} asks to act for you at the coalition with these permissions:`,
    limit: "Most points a day it may redeem",
    approve: "Allow",
    deny: "Deny",
    activateTitle: "Activate sign-in",
    activateLead: "Enter the activation code your brand gave you and choose a password (at least 10 characters).",
    code: "Activation code",
    newPassword: "New password",
    activate: "Activate",
    activated: "Sign-in is active. You can now sign in with your member number or e-mail.",
    badCode: "The code is not valid or has expired.",
    expired: "This sign-in request has expired. Go back to the app and start again.",
    badRequest: "This request cannot be completed.",
    other: "中文",
    otherLang: "zh" as Lang,
  },
  zh: {
    title: "联盟积分中心",
    signInTitle: "登录",
    signInFor: (app: string) => `以继续使用 ${app}`,
    login: "会员号或电子邮箱",
    password: "密码",
    signIn: "登录",
    invalid: "会员号、电子邮箱或密码不正确。",
    totp: "身份验证器动态码（管理员）",
    totpInvalid: "密码或动态码不正确。",
    totpSetup: "请立即将此密钥添加到身份验证器应用（仅显示一次）：",
    throttled: (s: number) => `尝试次数过多，请在 ${s} 秒后重试。`,
    consentTitle: "是否允许访问？",
    consentLead: (app: string) => `${app} 请求以您的名义使用以下权限：`,
    limit: "每天最多可兑换的积分",
    approve: "允许",
    deny: "拒绝",
    activateTitle: "激活登录",
    activateLead: "请输入品牌提供的激活码，并设置密码（至少 10 个字符）。",
    code: "激活码",
    newPassword: "新密码",
    activate: "激活",
    activated: "登录已激活。现在可以使用会员号或电子邮箱登录。",
    badCode: "激活码无效或已过期。",
    expired: "此登录请求已过期，请返回应用重新开始。",
    badRequest: "无法完成此请求。",
    other: "English",
    otherLang: "en" as Lang,
  },
} as const;

/** Scope descriptions in both languages (English from lib/principal.ts MEMBER_SCOPES). */
const SCOPE_ZH: Record<MemberScope, string> = {
  member: "会员本人可做的一切（仅限会员在联盟中心的登录）。",
  "member:profile": "读取我的姓名、生日、电子邮箱、电话和已关联的品牌。",
  "member:wallet": "读取我的积分余额、即将过期的积分、等级和活动记录。",
  "member:offers": "读取我可使用的优惠及已领取的优惠。",
  "member:offers:claim": "为我领取优惠。",
  "member:redeem": "在此应用的品牌处创建兑换码以使用我的积分，不超过我设定的每日上限。",
  "member:consents": "授予和撤回我的数据共享同意。",
  "member:links": "确认或拒绝品牌关联我账户的请求。",
};

export const scopeText = (lang: Lang, scope: string) => (lang === "zh" ? SCOPE_ZH[scope as MemberScope] : MEMBER_SCOPES[scope as MemberScope]) ?? scope;

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

function layout(lang: Lang, title: string, body: string, switchHref: string): string {
  const t = T[lang];
  return `<!doctype html>
<html lang="${lang === "zh" ? "zh-Hans" : "en"}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · ${esc(t.title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f5f7;margin:0;color:#1d2330}
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:2rem}
h1{font-size:1.4rem;margin:0 0 .3rem}.brand{color:#5b6270;font-size:.9rem;margin-bottom:1.2rem}
label{display:block;margin:.9rem 0 .3rem;font-weight:600}input[type=text],input[type=password],input[type=number]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #c4c8d0;border-radius:6px;font-size:1rem}
button{margin-top:1.2rem;padding:.65rem 1.2rem;border:0;border-radius:6px;font-size:1rem;cursor:pointer;background:#1f5fd6;color:#fff}
button.secondary{background:#e6e8ec;color:#1d2330;margin-left:.5rem}.error{background:#fdecec;color:#a11;padding:.6rem;border-radius:6px}
.ok{background:#e9f7ee;color:#175c2e;padding:.6rem;border-radius:6px}ul.scopes{list-style:none;padding:0;margin:1rem 0}ul.scopes li{padding:.6rem 0;border-bottom:1px solid #eceef2}label.scope{display:flex;gap:.6rem;align-items:flex-start;font-weight:400;margin:0}label.scope input{margin-top:.25rem}
.lang{float:right;font-size:.85rem}
</style></head>
<body><main><a class="lang" href="${esc(switchHref)}">${esc(t.other)}</a><div class="brand">${esc(t.title)}</div>
${body}
</main></body></html>`;
}

const hidden = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join("");

export function signInPage(o: { lang: Lang; appName: string; interaction: string; csrf: string; error?: string; login?: string; switchHref: string; totp?: boolean }): string {
  const t = T[o.lang];
  return layout(
    o.lang,
    t.signInTitle,
    `<h1>${esc(t.signInTitle)}</h1><p>${esc(t.signInFor(o.appName))}</p>
${o.error ? `<p class="error" role="alert">${esc(o.error)}</p>` : ""}
<form method="post" action="/oauth/authorize">${hidden({ interaction: o.interaction, csrf: o.csrf, lang: o.lang, step: "signin" })}
<label for="login">${esc(t.login)}</label><input type="text" id="login" name="login" autocomplete="username" required maxlength="254" value="${esc(o.login ?? "")}">
<label for="password">${esc(t.password)}</label><input type="password" id="password" name="password" autocomplete="current-password" required maxlength="1024">
${o.totp ? `<label for="totp">${esc(t.totp)}</label><input type="text" id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="8">` : ""}
<button type="submit">${esc(t.signIn)}</button></form>`,
    o.switchHref,
  );
}

export function consentPage(o: { lang: Lang; appName: string; interaction: string; csrf: string; scopes: string[]; switchHref: string }): string {
  const t = T[o.lang];
  const items = o.scopes
    .map((s) => {
      const limit =
        s === "member:redeem"
          ? `<label for="redeem_daily_limit">${esc(t.limit)}</label><input type="number" id="redeem_daily_limit" name="redeem_daily_limit" min="0" max="1000000000" step="1" value="1000" required>`
          : "";
      return `<li><label class="scope"><input type="checkbox" name="scope" value="${esc(s)}" checked><span>${esc(scopeText(o.lang, s))}</span></label>${limit}</li>`;
    })
    .join("");
  return layout(
    o.lang,
    t.consentTitle,
    `<h1>${esc(t.consentTitle)}</h1><p>${esc(t.consentLead(o.appName))}</p>
<form method="post" action="/oauth/authorize">${hidden({ interaction: o.interaction, csrf: o.csrf, lang: o.lang, step: "consent" })}
<ul class="scopes">${items}</ul>
<button type="submit" name="decision" value="approve">${esc(t.approve)}</button><button class="secondary" type="submit" name="decision" value="deny">${esc(t.deny)}</button></form>`,
    o.switchHref,
  );
}

export function activationPage(o: { lang: Lang; csrf: string; error?: string; done?: boolean; login?: string; switchHref: string; totpUri?: string }): string {
  const t = T[o.lang];
  const body = o.done
    ? `<h1>${esc(t.activateTitle)}</h1><p class="ok" role="status">${esc(t.activated)}</p>${o.totpUri ? `<p>${esc(t.totpSetup)}</p><p><code id="totp-uri" style="word-break:break-all">${esc(o.totpUri)}</code></p>` : ""}`
    : `<h1>${esc(t.activateTitle)}</h1><p>${esc(t.activateLead)}</p>
${o.error ? `<p class="error" role="alert">${esc(o.error)}</p>` : ""}
<form method="post" action="/account/activate">${hidden({ csrf: o.csrf, lang: o.lang })}
<label for="login">${esc(t.login)}</label><input type="text" id="login" name="login" autocomplete="username" required maxlength="254" value="${esc(o.login ?? "")}">
<label for="code">${esc(t.code)}</label><input type="text" id="code" name="code" autocomplete="one-time-code" required maxlength="64">
<label for="password">${esc(t.newPassword)}</label><input type="password" id="password" name="password" autocomplete="new-password" required minlength="10" maxlength="128">
<button type="submit">${esc(t.activate)}</button></form>`;
  return layout(o.lang, t.activateTitle, body, o.switchHref);
}

export function messagePage(lang: Lang, message: string, switchHref: string): string {
  return layout(lang, T[lang].badRequest, `<h1>${esc(T[lang].badRequest)}</h1><p class="error">${esc(message)}</p>`, switchHref);
}

export const text = (lang: Lang) => T[lang];
