import { measureCost, PEER_SUBJECT } from "./scenarios/peers.ts"
console.log(JSON.stringify(await measureCost(PEER_SUBJECT, 500_000, 20_000)))
