/**
 * The UDP tracker's judgement of single packets (`UdpTracker.handle`), without sockets: every action, the limits,
 * and every way a packet can be wrong.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { udpTrackerMessages as m, type UdpAnnounceFields, type UdpTrackerReply } from '../../src/discovery/index.js'
import { Swarms, UdpTracker, type SwarmLimits } from '../../src/tracker/index.js'
import { RateLimiter } from '../../src/tracker/rate-limit.js'

const T0 = 1_700_000_000_000
const INFO = 'aa'.repeat(20)
const INFO2 = 'bb'.repeat(20)
const A = '10.0.0.5'

function setup (limits: Partial<SwarmLimits> = {}): { udp: UdpTracker, swarms: Swarms, advance: (ms: number) => void } {
  let now = T0
  const swarms = new Swarms({ intervalS: 1800, limits })
  const udp = new UdpTracker({ swarms, now: () => now, intervalS: 1800 })
  return { udp, swarms, advance: (ms) => { now += ms } }
}

function decode (reply: Buffer | undefined, ipv6 = false): UdpTrackerReply {
  assert.ok(reply !== undefined, 'a reply')
  return m.decodeReply(reply, { ipv6, maxPeers: 10_000 })
}

function connect (udp: UdpTracker, address = A, port = 40_000): Buffer {
  const reply = decode(udp.handle(m.encodeRequest({ type: 'connect', transactionId: 1 }), address, port))
  assert.equal(reply.type, 'connect')
  return reply.type === 'connect' ? reply.connectionId : Buffer.alloc(8)
}

function announcePacket (connectionId: Buffer, fields: Partial<UdpAnnounceFields> = {}): Buffer {
  return m.encodeRequest({
    type: 'announce', connectionId, transactionId: 0x5eed, infoHash: INFO, peerId: '-PS0010-000000000001',
    downloaded: 0, left: 100, uploaded: 0, event: m.EVENT_STARTED, ip: 0, key: 0, numWant: -1, port: 6881, ...fields
  })
}

/** Announces from `address`:`port` (a fresh connect first) and returns the decoded reply. */
function announce (udp: UdpTracker, address: string, port: number, fields: Partial<UdpAnnounceFields> = {}): UdpTrackerReply {
  const cid = connect(udp, address, port)
  return decode(udp.handle(announcePacket(cid, fields), address, port), address.includes(':') && !address.startsWith('::ffff:'))
}

function errorOf (reply: Buffer | undefined, transactionId?: number): string {
  const decoded = decode(reply)
  assert.equal(decoded.type, 'error')
  if (transactionId !== undefined) assert.equal(decoded.transactionId, transactionId)
  return decoded.type === 'error' ? decoded.message : ''
}

