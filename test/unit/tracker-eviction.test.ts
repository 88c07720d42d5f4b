/**
 * The swarms' bounds make room instead of refusing (swarms.ts): the least recently active swarm, the oldest peer of
 * the least recently active swarm, a full swarm's oldest peer. Also the min interval rule, and onCompleted.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Swarms, type SwarmLimits } from '../../src/tracker/swarms.js'
import type { AnnounceEvent, AnnounceParams } from '../../src/tracker/announce-params.js'

const T0 = 1_700_000_000_000
const hash = (n: number): string => n.toString(16).padStart(40, '0')

function params (infoHash: string, port: number, event: AnnounceEvent = '', left = 100): AnnounceParams {
  return { infoHash, peerId: `-TS0001-${String(port).padStart(12, '0')}`, port, uploaded: 0, downloaded: 0, left, event, numwant: 50, compact: true, noPeerId: false }
}

/** The peers of a swarm as "ip:port", in announce order (oldest first); [] for a swarm the tracker does not hold. */
function peersOf (swarms: Swarms, infoHash: string, now = T0): string[] {
  const out: string[] = []
  for (let p = swarms.get(infoHash, now)?.oldest; p !== undefined; p = p.newer) out.push(`${p.ip}:${p.port}`)
  return out
}

function make (limits: Partial<SwarmLimits>, enforcedMinIntervalS = 0): Swarms {
  return new Swarms({ intervalS: 1800, limits, enforcedMinIntervalS })
}

