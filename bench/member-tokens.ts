import { activateAccount, memberSignIn } from "../scripts/oauth-client.ts";

/**
 * Member access tokens through the real flows (no back door): the admin issues each member an
 * activation code (GraphQL), the member activates on the activation page and signs in on the
 * sign-in page (authorization code + PKCE). Two password hashes per member, once per bench run.
 */
export async function memberTokensBySignIn(baseUrl: string, memberIds: string[]): Promise<{ memberId: string; token: string }[]> {
  const adminRes = await fetch(`${baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: "demo-admin", client_secret: "demo-admin-secret" }) });
  const adminToken = ((await adminRes.json()) as { access_token: string }).access_token;
  const tokens: { memberId: string; token: string }[] = [];
  for (const memberId of memberIds) {
    const res = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: "mutation($id: ID!) { issueActivationCode(memberId: $id) { code } }", variables: { id: memberId } }),
    });
    const code = ((await res.json()) as { data?: { issueActivationCode?: { code: string } } }).data?.issueActivationCode?.code;
    if (!code) throw new Error(`no activation code for ${memberId}`);
    const password = `bench-${memberId.slice(0, 8)}-password`;
    await activateAccount(baseUrl, memberId, code, password);
    tokens.push({ memberId, token: (await memberSignIn(baseUrl, memberId, password)).accessToken });
  }
  return tokens;
}
