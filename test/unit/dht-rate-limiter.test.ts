import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AddressRateLimiter } from '../../src/dht/rate-limiter.js'
import { PeerStore } from '../../src/dht/peer-store.js'

test('each address has its own token bucket: a burst, then the refill rate', () => {
  const clock = { t: 0 }
  const limiter = new AddressRateLimiter({ burst: 5, perSecond: 2, now: () => clock.t })
  for (let i = 0; i < 5; i++) assert.equal(limiter.take('10.0.0.1'), true)
  assert.equal(limiter.take('10.0.0.1'), false)
  assert.equal(limiter.allows('10.0.0.1'), false)
  assert.equal(limiter.take('10.0.0.2'), true, 'another address is not affected')
  clock.t += 499
  assert.equal(limiter.take('10.0.0.1'), false)
  clock.t += 1 // 0.5 s at 2/s: one token
  assert.equal(limiter.take('10.0.0.1'), true)
  assert.equal(limiter.take('10.0.0.1'), false)
  clock.t += 60_000
  let n = 0
  while (limiter.take('10.0.0.1') && n < 100) n++
  assert.equal(n, 5, 'refill stops at the burst')
})

test('the table of addresses is bounded; a forgotten address starts full', () => {
  const limiter = new AddressRateLimiter({ burst: 1, perSecond: 0.001, maxAddresses: 100 })
  for (let i = 0; i < 1000; i++) limiter.take(`10.0.${i >> 8}.${i & 0xff}`)
  assert.equal(limiter.size, 100)
  assert.equal(limiter.take('10.0.0.0'), true)
})

test('the peer store keeps its bounds: peers per info hash, info hashes, peers in all, and expiry', () => {
  const clock = { t: 0 }
  const store = new PeerStore({ maxInfoHashes: 10, maxPeersPerInfoHash: 5, maxPeersTotal: 30, ttlMs: 1000, now: () => clock.t })
  const hash = (i: number): Buffer => Buffer.alloc(20, i)
  for (let p = 0; p < 20; p++) store.add(hash(1), { ip: '10.0.0.1', port: 1000 + p })
  assert.equal(store.get(hash(1), 100).length, 5)
  assert.deepEqual(store.get(hash(1), 100).map((x) => x.port).sort(), [1015, 1016, 1017, 1018, 1019], 'the oldest go first')
  for (let h = 2; h < 40; h++) store.add(hash(h), { ip: '10.0.0.2', port: h })
  assert.equal(store.infoHashes, 10)
  for (let h = 0; h < 10; h++) for (let p = 0; p < 5; p++) store.add(hash(100 + h), { ip: `10.0.1.${p}`, port: 1 })
  assert.ok(store.peers <= 30, `${store.peers} peers`)
  assert.equal(store.get(hash(109), 100).length, 5)
  assert.equal(store.add(hash(1), { ip: 'nonsense', port: 1 }), false)
  assert.equal(store.add(hash(1), { ip: '10.0.0.1', port: 0 }), false)
  clock.t += 1001
  assert.deepEqual(store.get(hash(109), 100), [])
  store.sweep()
  assert.equal(store.peers, 0)
  assert.equal(store.infoHashes, 0)
})

test('the peer store answers in the family asked, a random few when it has many', () => {
  const store = new PeerStore()
  const h = Buffer.alloc(20, 9)
  for (let p = 1; p <= 80; p++) store.add(h, { ip: '10.0.0.1', port: p })
  store.add(h, { ip: '2001:db8::1', port: 7 })
  assert.equal(store.get(h, 50, 4).length, 50)
  assert.deepEqual(store.get(h, 50, 6), [{ ip: '2001:db8::1', port: 7 }])
  store.add(h, { ip: '10.0.0.1', port: 1 }) // a re-announce refreshes, does not duplicate
  assert.equal(store.peers, 81)
})
