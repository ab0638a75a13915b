// The demo coalition's partners and published secrets, apart from the seed (prisma/seed.ts) so
// `npm start` can have their scrypt hashes computed while the embedded database opens and the
// modules load (libuv's thread pool; ~100 ms each, 16 of them, the seed otherwise waited ~2 s).
export const DEMO_PARTNERS = [
  { slug: "shopmall", name: "ShopMall", category: "ECOMMERCE", issuePrice: "0.0150", redemptionRate: "0.0100", earnRate: "1", refPrefix: "SM" },
  { slug: "freshco", name: "FreshCo", category: "FMCG", issuePrice: "0.0140", redemptionRate: "0.0100", earnRate: "2", refPrefix: "FC" },
  { slug: "grandstay", name: "GrandStay Hotels", category: "HOTEL", issuePrice: "0.0160", redemptionRate: "0.0110", earnRate: "1", refPrefix: "GS" },
] as const;

/** Demo members 0001–0005 can sign in with these passwords (demo only: refused in production). */
export const DEMO_SIGN_IN_MEMBERS = 5;
export const demoMemberPassword = (n: string) => `demo-member${n}-password`;

export const DEMO_SECRETS = {
  adminClient: "demo-admin-secret",
  adminPerson: "demo-admin-person-password",
  partnerClient: (slug: string) => `demo-${slug}-secret`,
  partnerApp: (slug: string) => `demo-${slug}-app-secret`,
  partnerStaff: (slug: string) => `demo-${slug}-staff-password`,
};

/** Every secret the seed hashes for a demo of `members` members, in the order it needs them: API clients and apps first, people last. */
export function demoSecrets(members: number): string[] {
  return [
    ...DEMO_PARTNERS.flatMap((p) => [DEMO_SECRETS.partnerClient(p.slug), DEMO_SECRETS.partnerApp(p.slug)]),
    DEMO_SECRETS.adminClient,
    ...Array.from({ length: Math.min(DEMO_SIGN_IN_MEMBERS, members) }, (_, i) => demoMemberPassword(String(i + 1).padStart(4, "0"))),
    DEMO_SECRETS.adminPerson,
    ...DEMO_PARTNERS.map((p) => DEMO_SECRETS.partnerStaff(p.slug)),
  ];
}
