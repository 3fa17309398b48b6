/**
 * A minimal watch client, run as a child process: it opens one watch on the simulated API server, counts the
 * newline-delimited events until it has N (optionally JSON.parse-ing each, optionally saving the bytes), and
 * prints what it measured as one JSON line. It shows how fast the server can stream when the client does
 * (almost) nothing, and captures the exact bytes for the floor.
 *
 *   node bench/lib/rawWatch.ts URL N parse|count [SAVE_PATH]
 */
import { createWriteStream } from "node:fs"
import { get } from "node:http"

const [url, nText, mode, save] = process.argv.slice(2)
if (url === undefined || nText === undefined) throw new Error("usage: rawWatch.ts URL N parse|count [SAVE_PATH]")
const n = Number(nText)
const parse = mode === "parse"
const out = save === undefined ? undefined : createWriteStream(save)

let lines = 0
let bytes = 0
let firstByteMs: number | undefined
let rest = ""
const req = get(url, (res) => {
  res.setEncoding("utf8")
  res.on("data", (chunk: string) => {
    firstByteMs ??= Date.now()
    bytes += Buffer.byteLength(chunk)
    out?.write(chunk)
    let start = 0
    const text = rest + chunk
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
      const line = text.slice(start, i)
      start = i + 1
      if (parse) {
        const event = JSON.parse(line) as { type?: string }
        if (event.type === "BOOKMARK") continue
      } else if (line.startsWith('{"type":"BOOKMARK"')) continue
      if (++lines >= n) {
        const lastMs = Date.now()
        req.destroy()
        const finish = () => {
          process.stdout.write(`${JSON.stringify({ firstByteMs, lastMs, lines, bytes })}\n`)
          process.exit(0)
        }
        if (out !== undefined) out.end(finish)
        else finish()
        return
      }
    }
    rest = text.slice(start)
  })
})
req.on("error", (e) => {
  process.stderr.write(`rawWatch: ${e.message}\n`)
  process.exit(1)
})
