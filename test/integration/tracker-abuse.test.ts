/**
 * The tracker's abuse limits over real sockets on loopback, with an injected clock: per-client rate limits on every
 * route as each kind of client reads a refusal (429 JSON, bencoded failure, silence over UDP), their lifting, the
 * loopback exemption, URL and header caps, and the minimum announce interval over HTTP and UDP.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { connect } from 'node:net'
import { announce, TrackerFailureError, UdpTrackerClient, udpTrackerMessages as m, type AnnounceRequest } from '../../src/discovery/index.js'
import { bdecode, bget, type BDict } from '../../src/content/bencode.js'
import { createTracker, type TrackerOptions } from '../../src/tracker/index.js'

const sha1 = (text: string): Buffer => createHash('sha1').update(text).digest()
const pct = (bytes: Uint8Array): string => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
const peerId = (n: number): Buffer => Buffer.from(`-PS0001-${String(n).padStart(12, '0')}`, 'latin1')
const HASH = sha1('abused torrent')

interface Started {
  http: string
  udp: string
  port: number
  /** Moves the tracker's clock. */
  advance: (ms: number) => void
}

async function start (t: TestContext, options: Partial<TrackerOptions> = {}): Promise<Started> {
  let clock = 1_700_000_000_000
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, swarmSweepIntervalMs: 0, announceIntervalS: 60, now: () => clock, ...options })
  t.after(() => tracker.close())
  const address = await tracker.listen({ host: '127.0.0.1', port: 0 })
  return {
    http: `http://127.0.0.1:${address.port}`,
    udp: `udp://127.0.0.1:${address.udpPort ?? 0}`,
    port: address.port,
    advance: (ms) => { clock += ms }
  }
}

function announceUrl (base: string, port: number, extra = ''): string {
  return `${base}/announce?info_hash=${pct(HASH)}&peer_id=${pct(peerId(port))}&port=${port}&left=10${extra}`
}

async function bencodedGet (url: string): Promise<BDict> {
  const res = await fetch(url)
  assert.equal(res.status, 200)
  return bdecode(new Uint8Array(await res.arrayBuffer())).value as BDict
}

async function register (base: string, n: number): Promise<Response> {
  return await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ file_name: `f${n}`, file_hash: sha1(`f${n}`).toString('hex'), file_size: 10, chunks: [0], ip: '10.0.0.1', port: 7000 })
  })
}

