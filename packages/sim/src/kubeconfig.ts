/** Client configuration pointing at the simulated API server. */
import { KubeConfig } from "@kubernetes/client-node"

export interface SimKubeConfigOptions {
  /** Namespace of the context (default "default"). */
  readonly namespace?: string
  /** Bearer token to send (the simulator accepts any). */
  readonly token?: string
}

/**
 * kubeconfig YAML for `url`. A plain `http://` server needs `insecure-skip-tls-verify: true` on the
 * cluster entry, otherwise @kubernetes/client-node refuses to build its HTTP agent.
 */
export const simKubeConfigYaml = (url: string, options: SimKubeConfigOptions = {}): string =>
  [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: sim",
    "  cluster:",
    `    server: ${JSON.stringify(url)}`,
    "    insecure-skip-tls-verify: true",
    "users:",
    "- name: sim",
    "  user:",
    `    token: ${JSON.stringify(options.token ?? "sim-token")}`,
    "contexts:",
    "- name: sim",
    "  context:",
    "    cluster: sim",
    "    user: sim",
    `    namespace: ${JSON.stringify(options.namespace ?? "default")}`,
    "current-context: sim",
    ""
  ].join("\n")

export const simKubeConfig = (url: string, options: SimKubeConfigOptions = {}): KubeConfig => {
  const kc = new KubeConfig()
  kc.loadFromString(simKubeConfigYaml(url, options))
  return kc
}
