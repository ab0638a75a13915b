import { builder } from "../builder.ts";
import { registerPartnerApp } from "../services/partner-apps.ts";
import { ApiClientSecretRef } from "./partner.ts";

builder.mutationFields((t) => ({
  registerPartnerApp: t.field({
    type: ApiClientSecretRef,
    authScopes: { business: true },
    description:
      "Registers a partner app: a confidential OAuth client that sends members to the hub's /oauth/authorize (authorization code + PKCE S256) and acts for a member only with the scopes the member approves on the consent screen. ADMIN for any partner, a partner for itself (else NOT_FOUND). The secret is shown once, in this response.",
    args: {
      partnerId: t.arg.id({ description: "The partner that owns the app." }),
      appName: t.arg.string({ description: "The name members see on the consent screen, 1–100 characters." }),
      redirectUris: t.arg.stringList({ description: "Where the hub may send the member back (exact match): https URLs, or http for localhost; 1–10." }),
      scopes: t.arg.stringList({ description: "The member scopes the app may ask for (member:profile, member:wallet, member:offers, member:offers:claim, member:redeem, member:consents, member:links)." }),
    },
    resolve: (_r, args, ctx) => registerPartnerApp(ctx.principal, args),
  }),
}));