test('reads over budget: 429 with Retry-After and a JSON error, lifted once the wait has passed; writes and announces have budgets of their own', async (t) => {
  const { http, advance } = await start(t, { rateLimits: { read: { burst: 3, perSecond: 0.5 } } })
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${http}/files`)).status, 200)
  const refused = await fetch(`${http}/files`)
  assert.equal(refused.status, 429)
  assert.equal(refused.headers.get('retry-after'), '2')
  assert.match(refused.headers.get('content-type') ?? '', /^application\/json/)
  assert.deepEqual(await refused.json(), { error: 'Too many requests: retry in 2 s' })
  // Unknown routes count too: a flood of 404s costs like any read.
  assert.equal((await fetch(`${http}/no/such/route`)).status, 429)
  assert.equal((await register(http, 1)).status, 200, 'a write is another budget')
  assert.equal(bget.int(await bencodedGet(announceUrl(http, 6881)), 'incomplete'), 1, 'an announce too')
  advance(1_000)
  assert.equal((await fetch(`${http}/files`)).status, 429, 'half a token after 1 s')
  advance(1_000)
  const lifted = await fetch(`${http}/files`)
  assert.equal(lifted.status, 200)
  assert.equal((await lifted.json() as { files: unknown[] }).files.length, 1, 'the registration made while reads were refused is there')
})

test('writes over budget: POST /register is 429 and stores nothing', async (t) => {
  const { http, advance } = await start(t, { rateLimits: { write: { burst: 2, perSecond: 1 } } })
  assert.equal((await register(http, 1)).status, 200)
  assert.equal((await register(http, 2)).status, 200)
  const refused = await register(http, 3)
  assert.equal(refused.status, 429)
  assert.equal(refused.headers.get('retry-after'), '1')
  assert.deepEqual(await refused.json(), { error: 'Too many requests: retry in 1 s' })
  assert.equal((await fetch(`${http}/lookup?file_name=f3`)).status, 404)
  advance(1_000)
  assert.equal((await register(http, 3)).status, 200)
})

test('announces and scrapes over budget: HTTP 200 with a bencoded failure reason and min interval; our client reads it', async (t) => {
  const { http, advance } = await start(t, { rateLimits: { announce: { burst: 2, perSecond: 1 } } })
  await bencodedGet(announceUrl(http, 6881, '&event=started'))
  await bencodedGet(`${http}/scrape?info_hash=${pct(HASH)}`)
  const refused = await bencodedGet(announceUrl(http, 6882, '&event=started'))
  assert.deepEqual(Object.keys(refused).sort(), ['failure reason', 'min interval', 'retry in'])
  assert.equal(bget.string(refused, 'failure reason'), 'Too many requests: retry in 1 s')
  assert.equal(bget.int(refused, 'min interval'), 1)
  assert.equal(bget.string(await bencodedGet(`${http}/scrape?info_hash=${pct(HASH)}`), 'failure reason'), 'Too many requests: retry in 1 s')
  const request: AnnounceRequest = { url: http, infoHash: HASH.toString('hex'), peerId: peerId(6883), port: 6883, uploaded: 0, downloaded: 0, left: 10, event: 'started' }
  await assert.rejects(announce(request), (err: unknown) => err instanceof TrackerFailureError && err.failureReason === 'Too many requests: retry in 1 s')
  assert.equal((await fetch(`${http}/files`)).status, 200, 'the JSON routes are another budget')
  advance(1_000)
  assert.equal((await announce(request)).incomplete, 2, 'lifted: the refused peer was never added, this one is')
})

test('UDP over budget: dropped without any reply (no amplification), lifted with time; HTTP is not affected', async (t) => {
  const { http, port, advance } = await start(t, { rateLimits: { udp: { burst: 2, perSecond: 1 } } })
  const socket = createSocket('udp4')
  t.after(() => { socket.close() })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  const exchange = async (transactionId: number, waitMs: number): Promise<Buffer | undefined> => await new Promise((resolve) => {
    const onMessage = (reply: Buffer): void => { clearTimeout(timer); resolve(reply) }
    const timer = setTimeout(() => { socket.off('message', onMessage); resolve(undefined) }, waitMs)
    socket.once('message', onMessage)
    socket.send(m.encodeRequest({ type: 'connect', transactionId }), port, '127.0.0.1')
  })
  assert.equal(m.decodeReply((await exchange(1, 2_000)) ?? assert.fail('reply 1'), { ipv6: false, maxPeers: 0 }).type, 'connect')
  assert.equal(m.decodeReply((await exchange(2, 2_000)) ?? assert.fail('reply 2'), { ipv6: false, maxPeers: 0 }).type, 'connect')
  // Over budget: silence. A reply, if any, would come within milliseconds on loopback.
  assert.equal(await exchange(3, 300), undefined)
  assert.equal(bget.int(await bencodedGet(announceUrl(http, 6881)), 'incomplete'), 1, 'HTTP has its own budget')
  advance(1_000)
  const lifted = m.decodeReply((await exchange(4, 2_000)) ?? assert.fail('reply 4'), { ipv6: false, maxPeers: 0 })
  assert.deepEqual([lifted.type, lifted.transactionId], ['connect', 4])
})

test('loopback can be exempted, and rateLimits: false turns every limit off', async (t) => {
  const tiny = { burst: 1, perSecond: 0.01 }
  for (const rateLimits of [{ read: tiny, announce: tiny, exemptLoopback: true }, false as const]) {
    const { http } = await start(t, { rateLimits })
    for (let i = 0; i < 20; i++) {
      assert.equal((await fetch(`${http}/files`)).status, 200)
      assert.equal(bget.string(await bencodedGet(`${http}/scrape?info_hash=${pct(HASH)}`), 'failure reason'), undefined)
    }
  }
  // By default loopback is limited like anyone.
  const { http } = await start(t, { rateLimits: { read: tiny } })
  assert.equal((await fetch(`${http}/files`)).status, 200)
  assert.equal((await fetch(`${http}/files`)).status, 429)
})

test('URL and header caps: an announce or scrape URL past 8 KiB is a bencoded failure, a head past 16 KiB a 431; a full scrape fits', async (t) => {
  const { http, port } = await start(t)
  const long = announceUrl(http, 6881, `&pad=${'x'.repeat(8 * 1024)}`)
  assert.equal(bget.string(await bencodedGet(long), 'failure reason'), 'Request URL too long (at most 8192 bytes)')
  assert.equal(bget.string(await bencodedGet(`${http}/scrape?pad=${'x'.repeat(8 * 1024)}`), 'failure reason'), 'Request URL too long (at most 8192 bytes)')
  // 64 info hashes, every byte percent-encoded (~4.5 KiB): within the cap.
  const hashes = Array.from({ length: 64 }, (_, i) => `info_hash=${pct(sha1(String(i)))}`).join('&')
  assert.ok(bget.dict(await bencodedGet(`${http}/scrape?${hashes}`), 'files'))
  // Past the head limit Node's parser stops reading: 431, JSON, connection closed.
  const socket = connect(port, '127.0.0.1')
  t.after(() => { socket.destroy() })
  socket.write(`GET /announce?pad=${'x'.repeat(17 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 5_000))])
  const response = Buffer.concat(chunks).toString('latin1')
  assert.match(response, /^HTTP\/1\.1 431 /)
  assert.match(response, /\{"error":"Request headers too large"\}/)
  // The tracker keeps serving.
  assert.equal(bget.int(await bencodedGet(announceUrl(http, 6881)), 'incomplete'), 1)
})

