/**
 * The API server's rules for the names this collector is given (k8s.io/apimachinery's validation): a namespace is
 * a DNS-1123 label, a ConfigMap or Lease name a DNS-1123 subdomain. A name that breaks them is refused by the
 * server on every call, so it is refused at start-up instead. Each check returns what is wrong, or undefined.
 */
import { Either } from "effect"

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export const NAMESPACE_RULE =
  "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
const OBJECT_NAME_RULE =
  "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"

/** A DNS-1123 label (`metadata.namespace`). */
export const isNamespaceName = (name: string): boolean => name.length <= 63 && LABEL.test(name)

/** A DNS-1123 subdomain (`metadata.name` of a ConfigMap, a Lease). */
const isObjectName = (name: string): boolean => name.length <= 253 && SUBDOMAIN.test(name)

export interface NamespacedName {
  readonly namespace: string
  readonly name: string
}

/** `NAMESPACE/NAME` of an object of `kind`, or what is wrong with it. */
export const parseNamespacedName = (text: string, kind: string): Either.Either<NamespacedName, string> => {
  const slash = text.indexOf("/")
  if (slash < 0) return Either.left(`needs a namespace and a name, NAMESPACE/NAME`)
  const namespace = text.slice(0, slash)
  const name = text.slice(slash + 1)
  if (!isNamespaceName(namespace)) {
    const shown = JSON.stringify(namespace)
    return Either.left(`names the namespace ${shown}, which is not a valid namespace (${NAMESPACE_RULE})`)
  }
  if (!isObjectName(name)) {
    return Either.left(`names the ${kind} ${JSON.stringify(name)}, which is not a valid name (${OBJECT_NAME_RULE})`)
  }
  return Either.right({ namespace, name })
}