describe('bounded swarms: the least recently active goes first', () => {
  test('past maxSwarms a new swarm evicts the least recently active one, with its peers', () => {
    const swarms = make({ maxSwarms: 3 })
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0)
    swarms.announce(params(hash(2), 2), '10.0.0.2', T0 + 1)
    swarms.announce(params(hash(2), 3), '10.0.0.3', T0 + 2)
    swarms.announce(params(hash(3), 4), '10.0.0.4', T0 + 3)
    // Swarm 1 is active again: swarm 2 is now the least recently active.
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0 + 4)
    swarms.announce(params(hash(4), 5), '10.0.0.5', T0 + 5)
    assert.equal(swarms.swarmCount, 3)
    assert.deepEqual(peersOf(swarms, hash(2)), [])
    assert.equal(swarms.get(hash(2), T0), undefined)
    assert.deepEqual([peersOf(swarms, hash(1)), peersOf(swarms, hash(3)), peersOf(swarms, hash(4))], [['10.0.0.1:1'], ['10.0.0.4:4'], ['10.0.0.5:5']])
    assert.equal(swarms.peerCount, 3, 'the evicted swarm\'s two peers are no longer counted')
    assert.deepEqual(swarms.evictions, { swarms: 1, peers: 0 })
  })

  test('a stopped counts as activity; a scrape (a read) does not', () => {
    const swarms = make({ maxSwarms: 2 })
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0)
    swarms.announce(params(hash(2), 2), '10.0.0.2', T0 + 1)
    swarms.announce(params(hash(1), 1, 'stopped'), '10.0.0.1', T0 + 2)
    assert.ok(swarms.stats(hash(2), T0 + 3))
    swarms.announce(params(hash(3), 3), '10.0.0.3', T0 + 4)
    assert.ok(swarms.get(hash(1), T0 + 4), 'the swarm that saw a stopped stays')
    assert.equal(swarms.get(hash(2), T0 + 4), undefined, 'the one only scraped goes')
  })

  test('past maxPeers the oldest peer of the least recently active swarm goes, empty swarms on the way too', () => {
    const swarms = make({ maxPeers: 3 })
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0)
    swarms.announce(params(hash(1), 2), '10.0.0.2', T0 + 1)
    swarms.announce(params(hash(2), 3), '10.0.0.3', T0 + 2)
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0 + 3) // swarm 1 active again; swarm 2 is the least recently active
    swarms.announce(params(hash(3), 4), '10.0.0.4', T0 + 4)
    assert.deepEqual([peersOf(swarms, hash(1)), peersOf(swarms, hash(2)), peersOf(swarms, hash(3))], [['10.0.0.2:2', '10.0.0.1:1'], [], ['10.0.0.4:4']])
    assert.equal(swarms.peerCount, 3)
    // Swarm 2 is empty and least recently active: it is dropped on the way to swarm 3's peer (swarm 1 is announcing).
    swarms.announce(params(hash(1), 5), '10.0.0.5', T0 + 5)
    assert.equal(swarms.get(hash(2), T0 + 5), undefined)
    assert.deepEqual([peersOf(swarms, hash(1)), peersOf(swarms, hash(3))], [['10.0.0.2:2', '10.0.0.1:1', '10.0.0.5:5'], []])
    // Only the announcing swarm has peers: it gives up its own oldest.
    swarms.announce(params(hash(1), 6), '10.0.0.6', T0 + 6)
    assert.deepEqual(peersOf(swarms, hash(1)), ['10.0.0.1:1', '10.0.0.5:5', '10.0.0.6:6'])
    assert.equal(swarms.peerCount, 3)
    assert.deepEqual(swarms.evictions, { swarms: 0, peers: 3 })
  })

  test('past maxPeersPerSwarm the swarm\'s least recently announced peer is replaced', () => {
    const swarms = make({ maxPeersPerSwarm: 3 })
    for (let n = 1; n <= 3; n++) swarms.announce(params(hash(1), n), `10.0.0.${n}`, T0 + n)
    swarms.announce(params(hash(1), 1), '10.0.0.1', T0 + 4)
    swarms.announce(params(hash(1), 4), '10.0.0.4', T0 + 5)
    assert.deepEqual(peersOf(swarms, hash(1)), ['10.0.0.3:3', '10.0.0.1:1', '10.0.0.4:4'])
    const swarm = swarms.get(hash(1), T0 + 5) ?? assert.fail('swarm')
    assert.equal(swarm.leechers.length, 3, 'the lists and their compact bytes follow')
    assert.equal(swarms.peerCount, 3)
    // A seeder replaced by a leecher: the counts move.
    swarms.announce(params(hash(1), 3, '', 0), '10.0.0.3', T0 + 6)
    swarms.announce(params(hash(1), 5), '10.0.0.5', T0 + 7)
    assert.deepEqual([swarm.seeders.length, swarm.leechers.length], [1, 2])
    assert.deepEqual(peersOf(swarms, hash(1)), ['10.0.0.4:4', '10.0.0.3:3', '10.0.0.5:5'])
  })

  test('random churn against small bounds: never past a bound, counts exact, never a throw', () => {
    const limits = { maxSwarms: 7, maxPeers: 40, maxPeersPerSwarm: 9 }
    const swarms = make(limits)
    const events: AnnounceEvent[] = ['', '', '', 'started', 'completed', 'stopped']
    // mulberry32: the same sequence on every run.
    let seed = 12345
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) % n
    }
    for (let i = 0; i < 20_000; i++) {
      const h = hash(random(20))
      const port = 1 + random(30)
      const ip = random(4) === 0 ? `2001:db8::${port.toString(16)}` : `10.0.${random(3)}.${port}`
      swarms.announce(params(h, port, events[random(events.length)], random(2) * 100), ip, T0 + i)
      if (i % 500 === 0 || i === 19_999) {
        assert.ok(swarms.swarmCount <= limits.maxSwarms)
        let total = 0
        for (let n = 0; n < 20; n++) {
          const swarm = swarms.get(hash(n), T0 + i)
          if (swarm === undefined) continue
          assert.ok(swarm.size <= limits.maxPeersPerSwarm)
          assert.equal(swarm.seeders.length + swarm.leechers.length, swarm.size)
          assert.equal(peersOf(swarms, hash(n), T0 + i).length, swarm.size)
          total += swarm.size
        }
        assert.equal(total, swarms.peerCount)
        assert.ok(total <= limits.maxPeers)
      }
    }
    assert.ok(swarms.evictions.swarms > 0 && swarms.evictions.peers > 0, JSON.stringify(swarms.evictions))
  })

  test('limits below 1 are refused', () => {
    assert.throws(() => make({ maxPeers: 0 }), RangeError)
    assert.throws(() => make({ maxSwarms: 1.5 }), RangeError)
  })
})

