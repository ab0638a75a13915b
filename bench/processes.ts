// The hub's services as separate processes (docker-compose's arrangement), for the benchmarks:
// ports the OS hands out, the environment every service reads, start, wait for /healthz, stop.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { type Database, migrate, openDatabase } from "../lib/db.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export type Service = "member" | "points" | "partner" | "gateway";
const MAIN: Record<Service, string> = {
  member: "subgraphs/member/src/main.ts",
  points: "subgraphs/points/src/main.ts",
  partner: "subgraphs/partner/src/main.ts",
  gateway: "gateway/src/main.ts",
};

/**
 * `n` distinct ports the OS says are free now (a random range collided with other benchmarks'
 * servers): all held open together, then released for the services to take.
 */
export async function freePorts(n: number): Promise<number[]> {
  const holders = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once("error", reject);
          srv.listen(0, "127.0.0.1", () => resolve(srv));
        }),
    ),
  );
  const ports = holders.map((h) => (h.address() as AddressInfo).port);
  await Promise.all(holders.map((h) => new Promise((r) => h.close(r))));
  return ports;
}

export interface Services {
  env: NodeJS.ProcessEnv;
  ports: Record<Service, number>;
  /** The subgraphs' base URLs (what the gateway is pointed at). */
  urls: { member: string; points: string; partner: string };
  children: Partial<Record<Service, ChildProcess>>;
  /** SIGTERM to each running service (the given order, default: reverse start order), waiting for each exit. */
  stop(order?: Service[]): Promise<void>;
  /** `kill -9` these services (default: all) at once, and wait until they are gone (crash tests). */
  kill(services?: Service[]): Promise<void>;
  /** Starts these services again (default: all that are not running), same ports and environment, until /healthz answers. */
  restart(services?: Service[]): Promise<void>;
}

/**
 * Starts `services` (`tsx <service>/src/main.ts` each, in that order) over `databaseUrl`, each on a
 * port from the OS, and waits until every one answers /healthz. `nodeArgs(service)` adds node flags
 * (e.g. --cpu-prof). When one does not start, the others are stopped before the error is thrown.
 */
export async function startServices(opts: { services: Service[]; databaseUrl: string; internalSecret: string; dataDir: string; nodeArgs?: (service: Service) => string[] }): Promise<Services> {
  const [gateway, member, points, partner] = (await freePorts(4)) as [number, number, number, number];
  const ports = { gateway, member, points, partner };
  const urls = { member: `http://127.0.0.1:${member}`, points: `http://127.0.0.1:${points}`, partner: `http://127.0.0.1:${partner}` };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: opts.databaseUrl,
    HUB_INTERNAL_SECRET: opts.internalSecret,
    HUB_DATA_DIR: opts.dataDir,
    HUB_DB_POOL_SIZE: "20",
    HUB_LOG_LEVEL: "warn",
    HUB_PORT: String(gateway),
    MEMBER_PORT: String(member),
    POINTS_PORT: String(points),
    PARTNER_PORT: String(partner),
    HUB_MEMBER_URL: urls.member,
    HUB_POINTS_URL: urls.points,
    HUB_PARTNER_URL: urls.partner,
  };
  const children: Partial<Record<Service, ChildProcess>> = {};
  // Node itself with tsx as a loader, not the tsx CLI: the CLI runs the service in a child process
  // of its own, so a SIGKILL (crash tests) would kill only the wrapper and leave the service running.
  const spawnService = (s: Service) => {
    children[s] = spawn(process.execPath, ["--import", "tsx", ...(opts.nodeArgs?.(s) ?? []), path.join(ROOT, MAIN[s])], { cwd: ROOT, env, stdio: ["ignore", "ignore", "inherit"] });
  };
  const running = (s: Service) => {
    const c = children[s];
    return Boolean(c && c.exitCode === null && c.signalCode === null);
  };
  const stop = async (order: Service[] = [...opts.services].reverse()) => {
    for (const s of order) {
      const c = children[s];
      if (!c || !running(s)) continue;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await exited;
    }
  };
  const waitHealthy = async (services: Service[]) => {
    for (const s of services) {
      let ok = false;
      // Generous: on a loaded machine (CI, shared cores) loading a service through tsx took over 30 s.
      const deadline = Date.now() + 120_000;
      while (!ok && Date.now() < deadline) {
        if (children[s]!.exitCode !== null) throw new Error(`${s} exited with ${children[s]!.exitCode} while starting`);
        ok = await fetch(`http://127.0.0.1:${ports[s]}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      if (!ok) throw new Error(`${s} on port ${ports[s]} did not start within 120 s`);
    }
  };
  const kill = async (services: Service[] = opts.services) => {
    await Promise.all(
      services.map((s) => {
        const c = children[s];
        if (!c || !running(s)) return;
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGKILL");
        return exited;
      }),
    );
  };
  const restart = async (services: Service[] = opts.services.filter((s) => !running(s))) => {
    for (const s of services) if (!running(s)) spawnService(s);
    await waitHealthy(services);
  };
  for (const s of opts.services) spawnService(s);
  try {
    await waitHealthy(opts.services);
  } catch (e) {
    // Not started: the caller never gets a stop(), so stop the children here.
    await stop();
    throw e;
  }
  return { env, ports, urls, children, stop, kill, restart };
}

/** A bench gateway process (bench/gateway-child.ts) with an IPC channel: its URL, memory, CPU
 * usage and profiles on request (`request(message, answerKey)`), stop. */
export async function startGatewayChild(kind: "ours" | "apollo", env: NodeJS.ProcessEnv, nodeArgs: string[] = []) {
  const child = fork(path.join(ROOT, "bench/gateway-child.ts"), [kind], { env, execArgv: ["--import", "tsx", ...nodeArgs], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${kind} gateway exited with ${code}`)));
    child.on("message", (m: { ready?: string }) => m.ready && resolve(m.ready));
  });
  const request = <T = unknown>(message: unknown, answer: string) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (!(answer in m)) return;
        child.off("message", on);
        resolve(m[answer] as T);
      };
      child.on("message", on);
      child.send(message as string);
    });
  const memory = () => request<NodeJS.MemoryUsage>("mem", "mem");
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.send("stop");
    await exited;
  };
  return { child, url, memory, request, stop };
}

/** One statement on the benches' PostgreSQL server (CREATE/DROP DATABASE of a scratch database), on a connection of its own. */
export async function adminSql(sql: string, base = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres"): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * A scratch database on the benches' PostgreSQL server for `fn`: created as `<prefix>_<pid>_<now>`,
 * migrated, opened with `poolSize` connections; closed and dropped afterwards, whatever `fn` did.
 */
export async function withScratchDatabase<T>(prefix: string, fn: (db: Database) => Promise<T>, opts: { base?: string; poolSize?: number } = {}): Promise<T> {
  const base = opts.base ?? process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const name = `${prefix}_${process.pid}_${Date.now()}`;
  await adminSql(`CREATE DATABASE "${name}"`, base);
  const u = new URL(base);
  u.pathname = `/${name}`;
  const db = await openDatabase({ url: u.toString(), poolSize: opts.poolSize ?? 2 });
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
    await adminSql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`, base);
  }
}
