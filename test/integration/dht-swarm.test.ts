/**
 * A DHT of 500 of our nodes in this process, each on its own loopback address (127.40.0.1 to 127.41.243.1: every
 * node in a /24 of its own, so neither BEP 42 nor the one-node-per-/24 bucket rule gets in the way), all bootstrapped
 * from node 0. Real UDP, nothing outside 127.0.0.0/8.
 *
 * One test with steps in order, on one network: lookups converge on the true closest nodes in few round trips (the
 * distribution is printed), a node joining later learns a useful table within seconds, an announce is found from
 * elsewhere, and after 20% of the nodes are killed at once lookups and the announced peer still come through.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Dht, type LookupResult } from '../../src/dht/index.js'
import { compareDistance } from '../../src/dht/node-id.js'

const N = 500
const BATCH = 50
const K = 8
const host = (i: number): string => `127.${40 + (i >> 8)}.${i & 0xff}.1`
/** Short timeouts: on loopback an answer takes well under a millisecond; a dead node must not cost seconds. */
const TIMING = { queryTimeoutMs: 1_000, slowQueryMs: 200, lookupTimeoutMs: 10_000 }

function closestIds (nodes: readonly Dht[], target: Buffer, exclude?: Dht): string[] {
  return nodes.filter((n) => n !== exclude).map((n) => n.id).sort((a, b) => compareDistance(target, a, b)).slice(0, K).map((b) => b.toString('hex'))
}

interface Measured { rounds: Record<number, number>, recall: number, queries: number, meanMs: number, p95Ms: number }

/** `count` get_peers lookups for random targets from random nodes, `parallel` at a time, against the true closest. */
async function measure (live: readonly Dht[], count: number, parallel: number): Promise<Measured> {
  const rounds: Record<number, number> = {}
  const times: number[] = []
  let recall = 0
  let queries = 0
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      next++
      const target = randomBytes(20)
      const from = live[Math.floor(Math.random() * live.length)] as Dht
      const result: LookupResult = await from.lookup(target)
      const want = closestIds(live, target, from)
      recall += result.closest.filter((c) => want.includes(c.id.toString('hex'))).length / K
      rounds[result.stats.rounds] = (rounds[result.stats.rounds] ?? 0) + 1
      queries += result.stats.queries
      times.push(result.stats.durationMs)
    }
  }))
  times.sort((a, b) => a - b)
  return {
    rounds,
    recall: recall / count,
    queries: queries / count,
    meanMs: times.reduce((s, x) => s + x, 0) / count,
    p95Ms: times[Math.floor(count * 0.95)] ?? 0
  }
}

