import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { afterAll, beforeAll, expect, test } from "vitest";
import { accessLogPlugin } from "./access-log-plugin.ts";
import { resolveSettings } from "./config.ts";
import { createContext, type MemberContext } from "./context.ts";
import { prisma } from "./db.ts";
import { schema } from "./schema/index.ts";
import { consentTo, enrolAt, type MemberHarness, newPartnerId, partnerPrincipal, startMemberHarness } from "./testing/harness.ts";

let h: MemberHarness;
beforeAll(async () => {
  h = await startMemberHarness();
});
afterAll(() => h?.close());

test("with the plugin, the request's log entry is stored (one INSERT) before the response is returned", async () => {
  const shop = newPartnerId();
  const m = await enrolAt(shop);
  await consentTo(m.id, shop, ["PROFILE_CONTACT"], "ACCOUNT_SERVICING");
  const apollo = new ApolloServer<MemberContext>({ schema, plugins: [accessLogPlugin, ApolloServerPluginInlineTraceDisabled()] });
  await apollo.start();
  const before = h.accessLogInserts();
  const ctx = createContext({ principal: partnerPrincipal(shop), requestId: "req-plugin", operationName: "Plugin" }, resolveSettings(), { autoFlushAccessLog: false });
  const res = await apollo.executeOperation({ query: `query($id: ID!) { member(id: $id) { email phone } }`, variables: { id: m.id } }, { contextValue: ctx });
  expect(res.body.kind === "single" && res.body.singleResult.data).toEqual({ member: { email: m.email, phone: m.phone } });
  // No waiting: the plugin flushed before the response.
  expect(await prisma().dataAccessEvent.findMany({ where: { requestId: "req-plugin" }, select: { memberId: true, categories: true, operationName: true } })).toEqual([
    { memberId: m.id, categories: ["PROFILE_CONTACT"], operationName: "Plugin" },
  ]);
  expect(h.accessLogInserts() - before).toBe(1);
  await apollo.stop();
});
