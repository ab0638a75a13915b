// The demo coalition, written through the same domain functions the API uses (never around them):
// three partners (e-commerce, FMCG, hotel) with rates and well-known demo API clients, 500 members
// with linked accounts and consents, six months of points history, and two co-issued offers.
// Deterministic (seeded PRNG), so every fresh `npm start` shows the same coalition.
import type { PrismaClient } from "../lib/db.ts";
import { isProduction } from "../lib/deployment.ts";
import type { Principal } from "../lib/principal.ts";
import { importConsents } from "../subgraphs/member/src/services/consents.ts";
import { confirmPartnerLink, enrollMembers } from "../subgraphs/member/src/services/members.ts";
import { createApiClientWithSecret } from "../subgraphs/partner/src/services/api-clients.ts";
import { setPasswordForSeed } from "../subgraphs/member/src/seed.ts";
import { createPartnerAppWithSecret, createPersonForSeed } from "../subgraphs/partner/src/seed.ts";
import { approveOffer, submitOffer } from "../subgraphs/partner/src/services/offers/lifecycle.ts";
import { createOffer } from "../subgraphs/partner/src/services/offers/terms.ts";
import { registerPartner } from "../subgraphs/partner/src/services/partners.ts";
import { seedPointsHistory } from "../subgraphs/points/src/seed-history.ts";
import { DEMO_PARTNERS, DEMO_SECRETS, DEMO_SIGN_IN_MEMBERS, demoMemberPassword } from "./demo-secrets.ts";

export { DEMO_PARTNERS, DEMO_SIGN_IN_MEMBERS, demoMemberPassword };

export const DEMO_MEMBERS = 500;
const DAY = 86_400_000;

/** mulberry32: a tiny deterministic PRNG so the demo is the same on every machine. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

const GIVEN = ["Wei", "Fang", "Lei", "Min", "Jing", "Hao", "Yan", "Tao", "Li", "Na", "Jun", "Xin", "Ying", "Bo", "Hui", "Qiang", "Mei", "Ping", "Rui", "Lan"];
const FAMILY = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"];

const admin: Principal = { sub: "seed", role: "ADMIN", partnerId: null, memberId: null, scope: "hub:admin", purpose: null };
const partnerActor = (partnerId: string): Principal => ({ sub: `seed-${partnerId}`, role: "PARTNER", partnerId, memberId: null, scope: "hub:partner", purpose: "ACCOUNT_SERVICING" });
const memberActor = (memberId: string): Principal => ({ sub: memberId, role: "MEMBER", partnerId: null, memberId, scope: "hub:member", purpose: null });

export interface SeedOptions {
  /** Delivers pending domain events (wallets open, links reach the points subgraph) between steps. */
  flushEvents: () => Promise<void>;
  now?: Date;
  members?: number;
  /** Tests only: seed beside the test hub's own API client (any non-demo data is otherwise refused). */
  besideTestData?: boolean;
  /** Told when each seeding step starts (start-up profiling: `startup phase` log lines). */
  onPhase?: (step: string) => void;
  /** Receives the demo people's sign-ins once (the admin's TOTP secret exists nowhere else in clear form). */
  onPeople?: (people: { email: string; role: string; password: string; totpSecret: string | null }[]) => void;
}

/** Each demo partner's app (authorization code + PKCE, consent screen): `demo-<slug>-app`, secret `demo-<slug>-app-secret`. */
export const DEMO_APP_REDIRECT = "http://localhost:8080/callback";

/** The hub's own public clients, created by migrations (the member app, the console): not foreign data. */
const HUB_OWN_CLIENTS = ["hub-member-app", "hub-console"];

export const DEMO_EMAIL_DOMAIN = "@demo.coalition.example";

/**
 * Seeds the demo coalition on an empty database; returns false (and does nothing) when the demo is
 * already there. Refuses (throws) in production and on a database holding anything but the demo:
 * the demo's API clients have published secrets (demo-admin / demo-admin-secret), so seeding them
 * next to real partners or members would open that database to anyone who read the README.
 */
