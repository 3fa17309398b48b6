/** Workloads created through the API as their controllers would (there are none here): what events are about. */
import { field, type KubeClient, type KubeObject } from "./controlPlane.ts"

/** The ownerReferences of an object its controller `owner` made. */
export const ownedBy = (owner: KubeObject) => [
  {
    apiVersion: field(owner, "apiVersion"),
    kind: field(owner, "kind"),
    name: field(owner, "metadata", "name"),
    uid: field(owner, "metadata", "uid"),
    controller: true
  }
]

export const POD_SPEC = { containers: [{ name: "app", image: "registry.invalid/app:1" }] }

/** A Deployment `app` → ReplicaSet → Pod chain in `ns`; the pod's name. */
export const createDeploymentChain = async (admin: KubeClient, ns: string, app: string): Promise<string> => {
  const labels = { app }
  const template = { metadata: { labels }, spec: POD_SPEC }
  const selector = { matchLabels: labels }
  const deployment = await admin.create({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: app, namespace: ns },
    spec: { replicas: 1, selector, template }
  })
  const replicaSet = await admin.create({
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name: `${app}-7d9f8b6c5d`, namespace: ns, ownerReferences: ownedBy(deployment) },
    spec: { replicas: 1, selector, template }
  })
  const pod = `${app}-7d9f8b6c5d-x2k4p`
  await admin.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod, namespace: ns, labels, ownerReferences: ownedBy(replicaSet) },
    spec: POD_SPEC
  })
  return pod
}
