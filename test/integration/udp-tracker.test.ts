/**
 * The tracker's UDP side (BEP 15) over real sockets on loopback: round trips with our client, swarms shared with HTTP
 * both ways, what spoofed or broken packets get, expiry with an injected clock, IPv6, and the lifecycle.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import {
  announce, scrape, UdpTrackerClient, udpTrackerMessages as m, type AnnounceRequest, type UdpTrackerReply
} from '../../src/discovery/index.js'
import { createTracker, type Tracker, type TrackerOptions } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const peerId = (n: number): Buffer => Buffer.from(`-PS0001-${String(n).padStart(12, '0')}`, 'latin1')

async function start (t: TestContext, options: Partial<TrackerOptions> = {}, host = '127.0.0.1'): Promise<{ tracker: Tracker, http: string, udp: string, port: number }> {
  // Peers re-announce at once here: the min interval rule is tested in tracker-abuse.test.ts.
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, announceIntervalS: 60, enforcedMinIntervalS: 0, ...options })
  t.after(() => tracker.close())
  const address = await tracker.listen({ host, port: 0 })
  const h = host.includes(':') ? `[${host}]` : host
  return { tracker, http: `http://${h}:${address.port}`, udp: `udp://${h}:${address.udpPort ?? 0}`, port: address.port }
}

function client (t: TestContext): UdpTrackerClient {
  const c = new UdpTrackerClient({ retransmitMs: 500 })
  t.after(() => { c.close() })
  return c
}

/** A raw socket on 127.0.0.1 talking to the tracker, for packets our client would never send. */
async function rawSocket (t: TestContext, port: number, type: 'udp4' | 'udp6' = 'udp4'): Promise<{ socket: Socket, exchange: (packet: Buffer, waitMs?: number) => Promise<Buffer | undefined> }> {
  const socket = createSocket(type)
  socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1')
  await once(socket, 'listening')
  t.after(() => { socket.close() })
  const host = type === 'udp4' ? '127.0.0.1' : '::1'
  const exchange = async (packet: Buffer, waitMs = 2_000): Promise<Buffer | undefined> => await new Promise((resolve) => {
    const onMessage = (reply: Buffer): void => { clearTimeout(timer); resolve(reply) }
    const timer = setTimeout(() => { socket.off('message', onMessage); resolve(undefined) }, waitMs)
    socket.once('message', onMessage)
    socket.send(packet, port, host)
  })
  return { socket, exchange }
}

function decode (reply: Buffer | undefined, ipv6 = false): UdpTrackerReply {
  assert.ok(reply !== undefined, 'a reply')
  return m.decodeReply(reply, { ipv6, maxPeers: 1000 })
}

test('UDP on the HTTP port number; our client announces and scrapes over it', async (t) => {
  const { udp, port } = await start(t)
  assert.equal(udp, `udp://127.0.0.1:${port}`)
  const c = client(t)
  const infoHash = sha1('udp torrent')
  const as = (n: number, overrides: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
    url: udp, infoHash, peerId: peerId(n), port: 50_000 + n, uploaded: 0, downloaded: 0, left: 1000, timeoutMs: 5_000, ...overrides
  })
  assert.deepEqual(await c.announce(as(1, { event: 'started' })), { interval: 60, complete: 0, incomplete: 1, peers: [] })
  assert.deepEqual(await c.announce(as(2, { event: 'started' })), { interval: 60, complete: 0, incomplete: 2, peers: [{ ip: '127.0.0.1', port: 50_001 }] })
  const done = await c.announce(as(1, { event: 'completed', left: 0 }))
  assert.deepEqual(done, { interval: 60, complete: 1, incomplete: 1, peers: [{ ip: '127.0.0.1', port: 50_002 }] })
  assert.deepEqual(Object.fromEntries(await c.scrape(udp, [infoHash, sha1('unknown')])), {
    [infoHash]: { complete: 1, incomplete: 1, downloaded: 1 },
    [sha1('unknown')]: { complete: 0, incomplete: 0, downloaded: 0 }
  })
  assert.equal((await c.announce(as(2, { numwant: 0 }))).peers.length, 0)
  assert.deepEqual((await c.announce(as(2, { event: 'stopped' }))).peers, [])
  assert.equal((await c.scrape(udp, [infoHash])).get(infoHash)?.incomplete, 0)
})

