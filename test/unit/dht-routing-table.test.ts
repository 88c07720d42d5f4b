import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { RoutingTable } from '../../src/dht/routing-table.js'
import { commonPrefixBits, compareDistance, randomIdAtPrefix } from '../../src/dht/node-id.js'
import { DHT_K, DHT_MAX_BUCKETS, DHT_NODE_GOOD_MS, DHT_REPLACEMENTS_PER_BUCKET } from '../../src/dht/constants.js'

const OWN = Buffer.alloc(20, 0)
let port = 1000
const contact = (id: Buffer, host = '127.0.0.1'): { id: Buffer, host: string, port: number } => ({ id, host, port: port++ })

/** An id sharing exactly `bits` leading bits with ours. */
const at = (bits: number): Buffer => randomIdAtPrefix(OWN, bits)

test('randomIdAtPrefix lands in the bucket it names', () => {
  for (let bits = 0; bits < 160; bits++) assert.equal(commonPrefixBits(at(bits), OWN), bits)
})

test('the bucket holding our id splits when full; the others keep K nodes and send the rest to replacements', () => {
  const clock = { t: 0 }
  const table = new RoutingTable({ id: OWN, now: () => clock.t })
  // K far nodes (first bit differs): one bucket, full.
  for (let i = 0; i < DHT_K; i++) assert.equal(table.heardFrom(contact(at(0)), 'response'), 'added')
  assert.equal(table.bucketCount, 1)
  // A near node: the full bucket holds our id, so it splits.
  assert.equal(table.heardFrom(contact(at(5)), 'response'), 'added')
  assert.equal(table.bucketCount, 2)
  assert.deepEqual(table.shape()[0], { nodes: DHT_K, replacements: 0 })
  // More far nodes: bucket 0 no longer holds our id and is full of good nodes: replacements, then dropped.
  for (let i = 0; i < DHT_REPLACEMENTS_PER_BUCKET + 5; i++) assert.equal(table.heardFrom(contact(at(0)), 'response'), 'replacement')
  assert.deepEqual(table.shape()[0], { nodes: DHT_K, replacements: DHT_REPLACEMENTS_PER_BUCKET })
  assert.equal(table.size, DHT_K + 1)
})

test('the table stays within 160 buckets of K, whatever is inserted', () => {
  const table = new RoutingTable({ id: OWN })
  for (let i = 0; i < 5000; i++) table.heardFrom(contact(randomBytes(20)), 'response')
  for (let bits = 0; bits < 160; bits++) for (let j = 0; j < 12; j++) table.heardFrom(contact(at(bits)), 'response')
  assert.ok(table.bucketCount <= DHT_MAX_BUCKETS)
  for (const b of table.shape()) {
    assert.ok(b.nodes <= DHT_K)
    assert.ok(b.replacements <= DHT_REPLACEMENTS_PER_BUCKET)
  }
  assert.ok(table.size <= DHT_MAX_BUCKETS * DHT_K)
  // Every member sits in the bucket of its prefix length (the last holds all longer ones).
  const shape = table.shape()
  assert.equal(shape.reduce((s, b) => s + b.nodes, 0), table.size)
})

test('closest() is the true XOR order, bad nodes left out', () => {
  const table = new RoutingTable({ id: OWN })
  for (let i = 0; i < 400; i++) table.heardFrom(contact(randomBytes(20)), 'response')
  const target = randomBytes(20)
  const all = table.nodes().sort((a, b) => compareDistance(target, a.id, b.id))
  assert.deepEqual(table.closest(target, 8).map((n) => n.id.toString('hex')), all.slice(0, 8).map((n) => n.id.toString('hex')))
  const first = all[0]
  assert.ok(first !== undefined)
  table.failed(first.id)
  table.failed(first.id)
  assert.ok(!table.closest(target, 8).some((n) => n.id.equals(first.id)), 'a bad node is never handed out')
})

