/**
 * A private tracker's access control (access.ts): the passkey read from the query only, refused keys with a reason
 * on every route (bencoded on announce and scrape, 403 JSON elsewhere), open routes left open, the in-memory key index
 * following revocations, and a public tracker unchanged.
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InjectOptions } from 'fastify'
import {
  MISSING_PASSKEY, PASSKEY_REFRESH_MS, PasskeyIndex, passkeyFailure, passkeyOf, REVOKED_PASSKEY, UNKNOWN_PASSKEY, type KeyChecker
} from '../../src/tracker/access.js'
import { TrackerStore } from '../../src/tracker/store.js'
import { createTracker, type Tracker } from '../../src/tracker/index.js'
import { bdecode } from '../../src/content/index.js'
import { announce, announceUrl, scrapeUrl, SeedTrackerClient } from '../../src/discovery/index.js'
import { createServer } from 'node:http'
import { tempDir } from '../helpers/files.js'

const T0 = 1_700_000_000_000
const KEY = '0123456789abcdef0123456789abcdef'

/** A checker that knows one valid and one revoked key, and counts its calls. */
function fixedKeys (valid: string, revoked: string): KeyChecker & { calls: number } {
  const checker = {
    calls: 0,
    status (key: string) {
      checker.calls++
      return key === valid ? 'valid' as const : key === revoked ? 'revoked' as const : 'unknown' as const
    }
  }
  return checker
}

describe('passkeyOf: the query parameter named exactly passkey', () => {
  const cases: Array<[string, string | undefined]> = [
    [`/announce?passkey=${KEY}`, KEY],
    [`/announce?info_hash=%01&passkey=${KEY}&port=1`, KEY],
    [`/announce?passkey=${KEY}&passkey=ffff`, KEY],
    ['/announce?passkey=', ''],
    ['/announce?passkey=&port=1', ''],
    ['/announce?passkey', undefined],
    ['/announce', undefined],
    [`/announce?xpasskey=${KEY}`, undefined],
    [`/announce?my_passkey=${KEY}`, undefined],
    [`/announce?key=${KEY}`, undefined],
    [`/announce?a=passkey=${KEY}`, undefined],
    [`/${KEY}/announce`, undefined],
    [`/passkey=${KEY}/announce`, undefined],
    [`/passkey=${KEY}/announce?port=1`, undefined],
    [`/announce?PASSKEY=${KEY}`, undefined]
  ]
  for (const [url, expected] of cases) {
    test(url, () => { assert.equal(passkeyOf(url), expected) })
  }
})

test('passkeyFailure: missing, empty, unknown, revoked, valid (either case of hex)', () => {
  const revokedKey = 'f'.repeat(32)
  const keys = fixedKeys(KEY, revokedKey)
  assert.equal(passkeyFailure('/announce?port=1', keys), MISSING_PASSKEY)
  assert.equal(passkeyFailure('/announce?passkey=', keys), MISSING_PASSKEY)
  assert.equal(passkeyFailure(`/announce?passkey=${'e'.repeat(32)}`, keys), UNKNOWN_PASSKEY)
  assert.equal(passkeyFailure(`/announce?passkey=${KEY.slice(1)}`, keys), UNKNOWN_PASSKEY)
  assert.equal(passkeyFailure(`/announce?passkey=${revokedKey}`, keys), REVOKED_PASSKEY)
  assert.equal(passkeyFailure(`/announce?passkey=${KEY}`, keys), undefined)
  assert.equal(passkeyFailure(`/announce?passkey=${KEY.toUpperCase()}&port=1`, keys), undefined)
  assert.equal(passkeyFailure(`/announce?xpasskey=${KEY}`, keys), MISSING_PASSKEY)
  assert.equal(MISSING_PASSKEY, 'Missing passkey: this tracker is private')
  assert.equal(UNKNOWN_PASSKEY, 'Unknown passkey')
  assert.equal(REVOKED_PASSKEY, 'Passkey revoked')
})