test('a 500-node loopback DHT: convergence, joining, announce, and 20% of the nodes killed at once', { timeout: 90_000 }, async (t) => {
  const nodes: Dht[] = []
  const extra: Dht[] = []
  try {
    const t0 = Date.now()
    nodes.push(await Dht.start({ host: host(0), ...TIMING }))
    const bootstrap = [`${host(0)}:${nodes[0]?.address().port}`]
    for (let b = 1; b < N; b += BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(BATCH, N - b) }, (_, j) => Dht.start({ host: host(b + j), bootstrap, ...TIMING })))
      nodes.push(...batch)
      await Promise.all(batch.map(async (n) => { await n.ready() }))
    }
    const sizes = nodes.map((n) => n.stats().nodes).sort((a, b) => a - b)
    const joinMs = Date.now() - t0
    t.diagnostic(`${N} nodes joined in ${joinMs} ms; table sizes min ${sizes[0]}, median ${sizes[N >> 1]}, max ${sizes[N - 1]}`)
    // The earliest joiners met an almost empty network and learn the rest from the queries they receive: K/2 is a
    // floor with room (the smallest seen is 10-12); the median is what a node ends up with.
    assert.ok((sizes[0] ?? 0) >= K / 2, `every node knows a few nodes (smallest table: ${sizes[0]})`)
    assert.ok((sizes[N >> 1] ?? 0) >= 4 * K, `median table: ${sizes[N >> 1]}`)

    // Convergence: the lookups find the true K closest nodes, in O(log n) round trips.
    const healthy = await measure(nodes, 60, 6)
    const log2n = Math.ceil(Math.log2(N))
    t.diagnostic(`healthy: rounds ${JSON.stringify(healthy.rounds)} (log2 n = ${log2n}), recall of the true ${K} closest ${healthy.recall.toFixed(3)}, ${healthy.queries.toFixed(1)} queries/lookup, ${healthy.meanMs.toFixed(1)} ms mean, ${healthy.p95Ms} ms p95`)
    assert.ok(healthy.recall >= 0.95, `recall ${healthy.recall}`)
    assert.ok(Math.max(...Object.keys(healthy.rounds).map(Number)) <= log2n, `rounds ${JSON.stringify(healthy.rounds)}`)

    // A node joining now learns enough of the table within seconds: its neighbourhood and more.
    const joinStart = Date.now()
    const joinLog: string[] = []
    const joiner = await Dht.start({ host: '127.39.0.1', bootstrap, ...TIMING, onLog: (m) => { joinLog.push(m) } })
    extra.push(joiner)
    await joiner.ready()
    const joinerMs = Date.now() - joinStart
    const js = joiner.stats()
    const near = closestIds(nodes, joiner.id)
    const knows = joiner.closestNodes(joiner.id, K).filter((c) => near.includes(c.id.toString('hex'))).length
    t.diagnostic(`joiner: ready in ${joinerMs} ms with ${js.nodes} nodes in ${js.buckets} buckets, ${knows} of its ${K} true neighbours (${joinLog.join('; ')})`)
    assert.ok(js.nodes >= 3 * K, `joiner table: ${js.nodes} nodes`)
    assert.ok(knows >= K - 1, `joiner knows ${knows} of its ${K} closest`)
    assert.ok(joinerMs < 10_000)

    // announce_peer, then get_peers from another node finds it.
    const infoHash = randomBytes(20)
    const announcer = nodes[123] as Dht
    const ann = await announcer.announce(infoHash, 45_678)
    t.diagnostic(`announce: accepted by ${ann.announced} of ${ann.attempted} closest nodes`)
    assert.ok(ann.announced >= K - 1, `announced to ${ann.announced}`)
    const seen: string[] = []
    const found = await (nodes[321] as Dht).lookup(infoHash, { onPeer: (p) => { seen.push(`${p.ip}:${p.port}`) } })
    assert.deepEqual(found.peers, [{ ip: host(123), port: 45_678 }])
    assert.deepEqual(seen, [`${host(123)}:45678`])

    // 20% killed at once (not the announcer): lookups still succeed, the announced peer is still found.
    const candidates = nodes.slice(1).filter((n) => n !== announcer)
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const tmp = candidates[i] as Dht
      candidates[i] = candidates[j] as Dht
      candidates[j] = tmp
    }
    const victims = new Set(candidates.slice(0, N / 5))
    await Promise.all([...victims].map(async (v) => { await v.close() }))
    const live = nodes.filter((n) => !victims.has(n))
    const hurt = await measure(live, 40, 8)
    t.diagnostic(`after killing ${victims.size}: rounds ${JSON.stringify(hurt.rounds)}, recall ${hurt.recall.toFixed(3)}, ${hurt.queries.toFixed(1)} queries/lookup, ${hurt.meanMs.toFixed(1)} ms mean, ${hurt.p95Ms} ms p95`)
    assert.ok(hurt.recall >= 0.85, `recall after the kill ${hurt.recall}`)
    const again = await (live[live.length - 1] as Dht).lookup(infoHash)
    assert.ok(again.peers.some((p) => p.ip === host(123) && p.port === 45_678), 'the announced peer is still found')
    const timeouts = live.reduce((s, n) => s + n.stats().timeouts, 0)
    t.diagnostic(`timeouts seen by the survivors: ${timeouts}; whole test ${Date.now() - t0} ms`)
  } finally {
    await Promise.all([...nodes, ...extra].map(async (n) => { await n.close() }))
  }
})
