/**
 * The DHT on loopback: a network of our nodes in this process (each on its own 127.x.y.1, all bootstrapped from the
 * first), then get_peers lookups from random nodes for random targets, and the memory of a full peer store.
 *
 *   node --expose-gc dist/bench/dht.js [--nodes 500] [--lookups 200] [--parallel 4] [--hashes 10000] [--peers-per-hash 10]
 *
 * Prints a table: packets and bytes per lookup (all nodes' traffic during the lookups, divided by their number),
 * lookup time distribution, round trips, and the memory (heap and RSS growth) of the routing table and of the peer
 * store holding --hashes info hashes. Nothing leaves 127.0.0.0/8. Without --expose-gc the memory figures are rougher.
 */
import { randomBytes } from 'node:crypto'
import { Dht } from '../src/dht/index.js'
import { randomIdAtPrefix } from '../src/dht/node-id.js'
import { PeerStore } from '../src/dht/peer-store.js'
import { RoutingTable } from '../src/dht/routing-table.js'
import { arg, machineLine } from './lib.js'

const N = Number(arg('--nodes', '500'))
const LOOKUPS = Number(arg('--lookups', '200'))
const PARALLEL = Number(arg('--parallel', '4'))
const HASHES = Number(arg('--hashes', '10000'))
const PEERS_PER_HASH = Number(arg('--peers-per-hash', '10'))
const host = (i: number): string => `127.${40 + (i >> 8)}.${i & 0xff}.1`

function gc (): void {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) { g(); g() }
}

function memory (): { heap: number, rss: number } {
  gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, rss: m.rss }
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)

async function main (): Promise<void> {
  if (N > 4000) throw new Error('--nodes at most 4000 (one 127.x.y.1 each)')
  console.log(machineLine())
  const t0 = Date.now()
  const nodes: Dht[] = [await Dht.start({ host: host(0) })]
  const bootstrap = [`${host(0)}:${nodes[0]?.address().port}`]
  try {
    for (let b = 1; b < N; b += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, N - b) }, async (_, j) => await Dht.start({ host: host(b + j), bootstrap })))
      await Promise.all(batch.map(async (n) => { await n.ready() }))
      nodes.push(...batch)
    }
    const joinMs = Date.now() - t0
    const total = (): { packets: number, bytes: number } => nodes.reduce((s, n) => {
      const st = n.stats()
      return { packets: s.packets + st.packetsOut, bytes: s.bytes + st.bytesOut }
    }, { packets: 0, bytes: 0 })
    const before = total()
    const times: number[] = []
    const rounds: number[] = []
    const queries: number[] = []
    let next = 0
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < LOOKUPS) {
        next++
        const from = nodes[Math.floor(Math.random() * nodes.length)] as Dht
        const started = performance.now()
        const r = await from.lookup(randomBytes(20))
        times.push(performance.now() - started)
        rounds.push(r.stats.rounds)
        queries.push(r.stats.queries)
      }
    }))
    const after = total()
    times.sort((a, b) => a - b)
    rounds.sort((a, b) => a - b)
    const hist: Record<number, number> = {}
    for (const r of rounds) hist[r] = (hist[r] ?? 0) + 1
    const rows: Array<[string, string]> = [
      ['nodes', `${N} (joined in ${joinMs} ms)`],
      ['lookups', `${LOOKUPS}, ${PARALLEL} at a time`],
      ['packets per lookup (sent, all nodes)', ((after.packets - before.packets) / LOOKUPS).toFixed(1)],
      ['bytes per lookup (sent, all nodes)', ((after.bytes - before.bytes) / LOOKUPS).toFixed(0)],
      ['queries per lookup (mean)', (queries.reduce((s, x) => s + x, 0) / LOOKUPS).toFixed(1)],
      ['lookup ms p50 / p95 / max', `${pct(times, 0.5).toFixed(1)} / ${pct(times, 0.95).toFixed(1)} / ${(times[times.length - 1] ?? 0).toFixed(1)}`],
      ['round trips (count)', JSON.stringify(hist)]
    ]

    // Memory: a routing table filled to its bound, and a peer store with HASHES info hashes.
    const m0 = memory()
    const table = new RoutingTable({ id: randomBytes(20), restrictIps: false })
    let i = 0
    for (let bits = 0; bits < 160; bits++) { // K nodes and K replacements in every one of the 160 buckets: the bound
      for (let j = 0; j < 16; j++, i++) table.heardFrom({ id: randomIdAtPrefix(table.id, bits), host: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1 + j }, 'response')
    }
    const m1 = memory()
    const store = new PeerStore({ maxInfoHashes: HASHES, maxPeersTotal: HASHES * PEERS_PER_HASH })
    for (let h = 0; h < HASHES; h++) {
      const hash = randomBytes(20)
      for (let p = 0; p < PEERS_PER_HASH; p++) store.add(hash, { ip: `10.${p}.${(h >> 8) & 0xff}.${h & 0xff}`, port: 1 + p })
    }
    const m2 = memory()
    rows.push(
      ['routing table: nodes + replacements / heap / RSS growth', `${table.size} + ${table.replacementCount} / ${mb(m1.heap - m0.heap)} MB / ${mb(m1.rss - m0.rss)} MB`],
      [`peer store: ${store.infoHashes} hashes x ${PEERS_PER_HASH} peers / heap / RSS growth`, `${store.peers} peers / ${mb(m2.heap - m1.heap)} MB / ${mb(m2.rss - m1.rss)} MB`],
      ['process RSS at the end', `${mb(m2.rss)} MB (${N} DHT nodes in this process)`]
    )
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
  } finally {
    await Promise.all(nodes.map(async (n) => { await n.close() }))
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message)
  process.exitCode = 1
})
