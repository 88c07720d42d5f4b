import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { iterativeLookup } from '../../src/dht/lookup.js'
import { RoutingTable } from '../../src/dht/routing-table.js'
import { compareDistance } from '../../src/dht/node-id.js'
import type { Contact, KrpcResponse } from '../../src/dht/krpc.js'
import type { Endpoint } from '../../src/dht/rpc.js'

/**
 * A simulated DHT: n nodes, each whose table heard from `known` random others and from its 16 neighbours in id order
 * (as a joined node knows the nodes near its id); queries answered in memory.
 */
function network (n: number, known: number): { nodes: Contact[], tables: Map<number, RoutingTable>, dead: Set<number> } {
  const nodes: Contact[] = Array.from({ length: n }, (_, i) => ({ id: randomBytes(20), host: `10.${i >> 16}.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1 + i }))
  const tables = new Map<number, RoutingTable>()
  const order = nodes.map((_, i) => i).sort((a, b) => Buffer.compare((nodes[a] as Contact).id, (nodes[b] as Contact).id))
  const rank = new Map(order.map((node, r) => [node, r]))
  nodes.forEach((c, i) => {
    const t = new RoutingTable({ id: c.id })
    const r = rank.get(i) as number
    for (let d = -8; d <= 8; d++) {
      const j = order[r + d]
      if (j !== undefined && j !== i) t.heardFrom(nodes[j] as Contact, 'response')
    }
    for (let j = 0; j < known; j++) t.heardFrom(nodes[Math.floor(Math.random() * n)] as Contact, 'response')
    tables.set(i, t)
  })
  return { nodes, tables, dead: new Set() }
}

function answerer (net: ReturnType<typeof network>, target: Buffer, peersAt?: number) {
  return async (to: Endpoint): Promise<KrpcResponse> => {
    const i = to.port - 1
    if (net.dead.has(i)) throw new Error('timeout')
    const table = net.tables.get(i) as RoutingTable
    return {
      y: 'r', t: Buffer.from('aa'), id: (net.nodes[i] as Contact).id, token: Buffer.from([i & 0xff]),
      nodes: table.closest(target, 8),
      ...(i === peersAt ? { values: [{ ip: '192.0.2.1', port: 6881 }] } : {})
    }
  }
}

function truth (net: ReturnType<typeof network>, target: Buffer): string[] {
  return net.nodes.filter((_, i) => !net.dead.has(i)).map((c) => c.id).sort((a, b) => compareDistance(target, a, b)).slice(0, 8).map((b) => b.toString('hex'))
}

test('lookups in a simulated 1,000-node DHT converge on the true 8 closest in O(log n) round trips', async () => {
  const net = network(1000, 120)
  const rounds: number[] = []
  let recall = 0
  const runs = 30
  for (let r = 0; r < runs; r++) {
    const target = randomBytes(20)
    const start = net.tables.get(r) as RoutingTable
    const result = await iterativeLookup({ target, family: 4, seeds: start.closest(target, 16), query: answerer(net, target) })
    const want = truth(net, target)
    recall += result.closest.filter((c) => want.includes(c.id.toString('hex'))).length / 8
    rounds.push(result.stats.rounds)
    assert.ok(result.stats.queries <= 256)
    assert.equal(result.closest.length, 8)
    assert.ok(result.closest.every((c) => c.token !== undefined))
  }
  const hist: Record<number, number> = {}
  for (const r of rounds) hist[r] = (hist[r] ?? 0) + 1
  console.log(`# simulated n=1000: rounds ${JSON.stringify(hist)}, recall ${(recall / runs).toFixed(3)}`)
  assert.ok(recall / runs >= 0.9, `recall ${recall / runs}`)
  assert.ok(Math.max(...rounds) <= 10, `rounds ${rounds.join(',')}`) // log2(1000) ≈ 10
})

test('a lookup gets past dead nodes, reports peers once each, and returns only nodes that answered', async () => {
  const net = network(400, 100)
  for (let i = 0; i < 400; i += 5) net.dead.add(i) // 20% dead
  net.dead.delete(1)
  const target = randomBytes(20)
  const seen: string[] = []
  const withPeers = truth(net, target)[0]
  const holder = net.nodes.findIndex((c) => c.id.toString('hex') === withPeers)
  const result = await iterativeLookup({
    target, family: 4, seeds: (net.tables.get(1) as RoutingTable).closest(target, 16), query: answerer(net, target, holder),
    onPeer: (p) => { seen.push(`${p.ip}:${p.port}`) }
  })
  assert.deepEqual(seen, ['192.0.2.1:6881'])
  assert.deepEqual(result.peers, [{ ip: '192.0.2.1', port: 6881 }])
  assert.ok(result.closest.every((c) => !net.dead.has(c.port - 1)))
  assert.ok(result.stats.failures > 0 || result.stats.queries > 0)
})

test('bounds: queries per lookup, total time, abort', async () => {
  const never = (): Promise<KrpcResponse> => new Promise(() => {})
  const seeds = Array.from({ length: 50 }, (_, i) => ({ id: randomBytes(20), host: '10.0.0.1', port: 1 + i }))
  const t0 = Date.now()
  const timed = await iterativeLookup({ target: randomBytes(20), family: 4, seeds, query: never, slowMs: 10, timeoutMs: 150 })
  assert.equal(timed.stats.truncated, true)
  assert.deepEqual(timed.closest, [])
  assert.ok(Date.now() - t0 < 2000)
  assert.ok(timed.stats.queries <= 50)

  // A node that invents new far-away nodes forever is cut off by maxQueries.
  let counter = 0
  const endless = async (): Promise<KrpcResponse> => ({
    y: 'r', t: Buffer.from('aa'), id: randomBytes(20),
    nodes: Array.from({ length: 8 }, () => ({ id: randomBytes(20), host: '10.9.9.9', port: 1 + (counter++ % 60000) }))
  })
  const capped = await iterativeLookup({ target: randomBytes(20), family: 4, seeds: seeds.slice(0, 3), query: endless, maxQueries: 40 })
  assert.ok(capped.stats.queries <= 40, `${capped.stats.queries} queries`)

  const controller = new AbortController()
  const pending = iterativeLookup({ target: randomBytes(20), family: 4, seeds, query: never, signal: controller.signal })
  controller.abort()
  await assert.rejects(pending, { code: 'ERR_ABORTED' })
})

test('bootstrap endpoints without ids are asked first and join the candidates', async () => {
  const net = network(200, 80)
  const target = randomBytes(20)
  const result = await iterativeLookup({ target, family: 4, seeds: [{ host: '10.0.0.0', port: 1 }], query: answerer(net, target) })
  assert.equal(result.closest.length, 8)
  const want = truth(net, target)
  assert.ok(result.closest.filter((c) => want.includes(c.id.toString('hex'))).length >= 6)
})