describe('connect, announce, scrape', () => {
  test('connect: a 16-byte reply with the transaction id and a connection id for this source', () => {
    const { udp } = setup()
    const reply = udp.handle(m.encodeRequest({ type: 'connect', transactionId: 0xabcdef01 }), A, 40_000)
    assert.equal(reply?.length, 16)
    const decoded = decode(reply)
    assert.equal(decoded.type, 'connect')
    assert.equal(decoded.transactionId, 0xabcdef01)
    assert.equal(udp.stats.connects, 1)
    // Two connects from the same source in the same window get the same id: nothing is stored per client.
    assert.deepEqual(connect(udp), connect(udp))
    assert.notDeepEqual(connect(udp, A, 40_001), connect(udp, A, 40_000))
  })

  test('announce: the transaction id comes back with interval, leechers, seeders and the other peers (6 bytes each)', () => {
    const { udp } = setup()
    const first = announce(udp, '10.0.0.1', 50_001, { port: 7001 })
    assert.deepEqual(first, { type: 'announce', transactionId: 0x5eed, interval: 1800, leechers: 1, seeders: 0, peers: [] })
    const second = announce(udp, '10.0.0.2', 50_002, { port: 7002, left: 0, peerId: '-PS0010-000000000002' })
    assert.deepEqual(second, { type: 'announce', transactionId: 0x5eed, interval: 1800, leechers: 1, seeders: 1, peers: [{ ip: '10.0.0.1', port: 7001 }] })
    assert.equal(udp.stats.announces, 2)
  })

  test('the peer is the packet\'s source address with the announced port: the IP address field and key are ignored', () => {
    const { udp, swarms } = setup()
    announce(udp, A, 40_000, { ip: 0x01020304, key: 1 })
    announce(udp, A, 40_000, { ip: 0x05060708, key: 2 })
    const swarm = swarms.get(INFO, T0)
    assert.equal(swarm?.size, 1, 'one endpoint, one peer, whatever the key')
    assert.deepEqual([...(swarm?.peers.values() ?? [])].map((p) => `${p.ip}:${p.port}`), [`${A}:6881`])
  })

  test('IPv6 source: the BEP 15 IPv6 form (18 bytes per peer); an IPv4-mapped source is IPv4', () => {
    const { udp, swarms } = setup()
    announce(udp, '10.0.0.1', 1, { port: 7001 })
    announce(udp, '2001:db8::1', 2, { port: 7002 })
    announce(udp, '2001:db8::2', 3, { port: 7003 })
    const v6 = udp.handle(announcePacket(connect(udp, '2001:db8::3', 4), { port: 7004 }), '2001:db8::3', 4)
    assert.equal(v6?.length, 20 + 2 * 18, 'the two other IPv6 peers, 18 bytes each; the IPv4 one does not fit this form')
    const peers = decode(v6, true)
    assert.deepEqual(peers.type === 'announce' && peers.peers.map((p) => p.ip).sort(), ['2001:db8::1', '2001:db8::2'])
    const mapped = announce(udp, '::ffff:10.0.0.9', 5, { port: 7005 })
    assert.deepEqual(mapped.type === 'announce' && mapped.peers, [{ ip: '10.0.0.1', port: 7001 }])
    assert.ok(swarms.get(INFO, T0)?.peers.has(167772169 * 65536 + 7005), 'kept as 10.0.0.9, the key HTTP gives it too')
  })

  test('num_want: -1 is the default (50), more than 200 is 200, 0 is none; IPv6 replies at most 67 (one unfragmented packet)', () => {
    const { udp } = setup()
    for (let i = 0; i < 250; i++) announce(udp, `10.0.${i >> 8}.${i & 0xff}`, 1000 + i, { port: 1000 + i })
    for (let i = 0; i < 80; i++) announce(udp, `2001:db8::${(i + 1).toString(16)}`, 1000 + i, { port: 1000 + i })
    const count = (numWant: number, address = '10.9.9.9'): number => {
      const reply = announce(udp, address, 9, { numWant, port: 9 })
      return reply.type === 'announce' ? reply.peers.length : -1
    }
    // A mixed swarm: some of the picks are of the other family, so IPv4 replies hold fewer than asked.
    const picked = count(-1)
    assert.ok(picked > 0 && picked <= 50, String(picked))
    assert.ok(count(1000) <= 200)
    assert.ok(count(1000) > 50)
    assert.equal(count(0), 0)
    assert.ok(count(3) <= 3)
    const v6 = count(1000, '2001:db8::ffff')
    assert.ok(v6 > 0 && v6 <= 67, String(v6))
  })

  test('events: stopped removes and gets no peers, completed counts once, paused (4) is a regular announce, 5 is refused', () => {
    const { udp, swarms } = setup()
    announce(udp, '10.0.0.1', 1, { port: 7001 })
    announce(udp, '10.0.0.2', 2, { port: 7002, event: m.EVENT_COMPLETED, left: 0 })
    announce(udp, '10.0.0.2', 2, { port: 7002, event: m.EVENT_COMPLETED, left: 0 })
    assert.deepEqual(swarms.stats(INFO, T0), { complete: 1, incomplete: 1, downloaded: 1 })
    assert.equal(announce(udp, '10.0.0.1', 1, { port: 7001, event: m.EVENT_PAUSED }).type, 'announce')
    assert.equal(swarms.stats(INFO, T0)?.incomplete, 1)
    const stopped = announce(udp, '10.0.0.1', 1, { port: 7001, event: m.EVENT_STOPPED })
    assert.deepEqual(stopped.type === 'announce' && stopped.peers, [])
    assert.deepEqual(swarms.stats(INFO, T0), { complete: 1, incomplete: 0, downloaded: 1 })
    const cid = connect(udp)
    assert.equal(errorOf(udp.handle(announcePacket(cid, { event: 5 }), A, 40_000), 0x5eed), 'Invalid event')
  })

  test('scrape: seeders, completed, leechers for every hash asked, in order; unknown hashes are zeros', () => {
    const { udp } = setup()
    announce(udp, '10.0.0.1', 1, { port: 7001 })
    announce(udp, '10.0.0.2', 2, { port: 7002, left: 0, event: m.EVENT_COMPLETED })
    announce(udp, '10.0.0.3', 3, { port: 7003, infoHash: INFO2 })
    const cid = connect(udp)
    const reply = decode(udp.handle(m.encodeRequest({ type: 'scrape', connectionId: cid, transactionId: 3, infoHashes: [INFO2, 'cc'.repeat(20), INFO, INFO] }), A, 40_000))
    assert.deepEqual(reply, {
      type: 'scrape',
      transactionId: 3,
      entries: [
        { seeders: 0, completed: 0, leechers: 1 },
        { seeders: 0, completed: 0, leechers: 0 },
        { seeders: 1, completed: 1, leechers: 1 },
        { seeders: 1, completed: 1, leechers: 1 }
      ]
    })
    // 74 hashes (BEP 15's "about 74") are served; 75 are refused.
    const hashes = (n: number): string[] => Array.from({ length: n }, (_, i) => i.toString(16).padStart(40, '0'))
    const full = decode(udp.handle(m.encodeRequest({ type: 'scrape', connectionId: cid, transactionId: 4, infoHashes: hashes(74) }), A, 40_000))
    assert.equal(full.type === 'scrape' && full.entries.length, 74)
    assert.equal(errorOf(udp.handle(m.encodeRequest({ type: 'scrape', connectionId: cid, transactionId: 5, infoHashes: hashes(75) }), A, 40_000), 5), 'Too many info hashes (at most 74)')
  })

  test('a full swarm makes room: the new peer replaces the oldest, as over HTTP', () => {
    const { udp, swarms } = setup({ maxPeersPerSwarm: 1 })
    announce(udp, '10.0.0.1', 1, { port: 7001 })
    const reply = announce(udp, A, 40_000)
    assert.ok(reply.type === 'announce')
    assert.deepEqual([reply.leechers, reply.peers], [1, []])
    assert.deepEqual([...swarms.get(INFO, T0)?.peers.values() ?? []].map((p) => `${p.ip}:${p.port}`), [`${A}:6881`])
  })
})