test('one swarm for both protocols: a UDP announce is seen over HTTP, an HTTP announce over UDP', async (t) => {
  const { http, udp } = await start(t)
  const infoHash = sha1('shared swarm')
  const base = { infoHash, uploaded: 0, downloaded: 0, timeoutMs: 5_000 }
  // The library's announce() picks the protocol from the URL.
  await announce({ ...base, url: udp, peerId: peerId(1), port: 41_001, left: 10 })
  assert.deepEqual(Object.fromEntries(await scrape(http, [infoHash])), { [infoHash]: { complete: 0, incomplete: 1, downloaded: 0 } })
  const overHttp = await announce({ ...base, url: http, peerId: peerId(2), port: 41_002, left: 0, event: 'completed' })
  assert.deepEqual(overHttp.peers, [{ ip: '127.0.0.1', port: 41_001 }], 'the HTTP peer is given the UDP one')
  const overUdp = await announce({ ...base, url: udp, peerId: peerId(1), port: 41_001, left: 10 })
  assert.deepEqual(overUdp.peers, [{ ip: '127.0.0.1', port: 41_002 }], 'the UDP peer is given the HTTP one')
  assert.deepEqual(Object.fromEntries(await scrape(udp, [infoHash])), { [infoHash]: { complete: 1, incomplete: 1, downloaded: 1 } })
  // The same endpoint over both protocols is one peer.
  await announce({ ...base, url: http, peerId: peerId(1), port: 41_001, left: 10 })
  assert.equal((await scrape(http, [infoHash])).get(infoHash)?.incomplete, 1)
})

test('a full swarm makes room over UDP as over HTTP: the new peer replaces the oldest', async (t) => {
  const { udp, http } = await start(t, { swarmLimits: { maxPeersPerSwarm: 2 } })
  const infoHash = sha1('full')
  const base = { infoHash, uploaded: 0, downloaded: 0, left: 1, timeoutMs: 5_000 }
  await announce({ ...base, url: http, peerId: peerId(1), port: 42_001 })
  await announce({ ...base, url: http, peerId: peerId(2), port: 42_002 })
  // Peer 1 is the oldest: peer 3 (UDP) takes its place, and peer 4 (HTTP) then takes peer 2's.
  assert.deepEqual((await announce({ ...base, url: udp, peerId: peerId(3), port: 42_003 })).peers, [{ ip: '127.0.0.1', port: 42_002 }])
  assert.deepEqual((await announce({ ...base, url: http, peerId: peerId(4), port: 42_004 })).peers, [{ ip: '127.0.0.1', port: 42_003 }])
})

test('spoofed sources and broken packets: an error reply or nothing, never an announce; the tracker keeps serving', async (t) => {
  const { http, udp, port } = await start(t)
  const infoHash = sha1('attacked')
  const a = await rawSocket(t, port)
  const b = await rawSocket(t, port)
  const connect = async (s: typeof a): Promise<Buffer> => {
    const reply = decode(await s.exchange(m.encodeRequest({ type: 'connect', transactionId: 1 })))
    assert.ok(reply.type === 'connect')
    return reply.connectionId
  }
  const announcePacket = (connectionId: Buffer, port = 43_000): Buffer => m.encodeRequest({
    type: 'announce', connectionId, transactionId: 77, infoHash, peerId: peerId(9).toString('latin1'),
    downloaded: 0, left: 5, uploaded: 0, event: m.EVENT_STARTED, ip: 0, key: 0, numWant: -1, port
  })
  const expectError = async (s: typeof a, packet: Buffer, message: string): Promise<void> => {
    const reply = decode(await s.exchange(packet))
    assert.deepEqual(reply.type === 'error' && reply.message, message)
  }

  // Random connection ids, and the id the tracker made for another source port (socket a's, used by b).
  for (let i = 0; i < 20; i++) await expectError(b, announcePacket(Buffer.from(Array.from({ length: 8 }, () => Math.floor(Math.random() * 256)))), 'Invalid connection id')
  const idOfA = await connect(a)
  await expectError(b, announcePacket(idOfA), 'Invalid connection id')
  await expectError(b, m.encodeRequest({ type: 'scrape', connectionId: idOfA, transactionId: 3, infoHashes: [infoHash] }), 'Invalid connection id')
  assert.equal((await scrape(http, [infoHash])).size, 0, 'no swarm was made')

  // Wrong lengths and actions get an error; packets too short to carry a transaction id get nothing.
  await expectError(a, announcePacket(idOfA).subarray(0, 97), 'Announce request too short')
  await expectError(a, Buffer.concat([m.encodeRequest({ type: 'scrape', connectionId: idOfA, transactionId: 3, infoHashes: [infoHash] }), Buffer.alloc(5)]), 'Scrape request: bad length')
  await expectError(a, Buffer.concat([idOfA, Buffer.from('0000000400000005', 'hex')]), 'Unknown action')
  const noMagic = m.encodeRequest({ type: 'connect', transactionId: 1 })
  noMagic.writeUInt32BE(0, 0)
  await expectError(a, noMagic, 'Bad protocol id')
  for (const length of [0, 1, 8, 15]) assert.equal(await a.exchange(announcePacket(idOfA).subarray(0, length), 300), undefined, `${length} bytes`)

  // Still serving: the honest announce of a, seen over HTTP, and our client.
  const honest = decode(await a.exchange(announcePacket(idOfA)))
  assert.equal(honest.type, 'announce')
  assert.deepEqual(Object.fromEntries(await scrape(http, [infoHash])), { [infoHash]: { complete: 0, incomplete: 1, downloaded: 0 } })
  assert.equal((await client(t).announce({ url: udp, infoHash, peerId: peerId(1), port: 43_001, uploaded: 0, downloaded: 0, left: 1 })).peers.length, 1)
})