test('minimum announce interval, HTTP and UDP: a regular re-announce too soon gets counts and no peers; events always count', async (t) => {
  const { http, udp, advance } = await start(t)
  const a = await bencodedGet(announceUrl(http, 7001, '&event=started'))
  assert.equal(bget.int(a, 'min interval'), 30)
  const b = await bencodedGet(announceUrl(http, 7002, '&event=started'))
  assert.equal(bget.bytes(b, 'peers')?.length, 6, 'a started announce is given the other peer')
  const early = await bencodedGet(announceUrl(http, 7002))
  assert.deepEqual([bget.int(early, 'incomplete'), bget.bytes(early, 'peers')?.length, bget.int(early, 'min interval')], [2, 0, 30])
  const client = new UdpTrackerClient({ retransmitMs: 500 })
  t.after(() => { client.close() })
  const overUdp = (event?: 'started'): AnnounceRequest => ({
    url: udp, infoHash: HASH.toString('hex'), peerId: peerId(7003), port: 7003, uploaded: 0, downloaded: 0, left: 10, timeoutMs: 5_000, ...(event === undefined ? {} : { event })
  })
  assert.equal((await client.announce(overUdp('started'))).peers.length, 2)
  const udpEarly = await client.announce(overUdp())
  assert.deepEqual([udpEarly.incomplete, udpEarly.peers.length], [3, 0])
  // A stopped is honoured however soon.
  assert.equal(bget.int(await bencodedGet(announceUrl(http, 7001, '&event=stopped')), 'incomplete'), 2)
  advance(30_000)
  const onTime = await bencodedGet(announceUrl(http, 7002))
  assert.equal(bget.bytes(onTime, 'peers')?.length, 6, 'at min interval a regular announce is given peers again')
  assert.equal((await client.announce(overUdp())).peers.length, 1)
})

test('bad abuse options are refused before anything opens', async () => {
  await assert.rejects(createTracker({ db: ':memory:', rateLimits: { announce: { burst: 0, perSecond: 1 } } }), { code: 'ERR_VALIDATION' })
  await assert.rejects(createTracker({ db: ':memory:', rateLimits: { maxAddresses: 0 } }), { code: 'ERR_VALIDATION' })
  await assert.rejects(createTracker({ db: ':memory:', enforcedMinIntervalS: -1 }), { code: 'ERR_VALIDATION' })
})
