import type { RateLimitStatus } from "./rate-limit-header.ts";
import SchemaBuilder, { type ArgBuilder, type SchemaTypes } from "@pothos/core";
import DataloaderPlugin from "@pothos/plugin-dataloader";
import DirectivesPlugin from "@pothos/plugin-directives";
import FederationPlugin from "@pothos/plugin-federation";
import ScopeAuthPlugin, { type AuthFailure, AuthScopeFailureType } from "@pothos/plugin-scope-auth";
import { type GraphQLError, Kind } from "graphql";
import { parseBigInt, serializeBigInt } from "./amounts.ts";
import { mayReadScope, scopeForbidden } from "./authority.ts";
import { type ErrorCode, ERROR_CODES, HubError } from "./errors.ts";
import { hasMemberAuthority, type MemberScope, type Principal } from "./principal.ts";

/**
 * The deprecation reason of a 32-bit `Int` amount field that moved to a 64-bit `BigInt` field
 * (issue 14 §2; CHANGELOG.md: kept until 2027-06-30, AMOUNT_EXCEEDS_INT instead of an overflow).
 */
export const DEPRECATED_INT = (replacement: string) => `32-bit Int: raises AMOUNT_EXCEEDS_INT when the amount is beyond ±2,147,483,647. Use ${replacement} (BigInt, a decimal string). Removed after 2027-06-30.`;

/** Per request: the verified principal, the request id, and whatever the subgraph adds (loaders). */
export interface HubContext {
  principal: Principal;
  requestId: string;
  operationName: string | null;
  /** The caller's rate limits as the gateway counted them for this request (lib/rate-limit-header.ts); [] when not limited. */
  rateLimits?: RateLimitStatus[];
}

export type HubAuthScopes = {
  admin: boolean;
  partner: boolean;
  member: boolean;
  /** PARTNER or ADMIN: API clients of the coalition's businesses. */
  business: boolean;
  /** The member's own authority for this scope (its session, or an app it granted the scope): actions for the member. */
  memberAuthority: MemberScope;
  /** Reads of this scope's member data: refused only to a DELEGATED token the member did not grant the scope (lib/authority.ts). */
  memberScope: MemberScope;
  /** A PARTNER_VIEW token (token exchange): the partner's view of the one member it is bound to. */
  partnerView: boolean;
};

export type HubScalars = {
  DateTime: { Input: Date; Output: Date | string };
  Decimal: { Input: string; Output: string | { toString(): string } };
  BigInt: { Input: bigint; Output: bigint | number | string };
};

export type HubBuilderTypes<Ctx extends HubContext> = {
  Context: Ctx;
  AuthScopes: HubAuthScopes;
  Scalars: HubScalars;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
};

/** The member scope a refusal was about (memberAuthority / memberScope), to name it in the error. */
function memberScopeFailure(f: AuthFailure): MemberScope | null {
  if (f.kind === AuthScopeFailureType.AuthScope) return f.scope === "memberAuthority" || f.scope === "memberScope" ? (f.parameter as MemberScope) : null;
  if (f.kind === AuthScopeFailureType.AnyAuthScopes || f.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const inner of f.failures) {
      const s = memberScopeFailure(inner);
      if (s) return s;
    }
  }
  return null;
}

/**
 * One SchemaBuilder per subgraph, all with the same plugins in the order STYLE.md asks
 * (scope-auth first so nothing resolves before authorization; federation last so it sees the
 * wrapped resolvers; directives before federation, which prints @key, @requires, ... through it).
 * No Pothos prisma plugin: no subgraph defines a type from a Prisma model (the types are shaped by
 * the services' rows and filled by DataLoaders), so it would only add a generated datamodel.
 */
export function createBuilder<Ctx extends HubContext>() {
  const builder = new SchemaBuilder<HubBuilderTypes<Ctx>>({
    plugins: [ScopeAuthPlugin, DataloaderPlugin, DirectivesPlugin, FederationPlugin],
    defaultFieldNullability: false,
    defaultInputFieldRequiredness: true,
    scopeAuth: {
      authScopes: (ctx) => ({
        admin: ctx.principal.role === "ADMIN",
        partner: ctx.principal.role === "PARTNER",
        member: ctx.principal.role === "MEMBER",
        business: ctx.principal.role === "ADMIN" || ctx.principal.role === "PARTNER",
        memberAuthority: (scope) => hasMemberAuthority(ctx.principal, scope),
        memberScope: (scope) => mayReadScope(ctx.principal, scope),
        partnerView: ctx.principal.authority === "PARTNER_VIEW",
      }),
      unauthorizedError: (_parent, ctx, info, result) => {
        const what = `${info.parentType.name}.${info.fieldName}`;
        const scoped = memberScopeFailure(result.failure);
        if (scoped) return scopeForbidden(ctx.principal, scoped, what) as GraphQLError;
        return new HubError("FORBIDDEN", `Not allowed to access ${what}`) as GraphQLError;
      },
    },
  });

  builder.scalarType("DateTime", {
    description: "An instant as an ISO-8601 string with offset, e.g. 2026-11-22T09:30:00.000Z (UTC on output).",
    serialize: (v) => (v instanceof Date ? v.toISOString() : new Date(v).toISOString()),
    parseValue: (v) => {
      if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
        throw new HubError("BAD_USER_INPUT", "DateTime must be an ISO-8601 string with an offset, e.g. 2026-11-22T09:30:00Z");
      }
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw new HubError("BAD_USER_INPUT", `Invalid DateTime: ${v}`);
      return d;
    },
  });
  builder.scalarType("Decimal", {
    description: 'An exact decimal number as a string, e.g. "0.015" (money in the coalition currency, or a rate). Never a float.',
    serialize: (v) => String(v),
    parseValue: (v) => {
      if (typeof v !== "string" || !/^-?\d{1,18}(\.\d{1,12})?$/.test(v)) {
        throw new HubError("BAD_USER_INPUT", 'Decimal must be a string like "12.50" (at most 18 integer and 12 fraction digits)');
      }
      return v;
    },
  });
  builder.scalarType("BigInt", {
    description:
      'A signed 64-bit integer (-9223372036854775808 to 9223372036854775807) as a decimal string, e.g. "4294967296": points amounts, balances and sums that can exceed the 32-bit Int. A string because JSON numbers lose precision in JavaScript beyond 2^53. As input: a decimal string, or a JSON integer up to 2^53 − 1.',
    serialize: (v) => serializeBigInt(v),
    parseValue: (v) => parseBigInt(v),
    // An inline literal keeps its exact digits: 9223372036854775807 or "9223372036854775807".
    parseLiteral: (ast) => {
      if (ast.kind === Kind.STRING) return parseBigInt(ast.value);
      if (ast.kind === Kind.INT) return parseBigInt(ast.value);
      throw new HubError("BAD_USER_INPUT", 'BigInt must be a whole number as a decimal string, e.g. "4294967296"');
    },
  });
  return builder;
}