test('a connection id older than 2-3 minutes is refused (injected clock); our client then connects again', async (t) => {
  let now = 1_700_000_000_000
  const { udp, port } = await start(t, { now: () => now })
  const infoHash = sha1('clock')
  const raw = await rawSocket(t, port)
  const connectReply = decode(await raw.exchange(m.encodeRequest({ type: 'connect', transactionId: 5 })))
  assert.ok(connectReply.type === 'connect')
  const packet = m.encodeRequest({
    type: 'announce', connectionId: connectReply.connectionId, transactionId: 6, infoHash, peerId: peerId(1).toString('latin1'),
    downloaded: 0, left: 5, uploaded: 0, event: 0, ip: 0, key: 0, numWant: -1, port: 44_001
  })
  assert.equal(decode(await raw.exchange(packet)).type, 'announce')
  now += 2 * 60_000
  assert.equal(decode(await raw.exchange(packet)).type, 'announce', 'good for 2 minutes (BEP 15)')
  now += 60_000
  const refused = decode(await raw.exchange(packet))
  assert.deepEqual(refused, { type: 'error', transactionId: 6, message: 'Invalid connection id' })

  // Our client holds its id by its own clock (1 minute); the tracker's clock jumping makes it stale: the client
  // gets the error, connects again and succeeds.
  const c = client(t)
  const request = { url: udp, infoHash, peerId: peerId(2), port: 44_002, uploaded: 0, downloaded: 0, left: 1 }
  await c.announce(request)
  now += 10 * 60_000
  assert.equal((await c.announce(request)).incomplete, 1, 'the re-announce went through with a fresh id')
})

test('IPv6 on ::1: replies in the BEP 15 IPv6 form, peers shared with HTTP', async (t) => {
  const probe = createSocket('udp6')
  const supported = await new Promise<boolean>((resolve) => {
    probe.once('error', () => { resolve(false) })
    probe.bind(0, '::1', () => { resolve(true) })
  })
  probe.close()
  if (!supported) {
    t.skip('no IPv6 loopback on this machine')
    return
  }
  const { http, udp } = await start(t, {}, '::1')
  assert.match(udp, /^udp:\/\/\[::1\]:\d+$/)
  const infoHash = sha1('six')
  const base = { infoHash, uploaded: 0, downloaded: 0, left: 1, timeoutMs: 5_000 }
  await announce({ ...base, url: http, peerId: peerId(1), port: 45_001 })
  const c = client(t)
  const reply = await c.announce({ ...base, url: udp, peerId: peerId(2), port: 45_002 })
  assert.deepEqual(reply.peers, [{ ip: '::1', port: 45_001 }])
  const back = await announce({ ...base, url: http, peerId: peerId(1), port: 45_001 })
  assert.deepEqual(back.peers, [{ ip: '::1', port: 45_002 }])
})

test('udp: false serves HTTP only; close() stops both and frees the port', async (t) => {
  const off = await createTracker({ db: ':memory:', probeIntervalMs: 0, udp: false })
  t.after(() => off.close())
  const address = await off.listen({ host: '127.0.0.1', port: 0 })
  assert.equal(address.udpPort, undefined)
  const c = client(t)
  const request = { url: `udp://127.0.0.1:${address.port}`, infoHash: sha1('off'), peerId: peerId(1), port: 1, uploaded: 0, downloaded: 0, left: 1, timeoutMs: 3_000 }
  await assert.rejects(c.announce(request), { code: 'ERR_TRACKER_UNREACHABLE' })

  const { tracker, udp, port } = await start(t)
  await c.announce({ ...request, url: udp })
  await tracker.close()
  await tracker.close() // idempotent
  await assert.rejects(c.announce({ ...request, url: udp }), { code: 'ERR_TRACKER_UNREACHABLE' })
  const again = createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject)
    again.bind(port, '127.0.0.1', () => { resolve() })
  })
  again.close()
})

test('a UDP port already taken: ERR_PORT_IN_USE naming UDP, and nothing is left listening', async (t) => {
  const taken = createSocket('udp4')
  taken.bind(0, '127.0.0.1')
  await once(taken, 'listening')
  t.after(() => { taken.close() })
  const port = taken.address().port
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await assert.rejects(tracker.listen({ host: '127.0.0.1', port }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_PORT_IN_USE')
    assert.match(err.message, /^Port \d+ is already in use for UDP .*--no-udp/)
    return true
  })
  // The TCP side of that port is free again: the failed listen did not leave HTTP bound.
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
  server.close()
})
