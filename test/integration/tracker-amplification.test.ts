/**
 * Tracker amplification (issue 9): a registration that lists a million chunk ids, or many fragmented ones, must not
 * make each `/lookup` megabytes and a large share of a core; and a client hammering the biggest lookups must not starve
 * another client. Registrations are normalised to ranges (a million ids are one run) and bounded by the file's size;
 * a lookup reply's chunk lists are bounded in bytes; a read costs its client by its reply's size. Real sockets on
 * loopback for the clients, an injected (frozen) clock, so the budgets are exact: counts and sizes, no timing.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Agent, request } from 'node:http'
import { SeedTrackerClient } from '../../src/discovery/index.js'
import { createTracker, trackerLimits, type Tracker, type TrackerOptions } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const KIB = 1024
const GIB = 1024 * 1024 * 1024
/** Every 1 KiB chunk of a 1 GiB file: what the 1 KiB (README) dialect lists for it. */
const MILLION = 2 ** 20

interface Reply {
  status: number
  bytes: number
  body: string
}

async function started (t: TestContext, options: Partial<TrackerOptions> = {}): Promise<{ tracker: Tracker, base: string, port: number }> {
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, swarmSweepIntervalMs: 0, udp: false, now: () => 1_700_000_000_000, ...options })
  t.after(() => tracker.close())
  const { port } = await tracker.listen({ host: '127.0.0.1', port: 0 })
  return { tracker, base: `http://127.0.0.1:${port}`, port }
}

/** Registers through inject, from an address of its own (the clients' budgets stay untouched). */
async function register (tracker: Tracker, body: Record<string, unknown>): Promise<void> {
  const r = await tracker.app.inject({ method: 'POST', url: '/register', remoteAddress: '10.9.9.9', payload: body })
  assert.equal(r.statusCode, 200, r.body.slice(0, 300))
}

/** A 1 GiB file registered by `peers` peers listing every one of its 2^20 chunks of 1 KiB. */
async function registerMillions (tracker: Tracker, name: string, peers: number): Promise<void> {
  const chunks = Array.from({ length: MILLION }, (_, i) => i)
  for (let port = 1; port <= peers; port++) {
    await register(tracker, { file_name: name, file_hash: sha1(name), file_size: GIB, chunks, ip: '10.0.0.1', port })
  }
}

/**
 * A 1 GiB file registered by `peers` peers listing 16,384 chunks each, none next to another: the most runs a peer may
 * have, ~130 KB of ids each in a plain list.
 */
async function registerFragmented (tracker: Tracker, name: string, peers: number): Promise<void> {
  const chunks = Array.from({ length: trackerLimits.MAX_CHUNK_RANGES_PER_PEER }, (_, i) => MILLION - 1 - 64 * i).reverse()
  for (let port = 1; port <= peers; port++) {
    await register(tracker, { file_name: name, file_hash: sha1(name), file_size: GIB, chunks, ip: '10.0.0.1', port })
  }
}

/** GET `path` from the client address `from` (any of 127.0.0.0/8: each is a client of its own to the rate limits). */
async function get (port: number, path: string, from: string, agent?: Agent): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress: from, ...(agent === undefined ? {} : { agent }) }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => {
        const body = Buffer.concat(parts)
        resolve({ status: res.statusCode ?? 0, bytes: body.length, body: body.toString('utf8') })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** The most a lookup reply can be: its chunk lists' budget, plus the rest of it (200 peers' keys, 200 bt_peers, names). */
const MAX_LOOKUP_REPLY_BYTES = trackerLimits.TRACKER_LOOKUP_MAX_CHUNK_BYTES + 64 * KIB

test('a registration of 2^20 chunk ids: refused for a file too small to have them, else stored as one run; lookups stay small either way', async (t) => {
  const { tracker, base } = await started(t, { rateLimits: false })
  const million = Array.from({ length: MILLION }, (_, i) => i)
  // Ids are bounded by the file's size: 1 MiB has 1024 chunks of 1 KiB (and 1 of 1 MiB).
  for (const [size, chunkSize, count] of [[1024 * KIB, undefined, 1024], [GIB, 1024 * KIB, 1024]] as const) {
    const r = await tracker.app.inject({
      method: 'POST',
      url: '/register',
      payload: { file_name: 'small.bin', file_hash: sha1('small'), file_size: size, chunks: million, ip: '10.0.0.1', port: 6000, ...(chunkSize === undefined ? {} : { chunk_size: chunkSize }) }
    })
    assert.equal(r.statusCode, 400)
    assert.match(r.json().error, new RegExp(`^Invalid field: chunks: chunk id ${count} is out of range \\(the file has ${count} chunks of ${chunkSize ?? 1024} bytes\\)$`))
  }
  // A 1 GiB file in 1 KiB chunks does have 2^20: two such peers (the case) are stored as one run each.
  await registerMillions(tracker, 'big.bin', 2)
  const plain = await get(Number(new URL(base).port), '/lookup?file_name=big.bin', '127.0.0.1')
  assert.equal(plain.status, 200)
  // 7.3 MB of ids each, more than a reply's lists may hold: left out of the plain reply (was 14.6 MB).
  assert.deepEqual(JSON.parse(plain.body).peers, [])
  assert.ok(plain.bytes < 1024, `${plain.bytes} bytes`)
  const ranges = await get(Number(new URL(base).port), '/lookup?file_name=big.bin&chunk_format=ranges', '127.0.0.1')
  assert.deepEqual(JSON.parse(ranges.body).peers, [
    { chunk_ranges: `0-${MILLION - 1}`, ip: '10.0.0.1', port: 1 },
    { chunk_ranges: `0-${MILLION - 1}`, ip: '10.0.0.1', port: 2 }
  ])
  assert.ok(ranges.bytes < 1024, `${ranges.bytes} bytes`)
  // Our client asks for ranges and gets every id back.
  const found = await new SeedTrackerClient(base).lookupByName('big.bin')
  assert.deepEqual(found?.peers.map((p) => [p.port, p.chunks.length, p.chunks[0], p.chunks.at(-1)]), [[1, MILLION, 0, MILLION - 1], [2, MILLION, 0, MILLION - 1]])
})

