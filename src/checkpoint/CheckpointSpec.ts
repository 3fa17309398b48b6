/** Where the checkpoint lives, as the command line says it: `none`, `file:PATH` or `configmap:NAMESPACE/NAME`. */
import { Either } from "effect"

export type CheckpointSpec =
  | { readonly _tag: "None" }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "ConfigMap"; readonly namespace: string; readonly name: string }

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const FORMS = `"none", "file:PATH" or "configmap:NAMESPACE/NAME"`

export const parseCheckpointSpec = (text: string): Either.Either<CheckpointSpec, string> => {
  const value = text.trim()
  if (value === "none") return Either.right({ _tag: "None" })
  if (value.startsWith("file:")) {
    const path = value.slice("file:".length)
    return path === ""
      ? Either.left(`the checkpoint "file:" needs a path after the colon, e.g. file:/var/lib/k8s-event-collector/checkpoint`)
      : Either.right({ _tag: "File", path })
  }
  if (value.startsWith("configmap:")) {
    const rest = value.slice("configmap:".length)
    const slash = rest.indexOf("/")
    if (slash < 0) {
      return Either.left(`the checkpoint "${value}" needs a namespace and a name, e.g. configmap:monitoring/k8s-event-collector-checkpoint`)
    }
    const namespace = rest.slice(0, slash)
    const name = rest.slice(slash + 1)
    if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      return Either.left(
        `the checkpoint "${value}" names the namespace "${namespace}", which is not a valid namespace (lower-case letters, digits and '-', at most 63 characters)`
      )
    }
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      return Either.left(
        `the checkpoint "${value}" names the ConfigMap "${name}", which is not a valid name (lower-case letters, digits, '-' and '.', at most 253 characters)`
      )
    }
    return Either.right({ _tag: "ConfigMap", namespace, name })
  }
  return Either.left(`the checkpoint must be ${FORMS}, not "${text}"`)
}

export const formatCheckpointSpec = (spec: CheckpointSpec): string => {
  switch (spec._tag) {
    case "None":
      return "none"
    case "File":
      return `file:${spec.path}`
    case "ConfigMap":
      return `configmap:${spec.namespace}/${spec.name}`
  }
}
