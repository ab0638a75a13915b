import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";

/**
 * deploy/kubernetes/ against the Kubernetes API schemas (the `kubernetes-models` packages: each
 * object's OpenAPI schema from the Kubernetes API, validated with ajv; kubeconform is not
 * installable here), and the hub's own rules for them: probes, resources, disruption budgets, the
 * network policy, the migration Job, and no secret values in any file.
 */

const DIR = path.resolve(import.meta.dirname, "../../deploy/kubernetes");
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };
const objects: (Obj & { file: string })[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(DIR, file), "utf8")).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return { ...(d.toJS() as Obj), file };
    }),
  );

/** The kubernetes-models class of an object: `kubernetes-models/<group>/<version>` (core: `kubernetes-models/v1`). */
async function modelOf(apiVersion: string, kind: string): Promise<new (o: unknown) => { validate(): void }> {
  const mod = await import(`kubernetes-models/${apiVersion}`);
  const cls = mod[kind];
  if (!cls) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls;
}
async function validate(o: Obj): Promise<void> {
  const { file: _file, ...obj } = o as Obj & { file?: string };
  const Model = await modelOf(obj.apiVersion, obj.kind);
  new Model(obj).validate();
}

const SERVICES = { gateway: 4000, member: 4001, points: 4002, partner: 4003 } as const;
const of = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe("Kubernetes API schemas", () => {
  test.each(objects.map((o) => [`${o.file}: ${o.kind} ${o.metadata.name}`, o] as const))("%s is valid", async (_n, o) => {
    await validate(o);
  });

  test("the validation does catch mistakes (a misspelt field, a wrong type, a missing required field)", async () => {
    const deployment = structuredClone(of("Deployment", "hub-points")!);
    await expect(validate({ ...deployment, spec: { ...deployment.spec, replicas: "two" } })).rejects.toThrow(/replicas/);
    const noContainers = structuredClone(deployment);
    delete noContainers.spec.template.spec.containers;
    await expect(validate(noContainers)).rejects.toThrow(/containers/);
    const badProbe = structuredClone(deployment);
    badProbe.spec.template.spec.containers[0].readinessProbe.httpGet.port = { name: "http" };
    await expect(validate(badProbe)).rejects.toThrow();
  });
});

describe("the hub's rules for its manifests", () => {
  test.each(Object.entries(SERVICES))("%s: Deployment with /healthz and /readyz probes, requests and limits, non-root; a Service; a PodDisruptionBudget", (name, port) => {
    const d = of("Deployment", `hub-${name}`)!;
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.command).toEqual(["node", name === "gateway" ? "gateway/src/main.ts" : `subgraphs/${name}/src/main.ts`]);
    expect(c.ports).toEqual([{ name: "http", containerPort: port, protocol: "TCP" }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    for (const k of ["cpu", "memory"]) {
      expect(c.resources.requests[k], `${name} requests.${k}`).toBeDefined();
      expect(c.resources.limits[k], `${name} limits.${k}`).toBeDefined();
    }
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    const svc = of("Service", `hub-${name}`)!;
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(svc.spec.type).toBe("ClusterIP");
    const pdb = of("PodDisruptionBudget", `hub-${name}`)!;
    expect(pdb.spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBeLessThan(d.spec.replicas);
    // The service URLs the config hands out are these Services.
    if (name !== "gateway") expect(of("ConfigMap", "coalition-hub-config")!.data![`HUB_${name.toUpperCase()}_URL`]).toBe(`http://hub-${name}:${port}/graphql`);
  });

  test("NetworkPolicy: the subgraphs take traffic only from the hub's own pods (the gateway, and peers for outbox events); the gateway is the way in", () => {
    const np = of("NetworkPolicy", "hub-subgraphs-from-hub-only")!;
    expect(np.spec.policyTypes).toEqual(["Ingress"]);
    expect(np.spec.podSelector.matchExpressions).toEqual([{ key: "app.kubernetes.io/component", operator: "In", values: ["member", "points", "partner"] }]);
    expect(np.spec.ingress).toHaveLength(1);
    const from = np.spec.ingress[0].from;
    expect(from).toEqual([{ podSelector: { matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["gateway", "member", "points", "partner"] }] } }]);
    // No namespaceSelector / ipBlock: nothing outside this namespace's hub pods.
    expect(JSON.stringify(np.spec)).not.toMatch(/namespaceSelector|ipBlock/);
    for (const name of ["member", "points", "partner"]) expect(of("Deployment", `hub-${name}`)!.spec.template.metadata.labels["app.kubernetes.io/component"]).toBe(name);
  });

  test("the migration Job runs the image's migration command once, without the Prisma CLI", () => {
    const job = objects.find((o) => o.kind === "Job")!;
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(["node", "prisma/engine/migrate.mjs", "deploy"]);
    expect(job.spec.template.spec.restartPolicy).toBe("Never");
    expect(c.env.find((e: { name: string }) => e.name === "DATABASE_URL").valueFrom.secretKeyRef.name).toBe("coalition-hub-secrets");
  });

  test("no secret values: secrets only as secretKeyRef to coalition-hub-secrets (created by the operator), no Secret object", () => {
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const text = readdirSync(DIR)
      .map((f) => readFileSync(path.join(DIR, f), "utf8"))
      .join("\n");
    expect(text).not.toMatch(/"kty"|BEGIN (RSA |EC )?PRIVATE|postgresql:\/\/[^<\s]*:[^<@\s]+@/);
    for (const o of objects.filter((x) => x.kind === "Deployment")) {
      for (const e of o.spec.template.spec.containers[0].env ?? []) {
        if (/SECRET|KEYS|DATABASE_URL/.test(e.name)) expect(e.valueFrom?.secretKeyRef?.name, `${o.metadata.name} ${e.name}`).toBe("coalition-hub-secrets");
      }
    }
  });
});