export async function seedDemo(prisma: PrismaClient, opts: SeedOptions): Promise<boolean> {
  if (isProduction()) throw new Error("Refusing to seed the demo coalition: NODE_ENV=production (its API clients have published secrets)");
  const demoSlugs = DEMO_PARTNERS.map((p) => p.slug);
  const [foreignPartners, foreignClients, foreignMembers] = await Promise.all([
    prisma.partner.count({ where: { slug: { notIn: demoSlugs } } }),
    prisma.apiClient.count({ where: { NOT: { OR: [{ clientId: { startsWith: "demo-" } }, { clientId: { in: HUB_OWN_CLIENTS } }] } } }),
    prisma.member.count({ where: { NOT: { email: { endsWith: DEMO_EMAIL_DOMAIN } } } }),
  ]);
  if (foreignPartners + foreignClients + foreignMembers > 0 && !opts.besideTestData) {
    if (await prisma.apiClient.count({ where: { clientId: "demo-admin" } })) return false; // a demo database someone added to: leave it
    throw new Error(
      `Refusing to seed the demo coalition into a database that holds non-demo data (${foreignPartners} partner(s), ${foreignClients} API client(s), ${foreignMembers} member(s)): its demo API clients have published secrets`,
    );
  }
  if ((await prisma.partner.count()) > 0) return false;
  const now = opts.now ?? new Date();
  const r = rng(20261122);
  const memberCount = opts.members ?? DEMO_MEMBERS;
  const sixMonthsAgo = new Date(now.getTime() - 183 * DAY);

  const step = (name: string) => opts.onPhase?.(`seed: ${name}`);
  step("partners");
  // Partners, rates (effective from before the history starts) and the well-known demo clients.
  const partners: ((typeof DEMO_PARTNERS)[number] & { id: string })[] = [];
  for (const p of DEMO_PARTNERS) {
    const partner = await registerPartner(admin, {
      name: p.name,
      category: p.category,
      slug: p.slug,
      issuePrice: p.issuePrice,
      redemptionRate: p.redemptionRate,
      earnRate: p.earnRate,
      effectiveFrom: new Date(sixMonthsAgo.getTime() - 30 * DAY),
    });
    partners.push({ ...p, id: partner.id });
  }
  // The clients' secret hashes (scrypt, libuv's thread pool) are computed side by side.
  await Promise.all(
    partners.flatMap((p) => [
      createApiClientWithSecret({ clientId: `demo-${p.slug}`, secret: DEMO_SECRETS.partnerClient(p.slug), role: "PARTNER", partnerId: p.id, defaultPurpose: "ACCOUNT_SERVICING" }),
      createPartnerAppWithSecret({
        clientId: `demo-${p.slug}-app`,
        secret: DEMO_SECRETS.partnerApp(p.slug),
        partnerId: p.id,
        appName: `${p.name} app`,
        redirectUris: [DEMO_APP_REDIRECT],
        scopes: ["member:profile", "member:wallet", "member:offers", "member:offers:claim", "member:redeem"],
      }),
    ]),
  );
  await createApiClientWithSecret({ clientId: "demo-admin", secret: DEMO_SECRETS.adminClient, role: "ADMIN", partnerId: null });

  // Members: each belongs to one "home" partner (enrolled there) and to 0–2 more (linked, confirmed).
  const members = Array.from({ length: memberCount }, (_, i) => {
    const n = String(i + 1).padStart(4, "0");
    const home = i % partners.length === 0 ? 0 : r.int(0, partners.length - 1);
    const others = partners.map((_, k) => k).filter((k) => k !== home && r.next() < 0.55);
    return {
      n,
      email: `member${n}${DEMO_EMAIL_DOMAIN}`,
      displayName: `${r.pick(GIVEN)} ${r.pick(FAMILY)}`,
      phone: `+86 138 ${String(r.int(0, 9999)).padStart(4, "0")} ${String(r.int(0, 9999)).padStart(4, "0")}`,
      birthday: `${r.int(1960, 2004)}-${String(r.int(1, 12)).padStart(2, "0")}-${String(r.int(1, 28)).padStart(2, "0")}`,
      joinedAt: new Date(now.getTime() - r.int(7, 200) * DAY),
      partners: [home, ...others],
      id: "",
    };
  });
  // Member 0001 is everybody's demo member: linked everywhere, with the sample query's data.
  members[0].partners = [0, 1, 2];
  members[0].joinedAt = new Date(now.getTime() - 190 * DAY);

  step("members");
  for (const [k, p] of partners.entries()) {
    const atHome = members.filter((m) => m.partners[0] === k);
    const results = await enrollMembers(
      partnerActor(p.id),
      atHome.map((m) => ({ email: m.email, displayName: m.displayName, phone: m.phone, birthday: m.birthday, externalRef: `${p.refPrefix}-${m.n}`, joinedAt: m.joinedAt })),
      { now },
    );
    for (const res of results) {
      if (!("member" in res) || !res.member) throw new Error(`seed: enrolment failed: ${JSON.stringify(res)}`);
      atHome[res.index].id = res.member.id;
    }
  }
  step("links");
  // Second and third partners: the partner enrols a known email (a pending link request) and the
  // member confirms it — the same path a real member takes.
  for (const [k, p] of partners.entries()) {
    const joining = members.filter((m) => m.partners.slice(1).includes(k));
    if (!joining.length) continue;
    await enrollMembers(
      partnerActor(p.id),
      joining.map((m) => ({ email: m.email, externalRef: `${p.refPrefix}-${m.n}` })),
      { now },
    );
    for (const m of joining) await confirmPartnerLink(memberActor(m.id), p.id, { now });
  }

  // Consents, as receipts the members gave at sign-up (imported, back-dated): most members share
  // their balance and tier for account servicing, many allow offer targeting, over half analytics.
  step("consents");
  const consents = [];
  for (const m of members) {
    for (const k of m.partners) {
      const grantedAt = new Date(m.joinedAt.getTime() + DAY);
      const base = { memberId: m.id, partnerId: partners[k].id, noticeVersion: "2026-05", grantedAt };
      if (r.next() < 0.85) consents.push({ ...base, purpose: "ACCOUNT_SERVICING", categories: ["PROFILE_BASIC", "POINTS_BALANCE", "TIER", "ACTIVITY"] });
      if (r.next() < 0.55) consents.push({ ...base, purpose: "OFFER_TARGETING", categories: ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "SEGMENTS"] });
      if (m === members[0] || r.next() < 0.6) consents.push({ ...base, purpose: "ANALYTICS", categories: ["TIER", "SEGMENTS", "ACTIVITY"] });
    }
  }
  for (let i = 0; i < consents.length; i += 500) {
    const results = await importConsents(admin, consents.slice(i, i + 500), { now });
    const failed = results.find((x) => "error" in x);
    if (failed) throw new Error(`seed: consent import failed: ${JSON.stringify(failed)}`);
  }
  step("events");
  await opts.flushEvents();

  step("offers");
  // Two co-issued offers. ShopMall × FreshCo (60/40): a member-exclusive 3-month cross-brand bonus,
  // active. GrandStay × ShopMall (50/50): double points on hotel stays, waiting for ShopMall's approval.
  const [shopmall, freshco, grandstay] = partners;
  const cross = await createOffer(
    partnerActor(shopmall.id),
    {
      title: "ShopMall × FreshCo member exclusive: 200 bonus points",
      description: "Buy FreshCo groceries on ShopMall and get 200 bonus points, co-funded by both brands.",
      kind: "BONUS_POINTS",
      bonusPoints: 200,
      coIssuers: [
        { partnerId: shopmall.id, shareBps: 6000 },
        { partnerId: freshco.id, shareBps: 4000 },
      ],
      redeemableAtPartnerIds: [shopmall.id, freshco.id],
      segments: ["NEW", "ACTIVE", "DORMANT"],
      startsAt: new Date(now.getTime() - 30 * DAY),
      endsAt: new Date(now.getTime() + 60 * DAY),
      budgetPoints: 100_000,
      perMemberLimit: 3,
    },
    { now },
  );
  await submitOffer(partnerActor(shopmall.id), cross.id, { now });
  await approveOffer(partnerActor(shopmall.id), cross.id, { now });
  await approveOffer(partnerActor(freshco.id), cross.id, { now });
  const stay = await createOffer(
    partnerActor(grandstay.id),
    {
      title: "GrandStay weekends: double points",
      description: "Twice the points on weekend stays for Silver members and above, co-funded with ShopMall.",
      kind: "POINTS_MULTIPLIER",
      multiplier: "2",
      coIssuers: [
        { partnerId: grandstay.id, shareBps: 5000 },
        { partnerId: shopmall.id, shareBps: 5000 },
      ],
      redeemableAtPartnerIds: [grandstay.id],
      minTier: "SILVER",
      startsAt: new Date(now.getTime() + DAY),
      endsAt: new Date(now.getTime() + 92 * DAY),
      budgetPoints: 50_000,
      perMemberLimit: 4,
    },
    { now },
  );
  await submitOffer(partnerActor(grandstay.id), stay.id, { now });
  await approveOffer(partnerActor(grandstay.id), stay.id, { now });
  step("offer events");
  await opts.flushEvents();

  step("points history");
  // Six months of points history through the ledger's own functions.
  await seedPointsHistory({
    now,
    from: sixMonthsAgo,
    random: r.next,
    partners: partners.map((p) => ({ id: p.id, earnRate: Number(p.earnRate) })),
    members: members.map((m) => ({ id: m.id, joinedAt: m.joinedAt, partnerIds: m.partners.map((k) => partners[k].id) })),
  });
  step("history events");
  await opts.flushEvents();

  step("people");
  // Sign-in for the first demo members (scrypt per password: a few, not all).
  await Promise.all(members.slice(0, DEMO_SIGN_IN_MEMBERS).map((m) => setPasswordForSeed(m.id, demoMemberPassword(m.n))));
  // People who are not members: one coalition admin (TOTP) and a PARTNER_ADMIN per demo partner.
  const people = [{ email: "admin@demo.coalition.example", role: "ADMIN" as const, partnerId: null, password: DEMO_SECRETS.adminPerson }];
  for (const p of partners) people.push({ email: `staff@${p.slug}.demo.coalition.example`, role: "PARTNER_ADMIN" as never, partnerId: p.id as never, password: DEMO_SECRETS.partnerStaff(p.slug) });
  const created = await Promise.all(people.map(async (p) => ({ ...p, totpSecret: (await createPersonForSeed(p)).totpSecret })));
  opts.onPeople?.(created);
  return true;
}
