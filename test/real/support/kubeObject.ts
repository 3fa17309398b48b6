/** A decoded Kubernetes object, or any JSON mapping, whose shape is checked where it is read. */
export type KubeObject = { readonly [key: string]: unknown }

export const isKubeObject = (u: unknown): u is KubeObject => typeof u === "object" && u !== null && !Array.isArray(u)
