/** Where the checkpoint lives, as the command line says it: `none`, `file:PATH` or `configmap:NAMESPACE/NAME`. */
import { Either } from "effect"
import { parseNamespacedName } from "../domain/kubeNames.ts"

export type CheckpointSpec =
  | { readonly _tag: "None" }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "ConfigMap"; readonly namespace: string; readonly name: string }

const FORMS = `"none", "file:PATH" or "configmap:NAMESPACE/NAME"`

export const parseCheckpointSpec = (text: string): Either.Either<CheckpointSpec, string> => {
  const value = text.trim()
  if (value === "none") return Either.right({ _tag: "None" })
  if (value.startsWith("file:")) {
    const path = value.slice("file:".length)
    return path === ""
      ? Either.left(
          `the checkpoint "file:" needs a path after the colon, e.g. file:/var/lib/k8s-event-collector/checkpoint`
        )
      : Either.right({ _tag: "File", path })
  }
  if (value.startsWith("configmap:")) {
    const rest = value.slice("configmap:".length)
    if (!rest.includes("/")) {
      return Either.left(
        `the checkpoint "${value}" needs a namespace and a name, ` +
          "e.g. configmap:monitoring/k8s-event-collector-checkpoint"
      )
    }
    return Either.match(parseNamespacedName(rest, "ConfigMap"), {
      onLeft: (why) => Either.left(`the checkpoint "${value}" ${why}`),
      onRight: ({ namespace, name }) => Either.right({ _tag: "ConfigMap", namespace, name })
    })
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