describe('bad packets', () => {
  test('shorter than 16 bytes, or from port 0: dropped without a reply', () => {
    const { udp } = setup()
    const connectPacket = m.encodeRequest({ type: 'connect', transactionId: 1 })
    for (let length = 0; length < 16; length++) assert.equal(udp.handle(connectPacket.subarray(0, length), A, 40_000), undefined, `${length} bytes`)
    assert.equal(udp.handle(connectPacket, A, 0), undefined)
    assert.equal(udp.stats.dropped, 17)
    assert.equal(udp.stats.connects, 0)
  })

  test('unknown action, connect without the protocol id, short announce, bad scrape length: error replies', () => {
    const { udp } = setup()
    const cid = connect(udp)
    const unknown = Buffer.concat([cid, Buffer.from('000000070000002a', 'hex')])
    assert.equal(errorOf(udp.handle(unknown, A, 40_000), 42), 'Unknown action')
    const noMagic = m.encodeRequest({ type: 'connect', transactionId: 9 })
    noMagic[0] = 1
    assert.equal(errorOf(udp.handle(noMagic, A, 40_000), 9), 'Bad protocol id')
    const full = announcePacket(cid)
    for (let length = 16; length < 98; length++) {
      assert.equal(errorOf(udp.handle(full.subarray(0, length), A, 40_000), 0x5eed), 'Announce request too short', `${length} bytes`)
    }
    const scrape = m.encodeRequest({ type: 'scrape', connectionId: cid, transactionId: 8, infoHashes: [INFO, INFO2] })
    const padded = Buffer.concat([scrape, Buffer.alloc(10)])
    for (const length of [16, 20, 35, 37, 55, 57]) {
      assert.equal(errorOf(udp.handle(padded.subarray(0, length), A, 40_000), 8), 'Scrape request: bad length', `${length} bytes`)
    }
    assert.equal(errorOf(udp.handle(announcePacket(cid, { port: 0 }), A, 40_000)), 'Invalid port')
    assert.equal(udp.stats.announces, 0)
  })

  test('forged, borrowed and expired connection ids: an error reply, never an announce or a scrape', () => {
    const { udp, swarms, advance } = setup()
    const mine = connect(udp, A, 40_000)
    const refused = (cid: Buffer, address = A, port = 40_000): void => {
      assert.equal(errorOf(udp.handle(announcePacket(cid), address, port), 0x5eed), 'Invalid connection id')
      const scrape = m.encodeRequest({ type: 'scrape', connectionId: cid, transactionId: 2, infoHashes: [INFO] })
      assert.equal(errorOf(udp.handle(scrape, address, port), 2), 'Invalid connection id')
    }
    for (let i = 0; i < 100; i++) refused(randomBytes(8))
    refused(mine, A, 40_001) // an id made for another source port
    refused(mine, '10.0.0.6', 40_000) // ...or another host
    const spoofed = Buffer.from(mine)
    spoofed[7] = (spoofed[7] as number) ^ 1
    refused(spoofed)
    // The id itself works, until it is 3 minutes old.
    assert.equal(decode(udp.handle(announcePacket(mine), A, 40_000)).type, 'announce')
    advance(2 * 60_000)
    assert.equal(decode(udp.handle(announcePacket(mine), A, 40_000)).type, 'announce', 'still good after 2 minutes')
    advance(60_000)
    refused(mine)
    assert.equal(udp.stats.announces, 2)
    assert.equal(udp.stats.scrapes, 0)
    assert.equal(swarms.get(INFO, T0 + 3 * 60_000)?.size, 1, 'only the honest announce is in the swarm')
  })

  test('random packets never throw, never announce; the tracker keeps serving', () => {
    const { udp, swarms } = setup()
    for (let i = 0; i < 5_000; i++) {
      const packet = randomBytes(Math.floor(Math.random() * 200))
      // Mostly the actions that exist, so the deeper checks are reached.
      if (packet.length >= 12 && i % 2 === 0) packet.writeUInt32BE(i % 4, 8)
      const reply = udp.handle(packet, A, 40_000)
      if (reply !== undefined) assert.ok(['connect', 'error'].includes(decode(reply).type))
    }
    assert.equal(swarms.peerCount, 0)
    assert.equal(udp.stats.announces + udp.stats.scrapes, 0)
    assert.equal(announce(udp, A, 40_000).type, 'announce')
  })

  test('error replies stay small: a spoofed source gets no amplification worth the name', () => {
    const { udp } = setup()
    const replies = [
      udp.handle(Buffer.concat([randomBytes(8), Buffer.from('0000000900000001', 'hex')]), A, 1),
      udp.handle(Buffer.concat([randomBytes(8), Buffer.from('0000000100000001', 'hex')]), A, 1),
      udp.handle(announcePacket(randomBytes(8)), A, 1),
      udp.handle(m.encodeRequest({ type: 'scrape', connectionId: randomBytes(8), transactionId: 1, infoHashes: [INFO] }), A, 1)
    ]
    for (const reply of replies) assert.ok(reply !== undefined && reply.length <= 8 + 40, String(reply?.length))
  })
})

