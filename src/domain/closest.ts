/**
 * "Did you mean …?" for a misspelt flag, configuration key or rule field: one algorithm for all of them.
 * Names are compared without regard to case and separators (`batch-size`, `batchSize`, `batch_size` are the same),
 * by the optimal string alignment distance: insertions, deletions, substitutions and swaps of two neighbouring
 * letters each count one, so `sorce` is one step from `source` and `batchSzie` one from `batchSize`. A name cut
 * short at one end (`queue` for `queue-size`) is near too.
 */

const normalized = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, "")

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
export const editDistance = (a: string, b: string): number => {
  // d[i][j]: distance between the first i letters of a and the first j of b.
  const d: Array<Array<number>> = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  const cell = (i: number, j: number): number => d[i]?.[j] ?? Number.MAX_SAFE_INTEGER
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? []
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1]
      let best = Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + (same ? 0 : 1))
      const swapped = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]
      if (swapped) best = Math.min(best, cell(i - 2, j - 2) + 1)
      row[j] = best
    }
  }
  return cell(a.length, b.length)
}

/**
 * How far a name may be from a known one to be taken for it: one edit in every three letters (at least one); or
 * any number of letters left out at one end (`cluster` for `cluster-name`), when at least half the name is there.
 */
const nearEnough = (name: string, known: string, distance: number): boolean =>
  distance <= Math.max(1, Math.floor(known.length / 3)) ||
  (name.length >= 4 && name.length * 2 >= known.length && (known.startsWith(name) || known.endsWith(name)))

/** The known name closest to `name`, when it is near enough to be a slip. Ties go to the name listed first. */
export const closest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  const n = normalized(name)
  let best: { readonly name: string; readonly distance: number } | undefined
  for (const k of known) {
    const distance = editDistance(n, normalized(k))
    const better = best === undefined || distance < best.distance
    if (better && nearEnough(n, normalized(k), distance)) best = { name: k, distance }
  }
  return best?.name
}
