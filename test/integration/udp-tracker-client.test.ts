/**
 * Our UDP tracker client (BEP 15) against a scripted tracker on 127.0.0.1: retransmission, connection id reuse and
 * expiry, the checks on replies, and bounded failure.
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import {
  announce, parseUdpTrackerUrl, scrape, TrackerFailureError, UdpTrackerClient, udpTrackerMessages as m,
  type AnnounceRequest, type UdpTrackerClientOptions, type UdpTrackerRequest
} from '../../src/discovery/index.js'

const INFO = '0f'.repeat(20)
const PEER_ID = Buffer.from('-PS0010-clienttest01', 'latin1')
const CID = Buffer.from('c0ffee00c0ffee01', 'hex')

type Script = (request: UdpTrackerRequest, raw: Buffer, from: RemoteInfo) => Buffer | Buffer[] | undefined

interface Fake {
  url: string
  port: number
  /** Every request received, decoded (undecodable ones as undefined). */
  seen: Array<UdpTrackerRequest | undefined>
  script: Script
}

/** A scripted UDP tracker on 127.0.0.1; by default an honest one with no peers. */
async function fakeTracker (t: TestContext, script?: Script): Promise<Fake> {
  const socket: Socket = createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  t.after(() => { socket.close() })
  const port = socket.address().port
  const fake: Fake = { url: `udp://127.0.0.1:${port}`, port, seen: [], script: script ?? honest }
  socket.on('message', (raw, from) => {
    let request: UdpTrackerRequest | undefined
    try { request = m.decodeRequest(raw) } catch { request = undefined }
    fake.seen.push(request)
    if (request === undefined) return
    const out = fake.script(request, raw, from)
    for (const reply of out === undefined ? [] : Array.isArray(out) ? out : [out]) socket.send(reply, from.port, from.address)
  })
  return fake
}

/** An honest tracker: one connection id, an empty swarm of interval 900, zeros for every scrape. */
const honest: Script = (request) => {
  switch (request.type) {
    case 'connect': return m.encodeReply({ type: 'connect', transactionId: request.transactionId, connectionId: CID })
    case 'announce': return m.encodeReply({ type: 'announce', transactionId: request.transactionId, interval: 900, leechers: 1, seeders: 2, peers: [{ ip: '10.1.2.3', port: 6881 }] })
    case 'scrape': return m.encodeReply({ type: 'scrape', transactionId: request.transactionId, entries: request.infoHashes.map((_, i) => ({ seeders: i, completed: 7, leechers: 1 })) })
  }
}

function client (t: TestContext, options: UdpTrackerClientOptions = {}): UdpTrackerClient {
  const c = new UdpTrackerClient({ retransmitMs: 100, ...options })
  t.after(() => { c.close() })
  return c
}

function request (url: string, overrides: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { url, infoHash: INFO, peerId: PEER_ID, port: 6881, uploaded: 1, downloaded: 2, left: 3, timeoutMs: 3_000, ...overrides }
}

const types = (fake: Fake): string[] => fake.seen.map((r) => r?.type ?? 'garbage')