describe('abuse limits', () => {
  test('a source over its budget is dropped without a reply, connects included; other sources are served; it lifts', () => {
    let now = T0
    const swarms = new Swarms({ intervalS: 1800 })
    const limiter = new RateLimiter({ burst: 3, perSecond: 1 })
    const udp = new UdpTracker({ swarms, now: () => now, intervalS: 1800, limiter })
    const cid = connect(udp)
    assert.equal(decode(udp.handle(announcePacket(cid), A, 40_000)).type, 'announce')
    connect(udp)
    // Fourth packet from A: nothing, whatever it is (a connect, an announce with a good id, garbage of 16 bytes).
    assert.equal(udp.handle(m.encodeRequest({ type: 'connect', transactionId: 9 }), A, 40_000), undefined)
    assert.equal(udp.handle(announcePacket(cid), A, 40_001), undefined, 'another port of the same address: the same budget')
    assert.equal(udp.handle(Buffer.alloc(16), A, 40_000), undefined)
    assert.equal(udp.stats.limited, 3)
    assert.equal(udp.stats.errors, 0, 'no error reply: a spoofed source must get nothing')
    assert.equal(decode(udp.handle(m.encodeRequest({ type: 'connect', transactionId: 9 }), '10.0.0.6', 40_000)).type, 'connect')
    now += 1_000
    assert.equal(decode(udp.handle(announcePacket(cid), A, 40_000)).type, 'announce')
  })

  test('a regular announce before min interval: counts and no peers; started is always served', () => {
    const { udp } = setup()
    announce(udp, '10.0.0.1', 1, { port: 7001 })
    const again = announce(udp, A, 40_000)
    assert.ok(again.type === 'announce')
    assert.equal(again.peers.length, 1)
    const early = announce(udp, A, 40_000, { event: m.EVENT_NONE })
    assert.ok(early.type === 'announce')
    assert.deepEqual([early.leechers, early.peers.length], [2, 0])
    const started = announce(udp, A, 40_000, { event: m.EVENT_STARTED })
    assert.ok(started.type === 'announce')
    assert.equal(started.peers.length, 1)
  })
})