test('PasskeyIndex: answers from memory; a revocation here counts at once, one by another process within the refresh period', (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tracker.db')
  const tracker = TrackerStore.open(path)
  const cli = TrackerStore.open(path)
  t.after(() => { tracker.close(); cli.close() })
  let clock = 0
  const index = new PasskeyIndex(tracker.keys, { clock: () => clock })
  const alice = cli.keys.add('alice', T0)
  const bob = cli.keys.add('bob', T0)
  assert.equal(index.status(alice.key), 'valid')
  assert.equal(index.status(bob.key), 'valid')
  assert.equal(index.status(KEY), 'unknown')
  assert.equal(index.status('not a key'), 'unknown')

  // Another process revokes: seen at the next refresh, not before.
  cli.keys.revoke({ id: alice.id }, T0 + 1)
  clock += PASSKEY_REFRESH_MS - 1
  assert.equal(index.status(alice.key), 'valid', 'within the refresh period the index is not asked again')
  clock += 1
  assert.equal(index.status(alice.key), 'revoked')

  // Revoked through the tracker's own connection: at once.
  tracker.keys.revoke({ id: bob.id }, T0 + 2)
  assert.equal(index.status(bob.key), 'revoked')

  // A key another process issued a moment ago works at once (an unknown key is looked up in the database).
  const carol = cli.keys.add('carol', T0 + 3)
  assert.equal(index.status(carol.key), 'valid')
})