/** Lets real I/O happen while timers are mocked: some turns of the event loop (setImmediate is not mocked). */
async function settle (turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

/** Waits (in event loop turns, at most 20,000) until the fake tracker has received `count` packets. */
async function sent (fake: Fake, count: number): Promise<void> {
  for (let i = 0; i < 20_000 && fake.seen.length < count; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
  assert.equal(fake.seen.length, count, `${count} packets received`)
}

describe('a well-behaved tracker', () => {
  test('connect, then announce with that id: the fields of the request, and the reply as an AnnounceResult', async (t) => {
    const fake = await fakeTracker(t)
    const c = client(t)
    const reply = await c.announce(request(fake.url, { event: 'started', numwant: 25, key: '0000abcd' }))
    assert.deepEqual(reply, { interval: 900, complete: 2, incomplete: 1, peers: [{ ip: '10.1.2.3', port: 6881 }] })
    assert.deepEqual(types(fake), ['connect', 'announce'])
    const sent = fake.seen[1]
    assert.ok(sent?.type === 'announce')
    assert.deepEqual(sent.connectionId, CID)
    assert.equal(sent.infoHash, INFO)
    assert.equal(sent.peerId, PEER_ID.toString('latin1'))
    assert.deepEqual([sent.uploaded, sent.downloaded, sent.left, sent.port], [1, 2, 3, 6881])
    assert.equal(sent.event, m.EVENT_STARTED)
    assert.equal(sent.numWant, 25)
    assert.equal(sent.key, 0xabcd)
    assert.equal(sent.ip, 0, 'the IP address field is left 0: the tracker uses the packet\'s source')
    // No numwant: -1, the tracker's default.
    await c.announce(request(fake.url))
    const second = fake.seen[2]
    assert.ok(second?.type === 'announce')
    assert.equal(second.numWant, -1)
    assert.equal(second.event, m.EVENT_NONE)
  })

  test('the connection id is reused for a minute (BEP 15), then a new one is asked for', async (t) => {
    const fake = await fakeTracker(t)
    let now = 1_000_000
    const c = client(t, { now: () => now })
    await c.announce(request(fake.url))
    await c.announce(request(fake.url, { event: 'completed' }))
    await c.scrape(fake.url, [INFO])
    now += 59_999
    await c.announce(request(fake.url))
    assert.deepEqual(types(fake), ['connect', 'announce', 'announce', 'scrape', 'announce'], 'one connect for four requests')
    now += 1
    await c.announce(request(fake.url))
    assert.deepEqual(types(fake).slice(5), ['connect', 'announce'], 'a minute old: a new connect')
    assert.equal(c.sessionCount, 1, 'one socket per tracker')
  })

  test('lost packets are sent again after 15 × 2^n s (scaled down here), each time with a new transaction id', async (t) => {
    let connects = 0
    let announces = 0
    const fake = await fakeTracker(t, (req, raw, from) => {
      if (req.type === 'connect' && ++connects === 1) return undefined
      if (req.type === 'announce' && ++announces < 3) return undefined
      return honest(req, raw, from)
    })
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    const c = client(t, { retransmitMs: 50 })
    const result = c.announce(request(fake.url))
    await sent(fake, 1)
    // The waits: 50 for the lost connect, then 100 and 200 for the lost announces (n keeps counting across the phases,
    // as in BEP 15's "Announce times out" example).
    // [wait, packets received before it ends, after it ends (the answered connect brings the first announce)]
    for (const [wait, before, after] of [[50, 1, 3], [100, 3, 4], [200, 4, 5]] as const) {
      t.mock.timers.tick(wait - 1)
      await settle()
      assert.equal(fake.seen.length, before, `nothing is sent before ${wait} ms`)
      t.mock.timers.tick(1)
      await sent(fake, after)
    }
    assert.equal((await result).interval, 900)
    assert.deepEqual(types(fake), ['connect', 'connect', 'announce', 'announce', 'announce'])
    const ids = fake.seen.map((r) => r?.type === 'announce' ? r.transactionId : -1).filter((id) => id !== -1)
    assert.equal(new Set(ids).size, 3)
  })

  test('scrape: every hash asked is in the map; more than 74 go in several packets', async (t) => {
    const fake = await fakeTracker(t)
    const c = client(t)
    const hashes = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(40, '0'))
    const stats = await c.scrape(fake.url, [...hashes, hashes[0] as string])
    assert.equal(stats.size, 100)
    assert.deepEqual(stats.get(hashes[73] as string), { complete: 73, incomplete: 1, downloaded: 7 })
    assert.deepEqual(stats.get(hashes[74] as string), { complete: 0, incomplete: 1, downloaded: 7 })
    assert.deepEqual(fake.seen.map((r) => r?.type === 'scrape' ? r.infoHashes.length : 0), [0, 74, 26])
  })

  test('announce() and scrape() of the library send udp:// URLs here (path and case ignored)', async (t) => {
    const fake = await fakeTracker(t)
    const reply = await announce(request(`UDP://127.0.0.1:${fake.port}/announce`))
    assert.equal(reply.interval, 900)
    const stats = await scrape(`udp://127.0.0.1:${fake.port}`, [INFO.toUpperCase()], { timeoutMs: 3_000 })
    assert.deepEqual(Object.fromEntries(stats), { [INFO]: { complete: 0, incomplete: 1, downloaded: 7 } })
    assert.deepEqual(types(fake).filter((x) => x !== 'connect'), ['announce', 'scrape'])
  })
})

describe('replies that break the protocol, trackers that refuse or do not answer', () => {
  test('a reply with another transaction id is ignored; the right one is taken', async (t) => {
    const fake = await fakeTracker(t, (req, raw, from) => {
      const good = honest(req, raw, from) as Buffer
      const stray = Buffer.from(good)
      stray.writeUInt32BE((req.transactionId + 1) >>> 0, 4)
      return [stray, good]
    })
    const c = client(t)
    assert.equal((await c.announce(request(fake.url))).interval, 900)
  })

  const broken: Array<[string, Script, RegExp]> = [
    ['an announce reply to a connect', (req) => m.encodeReply({ type: 'announce', transactionId: req.transactionId, interval: 1, leechers: 0, seeders: 0, peers: [] }), /announce reply to a connect request/],
    ['a connect reply of 12 bytes', (req) => m.encodeReply({ type: 'connect', transactionId: req.transactionId, connectionId: CID }).subarray(0, 12), /connect reply of 12 bytes/],
    ['peers of 7 bytes', (req, raw, from) => req.type === 'announce'
      ? Buffer.concat([honest(req, raw, from) as Buffer, Buffer.alloc(1)])
      : honest(req, raw, from), /1 bytes of peers, not a multiple of 6|7 bytes of peers, not a multiple of 6/],
    ['an unknown action', (req) => Buffer.concat([Buffer.from('00000009', 'hex'), Buffer.from([req.transactionId >>> 24, (req.transactionId >>> 16) & 255, (req.transactionId >>> 8) & 255, req.transactionId & 255])]), /unknown action 9/]
  ]
  for (const [name, script, message] of broken) {
    test(`${name}: ERR_TRACKER_REPLY`, async (t) => {
      const fake = await fakeTracker(t, script)
      await assert.rejects(client(t).announce(request(fake.url)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_TRACKER_REPLY')
        assert.match(err.message, message)
        return true
      })
    })
  }

  test('a scrape reply with fewer entries than hashes asked: ERR_TRACKER_REPLY', async (t) => {
    const fake = await fakeTracker(t, (req, raw, from) => req.type === 'scrape'
      ? m.encodeReply({ type: 'scrape', transactionId: req.transactionId, entries: [{ seeders: 1, completed: 1, leechers: 1 }] })
      : honest(req, raw, from))
    await assert.rejects(client(t).scrape(fake.url, [INFO, 'ab'.repeat(20)]), { code: 'ERR_TRACKER_REPLY' })
  })

  test('an error reply: TrackerFailureError with the tracker\'s message', async (t) => {
    const fake = await fakeTracker(t, (req, raw, from) => req.type === 'announce'
      ? m.encodeErrorReply(req.transactionId, 'Torrent not whitelisted\0')
      : honest(req, raw, from))
    await assert.rejects(client(t).announce(request(fake.url)), (err: unknown) => {
      assert.ok(err instanceof TrackerFailureError)
      assert.equal(err.code, 'ERR_TRACKER_FAILURE')
      assert.equal(err.failureReason, 'Torrent not whitelisted')
      return true
    })
    // A fresh id was used: no second try.
    assert.deepEqual(types(fake), ['connect', 'announce'])
  })

  test('an error answering an id held from earlier (a restarted tracker): one new connect and one more try', async (t) => {
    let generation = 0
    const fake = await fakeTracker(t, (req, raw, from) => {
      if (req.type === 'connect') return m.encodeReply({ type: 'connect', transactionId: req.transactionId, connectionId: Buffer.alloc(8, generation) })
      if (req.type === 'announce' && (req.connectionId[0] as number) !== generation) return m.encodeErrorReply(req.transactionId, 'Invalid connection id')
      return honest(req, raw, from)
    })
    const c = client(t)
    await c.announce(request(fake.url))
    generation = 1 // the tracker "restarts": its old ids are refused
    assert.equal((await c.announce(request(fake.url))).interval, 900)
    assert.deepEqual(types(fake), ['connect', 'announce', 'announce', 'connect', 'announce'])
  })

  test('a tracker that never answers: ERR_TRACKER_UNREACHABLE once timeoutMs has passed, a bounded number of sends', async (t) => {
    const fake = await fakeTracker(t, () => undefined)
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    const result = client(t).announce(request(fake.url, { timeoutMs: 400 }))
    let outcome: unknown
    result.then(() => { outcome = 'resolved' }, (err: unknown) => { outcome = err })
    // Sends at 0, 100 and 300 ms (waits of 100 and 200, then the 100 left); nothing more.
    await sent(fake, 1)
    t.mock.timers.tick(100)
    await sent(fake, 2)
    t.mock.timers.tick(200)
    await sent(fake, 3)
    t.mock.timers.tick(99)
    await settle()
    assert.equal(outcome, undefined, 'still waiting at 399 ms')
    t.mock.timers.tick(1)
    await assert.rejects(result, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_TRACKER_UNREACHABLE')
      assert.match(err.message, /no answer within 400 ms/)
      return true
    })
    await settle()
    assert.deepEqual(types(fake), ['connect', 'connect', 'connect'])
  })

  test('a closed port (ICMP port unreachable): ERR_TRACKER_UNREACHABLE at once, not at the timeout', async (t) => {
    const socket = createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    const port = socket.address().port
    socket.close()
    const started = Date.now()
    await assert.rejects(client(t).announce(request(`udp://127.0.0.1:${port}`, { timeoutMs: 10_000 })), { code: 'ERR_TRACKER_UNREACHABLE' })
    assert.ok(Date.now() - started < 5_000)
  })

  test('an abort: ERR_ABORTED at once', async (t) => {
    const fake = await fakeTracker(t, () => undefined)
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 100)
    const started = Date.now()
    await assert.rejects(client(t).announce(request(fake.url, { timeoutMs: 10_000, signal: controller.signal })), { code: 'ERR_ABORTED' })
    assert.ok(Date.now() - started < 5_000)
  })

  test('bad URLs and requests are refused before anything is sent', async (t) => {
    const c = client(t)
    assert.deepEqual(parseUdpTrackerUrl('udp://Tracker.Example:1337/announce'), { host: 'tracker.example', port: 1337 })
    assert.deepEqual(parseUdpTrackerUrl('udp://[::1]:6969'), { host: '::1', port: 6969 })
    for (const url of ['udp://tracker.example', 'udp://:80', 'http://x:1', 'udp://x:0', 'udp://x:70000']) {
      assert.throws(() => parseUdpTrackerUrl(url), { code: 'ERR_VALIDATION' }, url)
    }
    await assert.rejects(c.announce(request('udp://127.0.0.1:9', { infoHash: 'nope' })), { code: 'ERR_VALIDATION' })
    await assert.rejects(c.announce(request('udp://127.0.0.1:9', { port: 0 })), { code: 'ERR_VALIDATION' })
    await assert.rejects(c.scrape('udp://127.0.0.1:9', []), { code: 'ERR_VALIDATION' })
    assert.equal(c.sessionCount, 0)
  })
})
