import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { parse } from "yaml";

// No Docker engine runs on these machines, so the file's structure is what we can check.
const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as {
  services: Record<
    string,
    {
      command?: string[];
      ports?: string[];
      environment?: Record<string, string>;
      depends_on?: Record<string, { condition: string }>;
      healthcheck?: { test: string[] };
      build?: string;
      image?: string;
      volumes?: string[];
      networks?: string[];
    }
  >;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
};
const composeText = readFileSync("docker-compose.yml", "utf8");
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };

test("services: postgres, a one-shot migration, three subgraphs and the gateway", () => {
  expect(Object.keys(compose.services).sort()).toEqual(["gateway", "member", "migrate", "partner", "points", "postgres"]);
  expect(compose.services.migrate.command).toEqual(["node", "prisma/engine/migrate.mjs", "deploy"]);
});

test("each hub service runs its own main file on Node (no npm, no tsx), on its port, with a health check", () => {
  const ports = { member: "4001", points: "4002", partner: "4003", gateway: "4000" } as const;
  for (const [name, port] of Object.entries(ports)) {
    const s = compose.services[name];
    expect(s.command).toEqual(["node", name === "gateway" ? "gateway/src/main.ts" : `subgraphs/${name}/src/main.ts`]);
    expect(pkg.scripts[`start:${name}`], `package.json has start:${name}`).toBeTruthy();
    expect(s.environment?.[`${name === "gateway" ? "HUB" : name.toUpperCase()}_PORT`]).toBe(port);
    expect(s.healthcheck?.test.join(" ")).toContain(`127.0.0.1:${port}/`);
  }
});

test("only the gateway is published; PostgreSQL and the subgraphs are on an internal network with no published ports", () => {
  const published = Object.entries(compose.services)
    .filter(([, s]) => s.ports?.length)
    .map(([name]) => name);
  expect(published).toEqual(["gateway"]);
  expect(compose.services.gateway.ports).toEqual(["4000:4000"]);
  expect(compose.networks?.internal?.internal).toBe(true);
  for (const name of ["postgres", "migrate", "member", "points"]) expect(compose.services[name].networks, name).toEqual(["internal"]);
  expect(compose.services.gateway.networks).toEqual(["internal", "edge"]);
  expect(compose.networks?.edge?.internal ?? false).toBe(false);
  // The partner subgraph sends webhooks to partners' servers: a route out (egress), nothing published.
  expect(compose.services.partner.networks).toEqual(["internal", "egress"]);
  expect(compose.networks?.egress?.internal ?? false).toBe(false);
  expect(compose.services.partner.ports).toBeUndefined();
});

test("no default secrets: the database password, the internal secret and the signing keys are required variables", () => {
  // Compose interpolates before merging anchors: read the raw text for the ${VAR:?message} forms.
  expect(composeText).not.toMatch(/postgres:postgres@/);
  expect(composeText).not.toMatch(/POSTGRES_PASSWORD:\s*postgres\b/);
  expect(compose.services.postgres.environment?.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?.+\}$/);
  for (const name of ["migrate", "member", "points", "partner", "gateway"]) {
    const env = compose.services[name].environment ?? {};
    expect(env.DATABASE_URL).toContain("${POSTGRES_PASSWORD:?");
    expect(env.HUB_INTERNAL_SECRET).toMatch(/^\$\{HUB_INTERNAL_SECRET:\?.+\}$/);
    expect(env.HUB_DEMO, `${name} must not seed the demo`).toBeUndefined();
  }
  expect(compose.services.gateway.environment?.HUB_SIGNING_KEYS).toMatch(/^\$\{HUB_SIGNING_KEYS:\?.+\}$/);
  // Every ${VAR...} is either required (:?) or a non-secret with a default.
  for (const m of composeText.matchAll(/\$\{([A-Z_]+)(:[?-])?/g)) {
    if (/PASSWORD|SECRET|KEYS/.test(m[1]!)) expect(m[2], m[1]).toBe(":?");
  }
});

test("every hub service gets the database, the internal secret and the subgraph URLs", () => {
  for (const name of ["migrate", "member", "points", "partner", "gateway"]) {
    const env = compose.services[name].environment ?? {};
    expect(env.DATABASE_URL).toMatch(/^postgresql:\/\/.*@postgres:5432\//);
    expect(env.HUB_INTERNAL_SECRET).toBeDefined();
    expect(env.HUB_MEMBER_URL).toBe("http://member:4001/graphql");
    expect(env.HUB_POINTS_URL).toBe("http://points:4002/graphql");
    expect(env.HUB_PARTNER_URL).toBe("http://partner:4003/graphql");
  }
  expect(compose.services.gateway.environment?.HUB_PORT).toBe("4000");
});

test("start order: postgres healthy → migrate completed → subgraphs healthy → gateway", () => {
  expect(compose.services.migrate.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
  for (const name of ["member", "points", "partner"]) expect(compose.services[name].depends_on).toEqual({ migrate: { condition: "service_completed_successfully" } });
  expect(compose.services.gateway.depends_on).toEqual({
    member: { condition: "service_healthy" },
    points: { condition: "service_healthy" },
    partner: { condition: "service_healthy" },
  });
  expect(compose.services.postgres.healthcheck?.test.join(" ")).toContain("pg_isready");
});

test("the gateway keeps its files on a volume; every hub service is built from this repository", () => {
  expect(compose.services.gateway.volumes).toContain("gateway-data:/app/.data");
  expect(compose.volumes).toHaveProperty("gateway-data");
  for (const name of ["migrate", "member", "points", "partner", "gateway"]) expect(compose.services[name].build).toBe(".");
  expect(compose.services.postgres.image).toBe("postgres:15");
});

test("Dockerfile: production mode, binds to loopback unless told otherwise, exposes only the gateway's port", () => {
  const lines = readFileSync("Dockerfile", "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"));
  const env = lines.filter((l) => l.startsWith("ENV ")).join(" ");
  expect(env).toContain("NODE_ENV=production");
  expect(env).not.toMatch(/HUB_HOST/);
  expect(lines.filter((l) => l.startsWith("EXPOSE"))).toEqual(["EXPOSE 4000"]);
  // The subgraphs' listen address comes from compose, per service (their containers' internal interface).
  for (const name of ["member", "points", "partner", "gateway"]) expect(compose.services[name].environment?.HUB_HOST).toBe("0.0.0.0");
});

// The Dockerfile itself (stages, user, dependencies, command): tests/tooling/image.test.ts.
