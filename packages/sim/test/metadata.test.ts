/**
 * Metadata-only reads, as client-go's metadata client asks for them: the `Accept` media type parameters
 * `as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` on a list and `as=PartialObjectMetadata;g=meta.k8s.io;v=v1`
 * on a get or a watch give `meta.k8s.io/v1` objects with nothing but `metadata`; a media type the server cannot
 * send is 406 NotAcceptable. Plain HTTP with `fetch`, so that the header is exactly what the test says.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Resources, type SimServer, startSimServer } from "../src/index.ts"
import { waitUntil } from "./helpers.ts"

const LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
const ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

let sim: SimServer

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 50 })
})

afterEach(async () => {
  await sim.close()
})

const get = async (path: string, accept: string) => {
  const r = await fetch(sim.url + path, { headers: { Accept: accept } })
  return { status: r.status, body: (await r.json()) as Record<string, unknown> }
}

const seed = () => {
  const deployment = sim.objects.deployment({ name: "web", namespace: "shop" })
  const rs = sim.objects.replicaSet({ name: "web-7d9f8b", namespace: "shop", owner: deployment })
  const pod = sim.objects.pod({ name: "web-7d9f8b-x2x9q", namespace: "shop", owner: rs, nodeName: "node-1" })
  return { rs, pod }
}

describe("metadata-only reads", () => {
  it("a list asked as PartialObjectMetadataList holds only apiVersion, kind and metadata of each item", async () => {
    const { pod } = seed()
    const { status, body } = await get("/api/v1/namespaces/shop/pods", LIST)
    expect(status).toBe(200)
    expect(body["kind"]).toBe("PartialObjectMetadataList")
    expect(body["apiVersion"]).toBe("meta.k8s.io/v1")
    expect(body["items"]).toEqual([
      { apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: pod.metadata }
    ])
  })

  it("a get asked as PartialObjectMetadata is the object's metadata; plain JSON is the whole object", async () => {
    const { rs } = seed()
    const path = "/apis/apps/v1/namespaces/shop/replicasets/web-7d9f8b"
    expect((await get(path, ONE)).body).toEqual({
      apiVersion: "meta.k8s.io/v1",
      kind: "PartialObjectMetadata",
      metadata: rs.metadata
    })
    const whole = await get(path, "application/json")
    expect(whole.body["kind"]).toBe("ReplicaSet")
    expect(whole.body["spec"]).toBeDefined()
  })

  it("a watch asked as PartialObjectMetadata streams metadata-only objects, deletions included", async () => {
    const { pod } = seed()
    const rv = String(sim.store.resourceVersion)
    const r = await fetch(`${sim.url}/api/v1/pods?watch=true&resourceVersion=${rv}`, { headers: { Accept: ONE } })
    expect(r.status).toBe(200)
    const reader = r.body?.getReader()
    let text = ""
    const reading = (async () => {
      for (;;) {
        const chunk = await reader?.read()
        if (chunk === undefined || chunk.done) return
        text += Buffer.from(chunk.value).toString("utf8")
      }
    })()
    const other = sim.objects.pod({ name: "other", namespace: "shop", nodeName: "node-2" })
    sim.store.delete(Resources.pods, "shop", pod.metadata.name)
    await waitUntil(() => text.split("\n").length > 2, 3000, "two watch events")
    const lines = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; object: Record<string, unknown> })
    expect(lines.map((l) => l.type)).toEqual(["ADDED", "DELETED"])
    expect(lines[0]?.object).toEqual({
      apiVersion: "meta.k8s.io/v1",
      kind: "PartialObjectMetadata",
      metadata: other.metadata
    })
    expect(lines[1]?.object["kind"]).toBe("PartialObjectMetadata")
    expect(Object.keys(lines[1]?.object ?? {}).sort()).toEqual(["apiVersion", "kind", "metadata"])
    await reader?.cancel()
    await reading
  })

  it("the first clause the server can send wins; none it can send is 406 NotAcceptable", async () => {
    seed()
    // A list cannot be sent as a single PartialObjectMetadata: the JSON fallback after it is.
    const fallback = await get("/api/v1/namespaces/shop/pods", `${ONE},application/json`)
    expect(fallback.body["kind"]).toBe("PodList")
    const refused = await get("/api/v1/namespaces/shop/pods", ONE)
    expect(refused.status).toBe(406)
    expect(refused.body).toMatchObject({ kind: "Status", code: 406, reason: "NotAcceptable" })
    expect((await get("/api/v1/namespaces/shop/pods", "application/xml")).status).toBe(406)
  })
})