// A private tracker over inject(), on a file whose keys another connection (the CLI) issued before it started.
describe('private tracker routes', () => {
  let tracker: Tracker
  let valid = ''
  let revoked = ''
  const INFO_HASH = createHash('sha1').update('torrent').digest('hex')
  const FILE_HASH = createHash('sha1').update('file').digest('hex')
  let dir = ''

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'p2p-access-'))
    const db = join(dir, 'tracker.db')
    const cli = TrackerStore.open(db)
    valid = cli.keys.add('alice', T0).key
    const bob = cli.keys.add('bob', T0)
    cli.keys.revoke({ id: bob.id }, T0 + 1)
    revoked = bob.key
    cli.close()
    tracker = await createTracker({ db, private: true, probeIntervalMs: 0, swarmSweepIntervalMs: 0, rateLimits: false, udp: false })
  })
  after(async () => {
    await tracker.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const announceQuery = `info_hash=${'%AB'.repeat(20)}&peer_id=${'-PS0010-'.padEnd(20, 'x')}&port=6881&uploaded=0&downloaded=0&left=5&compact=1`
  /** Every protected route: method, path, query (without the passkey), body. */
  const routes: Array<{ name: string, method: 'GET' | 'POST', path: string, query: string, body?: unknown, bt?: true }> = [
    { name: 'announce', method: 'GET', path: '/announce', query: announceQuery, bt: true },
    { name: 'scrape', method: 'GET', path: '/scrape', query: `info_hash=${'%AB'.repeat(20)}`, bt: true },
    {
      name: 'register',
      method: 'POST',
      path: '/register',
      query: '',
      body: { file_name: 'f.bin', file_hash: FILE_HASH, file_size: 18, chunks: [0], ip: '192.0.2.1', port: 6000 }
    },
    { name: 'lookup', method: 'GET', path: '/lookup', query: 'file_name=f.bin' },
    { name: 'get_file', method: 'GET', path: '/get_file/f.bin', query: '' },
    { name: 'files', method: 'GET', path: '/files', query: 'q=f' },
    { name: 'torrent', method: 'GET', path: `/torrent/${INFO_HASH}`, query: '' },
    { name: 'unknown path', method: 'GET', path: '/admin', query: '' }
  ]

  async function call (route: typeof routes[number], passkey: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
    const query = [route.query, passkey === undefined ? '' : `passkey=${passkey}`].filter(q => q !== '').join('&')
    const init: InjectOptions = { method: route.method, url: query === '' ? route.path : `${route.path}?${query}`, headers }
    if (route.body !== undefined) {
      init.payload = JSON.stringify(route.body)
      init.headers = { 'content-type': 'application/json', ...headers }
    }
    const res = await tracker.app.inject(init)
    return { status: res.statusCode, body: res.body }
  }

  /** The reason a route refused the request, from a bencoded failure or a 403 JSON error; undefined if served. */
  function refusal (route: typeof routes[number], reply: { status: number, body: string }): string | undefined {
    if (route.bt === true) {
      assert.equal(reply.status, 200, 'BitTorrent clients read failures from 200 replies')
      const decoded = bdecode(Buffer.from(reply.body, 'latin1')).value as Record<string, unknown>
      const reason = decoded['failure reason']
      return reason instanceof Uint8Array ? Buffer.from(reason).toString() : undefined
    }
    if (reply.status !== 403) return undefined
    return (JSON.parse(reply.body) as { error: string }).error
  }

  for (const route of routes) {
    test(`${route.name}: refused without a key, with a wrong, malformed or revoked one; served with a valid one`, async () => {
      assert.equal(refusal(route, await call(route, undefined)), MISSING_PASSKEY)
      assert.equal(refusal(route, await call(route, '')), MISSING_PASSKEY)
      assert.equal(refusal(route, await call(route, 'e'.repeat(32))), UNKNOWN_PASSKEY)
      assert.equal(refusal(route, await call(route, 'not-a-key')), UNKNOWN_PASSKEY)
      assert.equal(refusal(route, await call(route, revoked)), REVOKED_PASSKEY)
      const served = await call(route, valid)
      assert.equal(refusal(route, served), undefined, served.body)
      if (route.name === 'register') assert.equal(served.status, 200, served.body)
      if (route.name === 'announce') assert.match(served.body, /8:intervali/)
    })

    if (route.name === 'unknown path') continue
    test(`${route.name}: a key anywhere but the passkey query parameter does not count`, async () => {
      const elsewhere: Array<[string, Record<string, string>, string | undefined]> = [
        ['header', { passkey: valid }, undefined],
        ['authorization', { authorization: `Bearer ${valid}` }, undefined],
        ['cookie', { cookie: `passkey=${valid}` }, undefined]
      ]
      for (const [where, headers] of elsewhere) {
        assert.equal(refusal(route, await call(route, undefined, headers)), MISSING_PASSKEY, where)
      }
      // In the path, under another name, or in the JSON body.
      const inPath = { ...route, path: `/${valid}${route.path}` }
      const pathReply = await call(inPath, undefined)
      assert.ok(pathReply.status === 403 || pathReply.status === 404, `key in the path: ${pathReply.status}`)
      if (pathReply.status === 403) assert.equal(JSON.parse(pathReply.body).error, MISSING_PASSKEY)
      const renamed = { ...route, query: [route.query, `xpasskey=${valid}`, `key=${valid}`].filter(q => q !== '').join('&') }
      assert.equal(refusal(renamed, await call(renamed, undefined)), MISSING_PASSKEY, 'another parameter name')
      if (route.body !== undefined) {
        const inBody = { ...route, body: { ...(route.body as object), passkey: valid } }
        assert.equal(refusal(inBody, await call(inBody, undefined)), MISSING_PASSKEY, 'in the body')
      }
    })
  }

  test('health, metrics and the web page need no key', async () => {
    for (const path of ['/healthz', '/metrics', '/', '/web/app.js', '/web/style.css']) {
      const res = await tracker.app.inject({ method: 'GET', url: path })
      assert.equal(res.statusCode, 200, `${path}: ${res.body.slice(0, 200)}`)
    }
  })

  test('a private tracker listens on HTTP only: UDP announces could carry no key', async () => {
    const address = await tracker.listen({ host: '127.0.0.1', port: 0 })
    assert.equal(address.udpPort, undefined)
    const res = await fetch(`http://127.0.0.1:${address.port}/files?passkey=${valid}`)
    assert.equal(res.status, 200)
    const refused = await fetch(`http://127.0.0.1:${address.port}/announce?${announceQuery}`)
    assert.match(await refused.text(), /failure reason40:Missing passkey: this tracker is private/)
  })
})