test('a stale node gives way: a bad member is replaced by a newcomer, a failing one by its best replacement', () => {
  const table = new RoutingTable({ id: OWN })
  const far = Array.from({ length: DHT_K }, () => contact(at(0)))
  for (const c of far) table.heardFrom(c, 'response')
  table.heardFrom(contact(at(3)), 'response') // split, so bucket 0 cannot split any more
  const victim = far[0]!
  table.failed(victim.id)
  assert.ok(table.get(victim.id) !== undefined, 'one failure is not enough (BEP 5: try once more)')
  table.failed(victim.id)
  const newcomer = contact(at(0))
  assert.equal(table.heardFrom(newcomer, 'response'), 'added', 'a bad member makes room')
  assert.equal(table.get(victim.id), undefined)

  // With replacements waiting, the second failure promotes the best one at once.
  const waiting = contact(at(0))
  assert.equal(table.heardFrom(waiting, 'response'), 'replacement')
  const second = far[1]!
  table.failed(second.id)
  table.failed(second.id)
  assert.equal(table.get(second.id), undefined)
  assert.ok(table.get(waiting.id) !== undefined)
})

test('a failing node with no replacement is removed after repeated failures', () => {
  const table = new RoutingTable({ id: OWN })
  const c = contact(at(0))
  table.heardFrom(c, 'response')
  for (let i = 0; i < 3; i++) table.failed(c.id)
  assert.ok(table.get(c.id) !== undefined)
  table.failed(c.id)
  assert.equal(table.get(c.id), undefined)
})

test('an id cannot move to another endpoint, nor an endpoint hold two ids', () => {
  const table = new RoutingTable({ id: OWN })
  const c = contact(at(2))
  table.heardFrom(c, 'response')
  assert.equal(table.heardFrom({ ...c, port: c.port + 1 }, 'response'), 'rejected')
  assert.equal(table.heardFrom({ ...c, id: at(4) }, 'response'), 'rejected')
  assert.equal(table.heardFrom({ ...c, id: OWN }, 'response'), 'rejected')
  assert.equal(table.heardFrom(c, 'query'), 'updated')
})

test('restrictIps: one node per /24 per bucket on public addresses; local ones exempt', () => {
  const table = new RoutingTable({ id: OWN })
  assert.equal(table.heardFrom(contact(at(0), '203.0.113.5'), 'response'), 'added')
  assert.equal(table.heardFrom(contact(at(0), '203.0.113.77'), 'response'), 'rejected')
  assert.equal(table.heardFrom(contact(at(0), '203.0.114.1'), 'response'), 'added')
  assert.equal(table.heardFrom(contact(at(0), '10.0.0.1'), 'response'), 'added')
  assert.equal(table.heardFrom(contact(at(0), '10.0.0.2'), 'response'), 'added')
  assert.equal(table.heardFrom(contact(at(0), '2001:db8:1:2::1'), 'response'), 'added')
  assert.equal(table.heardFrom(contact(at(0), '2001:db8:1:2::9'), 'response'), 'rejected')
  const open = new RoutingTable({ id: OWN, restrictIps: false })
  open.heardFrom(contact(at(0), '203.0.113.5'), 'response')
  assert.equal(open.heardFrom(contact(at(0), '203.0.113.77'), 'response'), 'added')
})

test('good, questionable and stale follow BEP 5 times (injected clock)', () => {
  const clock = { t: 1_000_000 }
  const table = new RoutingTable({ id: OWN, now: () => clock.t })
  const answered = contact(at(0))
  const queriedOnly = contact(at(1))
  table.heardFrom(answered, 'response')
  table.heardFrom(queriedOnly, 'query')
  assert.equal(table.isGood(table.get(answered.id)!), true)
  assert.equal(table.isGood(table.get(queriedOnly.id)!), false, 'a node that never answered is not good')
  assert.deepEqual(table.questionable(10).map((n) => n.id), [queriedOnly.id])
  clock.t += DHT_NODE_GOOD_MS
  assert.equal(table.isGood(table.get(answered.id)!), false, 'questionable after 15 minutes of silence')
  assert.equal(table.questionable(10).length, table.bucketCount, 'one per bucket: its least recently seen')
  assert.deepEqual(table.staleBuckets(DHT_NODE_GOOD_MS), [0, 1].slice(0, table.bucketCount))
  table.heardFrom(answered, 'response')
  assert.equal(table.isGood(table.get(answered.id)!), true)
})