test('a lookup reply is bounded in bytes in either form, however many fragmented peers are registered; peers that fit are still listed', async (t) => {
  const { tracker, port } = await started(t, { rateLimits: false })
  await registerFragmented(tracker, 'frag.bin', 24)
  // A peer of the seed's kind registered last: small, it still fits after the big ones that do not.
  await register(tracker, { file_name: 'frag.bin', file_hash: sha1('frag.bin'), file_size: GIB, chunks: [0, 1, 2], ip: '10.0.0.2', port: 6000 })
  for (const format of ['', '&chunk_format=ranges']) {
    const r = await get(port, `/lookup?file_name=frag.bin${format}`, '127.0.0.1')
    assert.equal(r.status, 200)
    const peers = JSON.parse(r.body).peers as Array<{ port: number }>
    // 24 × ~130 KB of plain ids (3.1 MB; ~280 KB of range text) would have been listed whole.
    assert.ok(r.bytes <= MAX_LOOKUP_REPLY_BYTES, `${format || 'list'}: ${r.bytes} bytes`)
    assert.ok(peers.length >= 2 && peers.length < 25, `${format || 'list'}: ${peers.length} peers listed`)
    assert.equal(peers.at(-1)?.port, 6000, 'the small peer registered last is listed')
  }
  const bad = await get(port, '/lookup?file_name=frag.bin&chunk_format=bits', '127.0.0.1')
  assert.equal(bad.status, 400)
  assert.deepEqual(JSON.parse(bad.body), { error: 'Invalid parameter: chunk_format: must be list or ranges' })
})

test('a client hammering the biggest lookups over 16 connections is refused (429) within its budget; another client meanwhile gets every /healthz and /lookup', async (t) => {
  // Default rate limits, loopback not exempt; the clock stands still, so no budget refills during the test.
  const { tracker, port } = await started(t)
  await registerFragmented(tracker, 'heavy.bin', 12)
  await register(tracker, { file_name: 'light.bin', file_hash: sha1('light.bin'), file_size: 10, chunks: [0], ip: '10.0.0.3', port: 6000 })

  const heavyAgent = new Agent({ keepAlive: true, maxSockets: 16 })
  t.after(() => { heavyAgent.destroy() })
  const HEAVY = 160
  const heavy = Array.from({ length: HEAVY }, async () => await get(port, '/lookup?file_name=heavy.bin', '127.0.0.2', heavyAgent))
  // The light client asks while the flood is on, one request after another.
  const light: Reply[] = []
  for (let i = 0; i < 10; i++) {
    light.push(await get(port, '/healthz', '127.0.0.3'))
    light.push(await get(port, '/lookup?file_name=light.bin', '127.0.0.3'))
  }
  light.push(await get(port, '/lookup?file_name=heavy.bin', '127.0.0.3'))
  const heavyReplies = await Promise.all(heavy)

  assert.deepEqual(light.map((r) => r.status), Array(light.length).fill(200), 'the light client is never refused')
  const ok = heavyReplies.filter((r) => r.status === 200)
  const refused = heavyReplies.filter((r) => r.status === 429)
  assert.equal(ok.length + refused.length, HEAVY)
  // Each big reply costs ~60 of the 500 requests of a burst (one per 16 KiB): about 9 of them, then 429s, where the
  // request budget alone (500 at once) let all 160 through, 14.6 MB... here ~1 MB each.
  const biggest = Math.max(...ok.map((r) => r.bytes))
  assert.ok(biggest > trackerLimits.TRACKER_LOOKUP_MAX_CHUNK_BYTES / 2 && biggest <= MAX_LOOKUP_REPLY_BYTES, `${biggest} bytes`)
  const perReply = Math.floor(biggest / trackerLimits.READ_REPLY_BYTES_PER_TOKEN)
  const budget = trackerLimits.DEFAULT_READ_RATE.burst
  assert.ok(ok.length >= 1 && ok.length <= Math.ceil(budget / perReply) + 1, `heavy client got ${ok.length} big replies`)
  assert.ok(ok.reduce((sum, r) => sum + r.bytes, 0) <= (budget / perReply + 2) * MAX_LOOKUP_REPLY_BYTES, 'bytes served to it are bounded by its budget')
  for (const r of refused) assert.match(JSON.parse(r.body).error, /^Too many requests: retry in \d+ s$/)
})