test('a public tracker needs no key and ignores a passkey parameter', async (t) => {
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, swarmSweepIntervalMs: 0, rateLimits: false, udp: false })
  t.after(async () => { await tracker.close() })
  const announce = `/announce?info_hash=${'%CD'.repeat(20)}&peer_id=${'-PS0010-'.padEnd(20, 'y')}&port=6881&uploaded=0&downloaded=0&left=0`
  for (const suffix of ['', `&passkey=${KEY}`]) {
    const res = await tracker.app.inject({ method: 'GET', url: announce + suffix })
    assert.match(res.body, /8:intervali/)
    assert.doesNotMatch(res.body, /failure reason/)
  }
  for (const url of ['/files', `/files?passkey=${KEY}`, '/lookup?file_name=none']) {
    const res = await tracker.app.inject({ method: 'GET', url })
    assert.notEqual(res.statusCode, 403, url)
  }
  const reg = await tracker.app.inject({
    method: 'POST',
    url: '/register',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ file_name: 'f.bin', file_hash: createHash('sha1').update('x').digest('hex'), file_size: 18, chunks: [0], ip: '192.0.2.1', port: 6000 })
  })
  assert.equal(reg.statusCode, 200, reg.body)
})

test('our client sends the passkey of the tracker URL it was given with every seed-API request and announce', async (t) => {
  // Both forms a user types keep the key in the announce and scrape URLs.
  assert.equal(announceUrl(`http://h:5000/?passkey=${KEY}`), `http://h:5000/announce?passkey=${KEY}`)
  assert.equal(announceUrl(`h:5000?passkey=${KEY}`), `http://h:5000/announce?passkey=${KEY}`)
  assert.equal(announceUrl(`http://h:5000/announce?passkey=${KEY}`), `http://h:5000/announce?passkey=${KEY}`)
  assert.equal(scrapeUrl(`http://h:5000/?passkey=${KEY}`), `http://h:5000/scrape?passkey=${KEY}`)
  assert.equal(announceUrl('http://h:5000'), 'http://h:5000/announce', 'no query, none added')

  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
    const path = (req.url ?? '').split('?')[0]
    req.resume()
    if (path === '/announce') { res.end('d8:intervali60e5:peers0:e'); return }
    res.setHeader('content-type', 'application/json')
    if (path === '/files') { res.end('{"files":[]}'); return }
    if (path === '/register') { res.end('{"message":"ok","file_hash":"x","peers_count":1}'); return }
    res.statusCode = 404
    res.end('{"error":"File not found"}')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`

  for (const typed of [`${base}/?passkey=${KEY}`, `${base}/announce?passkey=${KEY}`]) {
    seen.length = 0
    const client = new SeedTrackerClient(typed)
    assert.equal(client.baseUrl, base, 'messages name the tracker without its key')
    await client.files()
    await client.files('q')
    assert.equal(await client.lookupByName('a b'), undefined)
    await client.register({ file_name: 'f', file_hash: 'ab'.repeat(20), file_size: 1, chunks: [0], ip: '127.0.0.1', port: 1 })
    await announce({ url: announceUrl(typed), infoHash: 'cd'.repeat(20), peerId: Buffer.alloc(20, 0x61), port: 1, uploaded: 0, downloaded: 0, left: 0 })
    assert.deepEqual(seen.map(s => s.replace(/&info_hash=.*/, '&...')), [
      `GET /files?passkey=${KEY}`,
      `GET /files?q=q&passkey=${KEY}`,
      `GET /lookup?file_name=a%20b&chunk_format=ranges&passkey=${KEY}`,
      `POST /register?passkey=${KEY}`,
      `GET /announce?passkey=${KEY}&...`
    ], typed)
  }
  seen.length = 0
  await new SeedTrackerClient(base).files()
  assert.deepEqual(seen, ['GET /files'], 'a public tracker gets no passkey')
})
