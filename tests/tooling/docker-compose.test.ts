import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { parse } from "yaml";

// No Docker engine runs on these machines, so the file's structure is what we can check.
const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as {
  services: Record<
    string,
    { command?: string[]; ports?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; healthcheck?: { test: string[] }; build?: string; image?: string; volumes?: string[] }
  >;
  volumes?: Record<string, unknown>;
};
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };

test("services: postgres, a one-shot migration, three subgraphs and the gateway", () => {
  expect(Object.keys(compose.services).sort()).toEqual(["gateway", "member", "migrate", "partner", "points", "postgres"]);
  expect(compose.services.migrate.command).toEqual(["npx", "prisma", "migrate", "deploy"]);
});

test("each hub service runs its own npm script, on its port, with a health check", () => {
  const ports = { member: "4001", points: "4002", partner: "4003", gateway: "4000" } as const;
  for (const [name, port] of Object.entries(ports)) {
    const s = compose.services[name];
    expect(s.command).toEqual(["npm", "run", `start:${name}`]);
    expect(pkg.scripts[`start:${name}`], `package.json has start:${name}`).toBeTruthy();
    expect(s.ports).toEqual([`${port}:${port}`]);
    expect(s.healthcheck?.test.join(" ")).toContain(`127.0.0.1:${port}/`);
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

test("the gateway keeps its signing keys on a volume (a restart must not invalidate issued tokens)", () => {
  expect(compose.services.gateway.volumes).toContain("gateway-data:/app/.data");
  expect(compose.volumes).toHaveProperty("gateway-data");
  for (const name of ["migrate", "member", "points", "partner", "gateway"]) expect(compose.services[name].build).toBe(".");
  expect(compose.services.postgres.image).toBe("postgres:15");
});

test("Dockerfile: node:20-slim, locked install, Prisma client generated at build time, unprivileged user", () => {
  const lines = readFileSync("Dockerfile", "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"));
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  expect(lines[0]).toBe("FROM node:20-slim");
  // npm ci runs before the source is copied (layer cache), so the root postinstall (prisma generate,
  // which needs prisma/schema.prisma) must be skipped there and run after COPY . .
  expect(lines[at(/npm ci/)]).toContain("--ignore-scripts");
  expect(at(/npm ci/)).toBeLessThan(at(/^COPY \. \./));
  expect(at(/prisma generate/)).toBeGreaterThan(at(/^COPY \. \./));
  expect(at(/^USER node/)).toBeGreaterThan(at(/prisma generate/));
  const ignored = readFileSync(".dockerignore", "utf8").split("\n");
  for (const p of ["node_modules", "prisma/generated", ".data", ".git"]) expect(ignored).toContain(p);
});