/** A subgraph's builder (what `createBuilder` returns). */
export type HubBuilder<Ctx extends HubContext> = ReturnType<typeof createBuilder<Ctx>>;

/** What a connection's `pageInfo` field resolves to. */
export interface PageInfoShape {
  hasNextPage: boolean;
  endCursor: string | null;
  /** Whether a page precedes this one (every connection pages both ways: lib/paging.ts `keysetPages`). */
  hasPreviousPage?: boolean;
  /** Cursor of the first item; computed by `pageInfoOf`. */
  startCursor?: string | null;
}

/**
 * The Relay `PageInfo` type, @shareable: every subgraph with a connection declares it, and
 * composition needs the same fields (and descriptions) everywhere, so it is defined here once.
 */
export function definePageInfo<Ctx extends HubContext>(builder: HubBuilder<Ctx>) {
  return builder.objectRef<PageInfoShape>("PageInfo").implement({
    description: "Relay cursor pagination (the Relay connection spec): whether items follow or precede this page, and the cursors to continue from.",
    shareable: true,
    fields: (t) => ({
      hasNextPage: t.exposeBoolean("hasNextPage", { description: "True when another page follows this one (items older than endCursor, in a list newest first)." }),
      endCursor: t.exposeString("endCursor", { nullable: true, description: "Cursor of the last item of this page; pass it as `after` for the next page." }),
      hasPreviousPage: t.boolean({
        description: "True when another page precedes this one (items newer than startCursor; pass startCursor as `before` with `last`). False on a first page (no `after`).",
        resolve: (p) => p.hasPreviousPage ?? false,
      }),
      startCursor: t.string({ nullable: true, description: "Cursor of the first item of this page; pass it as `before` (with `last`) for the previous page.", resolve: (p) => p.startCursor ?? null }),
    }),
  });
}

/**
 * Relay's four paging arguments with their descriptions, the same on every connection (validated by
 * `pageRequest` in lib/paging.ts); `noun` names the items ("transactions"), newest first.
 */
export function pageArgs<Types extends SchemaTypes>(arg: ArgBuilder<Types>, noun: string, max = 100) {
  return {
    first: arg.int({ required: false, description: `Page size forward, 1–${max} (default 20); not with \`last\` (BAD_USER_INPUT).` }),
    after: arg.string({ required: false, description: `Continue after this cursor (pageInfo.endCursor of the previous page): older ${noun}.` }),
    last: arg.int({ required: false, description: `Page size backward, 1–${max} (default 20): the ${noun} just before \`before\` (or the oldest, without it), still listed newest first; not with \`first\`.` }),
    before: arg.string({ required: false, description: `The page just before this cursor (pageInfo.startCursor): newer ${noun}; with \`last\`, not with \`after\`.` }),
  };
}

/** The pageInfo of a page: whether another follows, and the cursor of its last row. */
export const pageInfoOf = <T>(page: { rows: readonly T[]; hasNextPage: boolean; hasPreviousPage?: boolean }, cursorOf: (row: T) => string): PageInfoShape => ({
  hasNextPage: page.hasNextPage,
  hasPreviousPage: page.hasPreviousPage ?? false,
  startCursor: page.rows.length ? cursorOf(page.rows[0]!) : null,
  endCursor: page.rows.length ? cursorOf(page.rows[page.rows.length - 1]!) : null,
});

/**
 * The `ErrorCode` enum: the hub's `extensions.code` values (lib/errors.ts ERROR_CODES, with their
 * descriptions), for fields that carry a code as data (`BatchRejection.code`). The wire values are
 * the codes themselves, so a client that read the former String sees the same text.
 */
export function defineErrorCodeEnum<Ctx extends HubContext>(builder: HubBuilder<Ctx>) {
  return builder.enumType("ErrorCode", {
    description: "A stable error code (the same values as errors' `extensions.code`; docs/errors.md). Branch on it, never on a message.",
    values: Object.fromEntries(Object.entries(ERROR_CODES).map(([code, description]) => [code, { description }])) as Record<ErrorCode, { description: string }>,
  });
}