describe('minimum announce interval', () => {
  test('a regular announce before min interval gets counts and no peers, and changes nothing', () => {
    const swarms = new Swarms({ intervalS: 1800, limits: { maxPeersPerSwarm: 3 } })
    assert.equal(swarms.minIntervalMs, 28_000, 'min interval: half the interval, at most 30 s, less 2 s of clock slack')
    swarms.announce(params(hash(1), 1, 'started'), '10.0.0.1', T0)
    swarms.announce(params(hash(1), 2, 'started'), '10.0.0.2', T0 + 1)
    const early = swarms.announce(params(hash(1), 1, '', 0), '10.0.0.1', T0 + 27_999)
    assert.equal(early.early, true)
    assert.equal(early.swarm?.leechers.length, 2, 'left=0 was not applied: still a leecher')
    assert.equal(early.self?.lastSeen, T0)
    // Its place in the announce order was not refreshed either: a full swarm evicts it first.
    swarms.announce(params(hash(1), 3), '10.0.0.3', T0 + 2)
    swarms.announce(params(hash(1), 4), '10.0.0.4', T0 + 3)
    assert.deepEqual(peersOf(swarms, hash(1)), ['10.0.0.2:2', '10.0.0.3:3', '10.0.0.4:4'])
    // At min interval (a timer that fired up to 2 s early included): a regular announce again.
    const onTime = swarms.announce(params(hash(1), 2, '', 0), '10.0.0.2', T0 + 1 + 28_000)
    assert.equal(onTime.early, false)
    assert.equal(onTime.swarm?.seeders.length, 1)
  })

  test('started, completed and stopped are always applied, however soon', () => {
    const swarms = new Swarms({ intervalS: 1800 })
    swarms.announce(params(hash(1), 1, 'started'), '10.0.0.1', T0)
    const started = swarms.announce(params(hash(1), 1, 'started'), '10.0.0.1', T0 + 1)
    assert.equal(started.early, false)
    assert.equal(started.self?.lastSeen, T0 + 1)
    const completed = swarms.announce(params(hash(1), 1, 'completed', 0), '10.0.0.1', T0 + 2)
    assert.deepEqual([completed.early, completed.swarm?.seeders.length, completed.swarm?.downloaded], [false, 1, 1])
    swarms.announce(params(hash(1), 1, 'stopped'), '10.0.0.1', T0 + 3)
    assert.equal(swarms.peerCount, 0)
  })

  test('enforcedMinIntervalS overrides the rule; 0 turns it off', () => {
    const custom = new Swarms({ intervalS: 1800, enforcedMinIntervalS: 10 })
    custom.announce(params(hash(1), 1), '10.0.0.1', T0)
    assert.equal(custom.announce(params(hash(1), 1), '10.0.0.1', T0 + 9_999).early, true)
    assert.equal(custom.announce(params(hash(1), 1), '10.0.0.1', T0 + 10_000).early, false)
    const off = make({}, 0)
    off.announce(params(hash(1), 1), '10.0.0.1', T0)
    assert.equal(off.announce(params(hash(1), 1), '10.0.0.1', T0).early, false)
  })
})

describe('onCompleted', () => {
  test('called once per peer, on its first completed, with the info hash', () => {
    const calls: string[] = []
    const swarms = new Swarms({ intervalS: 1800, onCompleted: (h) => { calls.push(h) } })
    swarms.announce(params(hash(1), 1, 'completed', 0), '10.0.0.1', T0)
    swarms.announce(params(hash(1), 1, 'completed', 0), '10.0.0.1', T0 + 1)
    swarms.announce(params(hash(1), 2, 'started'), '10.0.0.2', T0 + 2)
    swarms.announce(params(hash(1), 2, 'completed', 0), '10.0.0.2', T0 + 3)
    swarms.announce(params(hash(2), 1, 'completed', 0), '10.0.0.1', T0 + 4)
    assert.deepEqual(calls, [hash(1), hash(1), hash(2)])
  })
})
