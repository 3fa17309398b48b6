/**
 * The network round trip an export cannot go below, run as a child process (as the collector is one): N empty
 * OTLP/HTTP logs requests (an ExportLogsServiceRequest with no records: zero bytes of protobuf), one at a time
 * and `gap` ms apart over one kept-alive connection, as a quiet collector's exports go. Prints each request's
 * time, from the start of the request to the end of the answer, in ms, as one JSON array.
 *
 *   node bench/lib/roundTrip.ts URL N GAP_MS
 */
import { Agent, request } from "node:http"
import { setTimeout as sleep } from "node:timers/promises"

const [url, nText, gapText] = process.argv.slice(2)
if (url === undefined || nText === undefined || gapText === undefined)
  throw new Error("usage: roundTrip.ts URL N GAP_MS")
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

const post = () =>
  new Promise<number>((resolve, reject) => {
    const t0 = performance.now()
    const req = request(
      url,
      { method: "POST", agent, headers: { "Content-Type": "application/x-protobuf", "Content-Length": 0 } },
      (res) => {
        res.resume()
        res.on("end", () => resolve(performance.now() - t0))
      }
    )
    req.on("error", reject)
    req.end()
  })

const times: Array<number> = []
for (let i = 0; i < Number(nText); i++) {
  times.push(await post())
  await sleep(Number(gapText))
}
agent.destroy()
process.stdout.write(`${JSON.stringify(times)}\n`)
