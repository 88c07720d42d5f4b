/**
 * The node's REST API (src/api) over an in-memory session: every route's success path, what each answers to hostile
 * input (always a 4xx JSON `{error, code}`, and the session never called), the mapping of the session's error codes,
 * the OpenAPI document made from the validation schemas, and the event stream on a real socket (snapshot, events,
 * keep-alive, the bound on streams, a client that stops reading, listeners removed on close).
 */
import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { get as httpGet, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildNodeApp, type NodeAppOptions } from '../../src/api/index.js'
import { addBodySchema } from '../../src/api/schemas.js'
import { encodeInfo, encodeMetainfo } from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'
import { FakeSession } from '../helpers/fake-session.js'
import { pollUntil } from '../helpers/poll.js'

const HOST = '127.0.0.1:9091'
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const HASH_A = sha1('a')
const HASH_B = sha1('b')
const MAGNET_A = `magnet:?xt=urn:btih:${HASH_A}&dn=alpha`

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

interface Reply {
  status: number
  json: Json
  raw: string
  headers: Record<string, unknown>
}

let session: FakeSession
let app: FastifyInstance

async function build (options: Partial<NodeAppOptions> = {}): Promise<void> {
  session = new FakeSession()
  app = await buildNodeApp({ session, port: 9091, ...options })
}

/**
 * A request as a well-behaved client sends it: Host 127.0.0.1:9091, and on every method but GET/HEAD the JSON content
 * type. Checks that every reply with a body is JSON.
 */
async function call (method: InjectOptions['method'], url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: InjectOptions = { method: method ?? 'GET', url, headers: { host: HOST, ...(method === 'GET' || method === 'HEAD' ? {} : { 'content-type': 'application/json' }), ...headers } }
  if (body !== undefined) init.payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  const res = await app.inject(init)
  if (res.body !== '') assert.match(String(res.headers['content-type']), /^application\/json/, `${method} ${url}: ${res.body.slice(0, 200)}`)
  return { status: res.statusCode, json: res.body === '' ? undefined : JSON.parse(res.body), raw: res.body, headers: res.headers }
}

async function expectError (reply: Promise<Reply> | Reply, status: number, code: string, message?: RegExp): Promise<Reply> {
  const r = await reply
  assert.equal(r.status, status, r.raw)
  assert.equal(r.json.code, code, r.raw)
  assert.equal(typeof r.json.error, 'string')
  assert.ok(!(r.json.error as string).includes('\n'), 'one line')
  if (message !== undefined) assert.match(r.json.error, message)
  return r
}

/** A small real .torrent (one file of 40,000 bytes in 16 KiB pieces). */
function torrentFile (name = 'file.bin'): Buffer {
  const info = encodeInfo({ name, pieceLength: 16_384, pieces: Buffer.alloc(20 * 3, 7), length: 40_000 })
  return encodeMetainfo({ info, trackers: ['http://127.0.0.1:5000/announce'] })
}

/** The session's calls other than reads (list/get/stats/settings are not recorded). */
const operations = (): string[] => session.calls.map((c) => c.method)

beforeEach(async () => { await build() })
afterEach(async () => { await app.close() })

describe('torrents', () => {
  test('GET /api/v1/torrents lists every torrent; ?state= keeps those in that state', async () => {
    assert.deepEqual((await call('GET', '/api/v1/torrents')).json, { torrents: [] })
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    await session.add({ kind: 'path', path: '/srv/share/photos' })
    const all = await call('GET', '/api/v1/torrents')
    assert.equal(all.status, 200)
    assert.deepEqual(all.json.torrents.map((t: Json) => [t.id, t.name, t.state]), [[1, 'alpha', 'metadata'], [2, 'photos', 'seeding']])
    const seeding = await call('GET', '/api/v1/torrents?state=seeding')
    assert.deepEqual(seeding.json.torrents.map((t: Json) => t.id), [2])
    assert.deepEqual((await call('GET', '/api/v1/torrents?state=paused')).json, { torrents: [] })
  })

  test('?state= must be a state; no other query parameter is taken', async () => {
    await expectError(call('GET', '/api/v1/torrents?state=sleeping'), 400, 'ERR_VALIDATION', /query\.state must be one of "checking", .*\(got "sleeping"\)/)
    await expectError(call('GET', '/api/v1/torrents?state=seeding&state=paused'), 400, 'ERR_VALIDATION', /query\.state must be a string/)
    await expectError(call('GET', '/api/v1/torrents?limit=5'), 400, 'ERR_VALIDATION', /query: unknown parameter "limit"/)
  })

  test('POST a magnet: 201 with the torrent and its Location; the session gets the source and the options', async () => {
    const r = await call('POST', '/api/v1/torrents', { magnet: MAGNET_A, downloadDir: '/data/in', paused: true, limits: { downloadLimit: 100_000, seedRatioLimit: 2.5 } })
    assert.equal(r.status, 201, r.raw)
    assert.equal(r.headers.location, '/api/v1/torrents/1')
    assert.equal(r.json.torrent.id, 1)
    assert.equal(r.json.torrent.infoHash, HASH_A)
    assert.equal(r.json.torrent.state, 'paused')
    assert.equal(r.json.torrent.downloadDir, '/data/in')
    assert.deepEqual(r.json.torrent.limits, { uploadLimit: null, downloadLimit: 100_000, seedRatioLimit: 2.5, seedIdleLimitMinutes: null })
    assert.deepEqual(session.calls, [{
      method: 'add',
      args: [{ kind: 'magnet', uri: MAGNET_A }, { downloadDir: '/data/in', paused: true, limits: { downloadLimit: 100_000, seedRatioLimit: 2.5 } }]
    }])
  })

  test('POST a bare info hash (40 hex or 32 base32) as a magnet', async () => {
    assert.equal((await call('POST', '/api/v1/torrents', { magnet: HASH_B.toUpperCase() })).json.torrent.infoHash, HASH_B)
    const base32 = 'MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U'
    const r = await call('POST', '/api/v1/torrents', { magnet: base32 })
    assert.equal(r.status, 201, r.raw)
    assert.deepEqual(session.calls[1]?.args[0], { kind: 'magnet', uri: base32 })
  })

  test('POST a .torrent in base64: the session gets its bytes', async () => {
    const bytes = torrentFile('movie.mkv')
    const r = await call('POST', '/api/v1/torrents', { torrent: bytes.toString('base64') })
    assert.equal(r.status, 201, r.raw)
    assert.equal(r.json.torrent.name, 'movie.mkv')
    assert.equal(r.json.torrent.totalSize, 40_000)
    const source = session.calls[0]?.args[0] as { kind: string, data: Buffer }
    assert.equal(source.kind, 'torrent')
    assert.ok(Buffer.isBuffer(source.data) && source.data.equals(bytes))
  })

  test('POST a path to share and a catalogue query', async () => {
    const shared = await call('POST', '/api/v1/torrents', { path: '/srv/share/report.pdf' })
    assert.equal(shared.status, 201)
    assert.equal(shared.json.torrent.state, 'seeding')
    const found = await call('POST', '/api/v1/torrents', { catalogue: 'ubuntu.iso' })
    assert.equal(found.status, 201)
    assert.deepEqual(session.calls.map((c) => c.args[0]), [{ kind: 'path', path: '/srv/share/report.pdf' }, { kind: 'catalogue', query: 'ubuntu.iso' }])
  })

  test('POST a torrent already in the session: 409 ERR_DUPLICATE with the id of the one there', async () => {
    await call('POST', '/api/v1/torrents', { magnet: HASH_B })
    await call('POST', '/api/v1/torrents', { magnet: MAGNET_A })
    const r = await expectError(call('POST', '/api/v1/torrents', { magnet: HASH_A }), 409, 'ERR_DUPLICATE')
    assert.equal(r.json.id, 2)
  })

  test('POST needs exactly one source', async () => {
    await expectError(call('POST', '/api/v1/torrents', {}), 400, 'ERR_VALIDATION', /^body needs one of the fields magnet, torrent, path, catalogue$/)
    await expectError(call('POST', '/api/v1/torrents', { paused: true }), 400, 'ERR_VALIDATION', /needs one of the fields/)
    await expectError(call('POST', '/api/v1/torrents', { magnet: HASH_A, path: '/x' }), 400, 'ERR_VALIDATION', /only one of the fields .* \(got magnet and path\)/)
    assert.deepEqual(operations(), [])
  })

  test('a .torrent the session cannot parse is 400 ERR_INPUT', async () => {
    await expectError(call('POST', '/api/v1/torrents', { torrent: Buffer.from('not bencode').toString('base64') }), 400, 'ERR_INPUT', /Cannot read the \.torrent/)
  })

  test('hostile bodies are 400 JSON naming what is wrong, and never reach the session', async () => {
    const cases: Array<[string | Buffer, string, RegExp]> = [
      ['{"magnet": ', 'ERR_BAD_JSON', /^Invalid JSON body: syntax error$/],
      ['{"magnet": "x",}', 'ERR_BAD_JSON', /syntax error/],
      [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'ERR_BAD_JSON', /not valid UTF-8/],
      ['[]', 'ERR_VALIDATION', /^body must be a JSON object$/],
      ['null', 'ERR_VALIDATION', /^body must be a JSON object$/],
      ['"magnet:?xt"', 'ERR_VALIDATION', /^body must be a JSON object$/],
      ['42', 'ERR_VALIDATION', /^body must be a JSON object$/],
      [JSON.stringify({ magnet: 42 }), 'ERR_VALIDATION', /^body\.magnet must be a string$/],
      [JSON.stringify({ magnet: ['x'] }), 'ERR_VALIDATION', /^body\.magnet must be a string$/],
      [JSON.stringify({ magnet: 'http://evil.example/x' }), 'ERR_VALIDATION', /^body\.magnet must be a magnet URI/],
      [JSON.stringify({ magnet: HASH_A, paused: 'yes' }), 'ERR_VALIDATION', /^body\.paused must be true or false$/],
      [JSON.stringify({ magnet: HASH_A, paused: 1 }), 'ERR_VALIDATION', /^body\.paused must be true or false$/],
      [JSON.stringify({ magnet: HASH_A, extra: 1 }), 'ERR_VALIDATION', /^body: unknown field "extra"$/],
      ['{"magnet": "' + HASH_A + '", "__proto__": {"paused": true}}', 'ERR_VALIDATION', /^body: unknown field "__proto__"$/],
      [JSON.stringify({ magnet: HASH_A, limits: { uploadLimit: -1 } }), 'ERR_VALIDATION', /^body\.limits\.uploadLimit must be >= 1$/],
      [JSON.stringify({ magnet: HASH_A, limits: { uploadLimit: 0 } }), 'ERR_VALIDATION', /^body\.limits\.uploadLimit must be >= 1$/],
      [JSON.stringify({ magnet: HASH_A, limits: { uploadLimit: 1.5 } }), 'ERR_VALIDATION', /must be an integer or null/],
      [JSON.stringify({ magnet: HASH_A, limits: { uploadLimit: '100' } }), 'ERR_VALIDATION', /must be an integer or null/],
      [`{"magnet": "${HASH_A}", "limits": {"downloadLimit": 1e400}}`, 'ERR_VALIDATION', /body\.limits\.downloadLimit must be/],
      [JSON.stringify({ magnet: HASH_A, limits: { downloadLimit: 2 ** 60 } }), 'ERR_VALIDATION', /must be <= 9007199254740991/],
      [JSON.stringify({ magnet: HASH_A, limits: { seedRatioLimit: -0.5 } }), 'ERR_VALIDATION', /seedRatioLimit must be >= 0/],
      [JSON.stringify({ magnet: HASH_A, limits: { seedIdleLimitMinutes: 10 ** 9 } }), 'ERR_VALIDATION', /seedIdleLimitMinutes must be <= 525600/],
      [JSON.stringify({ magnet: HASH_A, limits: { uploadRate: 5 } }), 'ERR_VALIDATION', /^body\.limits: unknown field "uploadRate"$/],
      [JSON.stringify({ magnet: HASH_A, limits: [] }), 'ERR_VALIDATION', /^body\.limits must be a JSON object$/],
      [JSON.stringify({ magnet: HASH_A, downloadDir: '' }), 'ERR_VALIDATION', /downloadDir must NOT have fewer than 1 characters/],
      [JSON.stringify({ magnet: HASH_A, downloadDir: '/tmp/\u0000x' }), 'ERR_VALIDATION', /downloadDir must not contain a NUL character/],
      [JSON.stringify({ magnet: HASH_A, downloadDir: '/'.repeat(5000) }), 'ERR_VALIDATION', /downloadDir must NOT have more than 4096 characters/],
      [JSON.stringify({ torrent: 'not base64!' }), 'ERR_VALIDATION', /^body\.torrent must be base64/],
      [JSON.stringify({ torrent: 'QUJDRA=' }), 'ERR_VALIDATION', /^body\.torrent must be base64 \(RFC 4648, padded\): its length/],
      [JSON.stringify({ torrent: 'QUJD\nRA==' }), 'ERR_VALIDATION', /^body\.torrent must be base64/],
      [JSON.stringify({ path: null }), 'ERR_VALIDATION', /^body\.path must be a string$/],
      [JSON.stringify({ catalogue: 'x'.repeat(2000) }), 'ERR_VALIDATION', /catalogue must NOT have more than 1024 characters/]
    ]
    for (const [payload, code, message] of cases) {
      await expectError(call('POST', '/api/v1/torrents', payload), 400, code, message)
    }
    assert.deepEqual(operations(), [])
  })

  test('a body over 8 MiB is 413 before it is parsed', async () => {
    const big = JSON.stringify({ torrent: 'A'.repeat(8 * 1024 * 1024) })
    await expectError(call('POST', '/api/v1/torrents', big), 413, 'ERR_BODY_TOO_LARGE', /limit 8388608 bytes/)
    assert.deepEqual(operations(), [])
  })

  test('GET /api/v1/torrents/:ref by id and by info hash in either case', async () => {
    await session.add({ kind: 'torrent', data: torrentFile() })
    const infoHash = session.list()[0]?.infoHash ?? ''
    const byId = await call('GET', '/api/v1/torrents/1')
    assert.equal(byId.status, 200)
    assert.equal(byId.json.torrent.name, 'file.bin')
    assert.deepEqual(byId.json.torrent.files, [{ index: 0, path: 'file.bin', length: 40_000, completed: 0 }])
    assert.deepEqual(byId.json.torrent.peerList, [])
    assert.deepEqual((await call('GET', `/api/v1/torrents/${infoHash}`)).json, byId.json)
    assert.deepEqual((await call('GET', `/api/v1/torrents/${infoHash.toUpperCase()}`)).json, byId.json)
  })

  test('a ref that is no id or info hash is 400; one of no torrent is 404 ERR_NOT_FOUND', async () => {
    for (const ref of ['0', '-1', '01', 'abc', '1.5', '1e3', '0x10', '9'.repeat(16), HASH_A.slice(1), `${HASH_A}0`, 'g'.repeat(40), '%20', '1%00']) {
      await expectError(call('GET', `/api/v1/torrents/${ref}`), 400, 'ERR_VALIDATION', /^params\.ref must be a torrent id \(a positive integer\) or an info hash/)
      await expectError(call('POST', `/api/v1/torrents/${ref}/pause`), 400, 'ERR_VALIDATION')
      await expectError(call('DELETE', `/api/v1/torrents/${ref}`), 400, 'ERR_VALIDATION')
    }
    await expectError(call('GET', '/api/v1/torrents/7'), 404, 'ERR_NOT_FOUND', /No torrent with id 7/)
    await expectError(call('GET', `/api/v1/torrents/${HASH_B}`), 404, 'ERR_NOT_FOUND', new RegExp(HASH_B))
    await expectError(call('POST', '/api/v1/torrents/7/resume'), 404, 'ERR_NOT_FOUND')
    // Longer than the router's parameter bound: refused before routing.
    await expectError(call('GET', `/api/v1/torrents/${'1'.repeat(300)}`), 400, 'ERR_VALIDATION', /longer than 128 characters/)
    assert.deepEqual(operations(), ['resume'])
  })

  test('pause, resume, verify, reannounce: each answers the torrent after it', async () => {
    await session.add({ kind: 'torrent', data: torrentFile() })
    const paused = await call('POST', '/api/v1/torrents/1/pause')
    assert.equal(paused.status, 200, paused.raw)
    assert.equal(paused.json.torrent.state, 'paused')
    assert.equal((await call('POST', '/api/v1/torrents/1/resume', {})).json.torrent.state, 'downloading')
    assert.equal((await call('POST', '/api/v1/torrents/1/verify')).json.torrent.state, 'checking')
    assert.equal((await call('POST', '/api/v1/torrents/1/reannounce')).json.torrent.id, 1)
    assert.deepEqual(session.calls.slice(1).map((c) => [c.method, c.args]), [['pause', [1]], ['resume', [1]], ['verify', [1]], ['reannounce', [1]]])
  })

  test('the actions take no fields', async () => {
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    await expectError(call('POST', '/api/v1/torrents/1/pause', { force: true }), 400, 'ERR_VALIDATION', /^body: unknown field "force"$/)
    await expectError(call('POST', '/api/v1/torrents/1/pause', '[]'), 400, 'ERR_VALIDATION', /^body must be a JSON object$/)
    assert.deepEqual(operations(), ['add'])
  })

  test('verify before the metadata: 409 ERR_NOT_READY', async () => {
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    await expectError(call('POST', '/api/v1/torrents/1/verify'), 409, 'ERR_NOT_READY', /no metadata/)
  })

  test('PATCH changes limits, and the folder through setLocation (moveData: move the files)', async () => {
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    const limited = await call('PATCH', '/api/v1/torrents/1', { limits: { uploadLimit: 50_000, seedIdleLimitMinutes: null } })
    assert.equal(limited.status, 200, limited.raw)
    assert.equal(limited.json.torrent.limits.uploadLimit, 50_000)
    const moved = await call('PATCH', `/api/v1/torrents/${HASH_A}`, { downloadDir: '/data/done', moveData: true, limits: { downloadLimit: null } })
    assert.equal(moved.status, 200, moved.raw)
    assert.equal(moved.json.torrent.downloadDir, '/data/done')
    const pointed = await call('PATCH', '/api/v1/torrents/1', { downloadDir: '/data/elsewhere' })
    assert.equal(pointed.json.torrent.downloadDir, '/data/elsewhere')
    assert.deepEqual(session.calls.slice(1).map((c) => [c.method, c.args]), [
      ['set', [1, { limits: { uploadLimit: 50_000, seedIdleLimitMinutes: null } }]],
      ['setLocation', [HASH_A, '/data/done', { move: true }]],
      ['set', [HASH_A, { limits: { downloadLimit: null } }]],
      ['setLocation', [1, '/data/elsewhere', { move: false }]]
    ])
  })

  test('PATCH refuses an empty body, moveData without downloadDir, unknown fields', async () => {
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    await expectError(call('PATCH', '/api/v1/torrents/1', {}), 400, 'ERR_VALIDATION', /^body must have at least 1 field$/)
    await expectError(call('PATCH', '/api/v1/torrents/1'), 400, 'ERR_VALIDATION', /^body must have at least 1 field$/)
    await expectError(call('PATCH', '/api/v1/torrents/1', { moveData: true }), 400, 'ERR_VALIDATION', /^body: "moveData" needs "downloadDir"$/)
    await expectError(call('PATCH', '/api/v1/torrents/1', { name: 'renamed' }), 400, 'ERR_VALIDATION', /unknown field "name"/)
    await expectError(call('PATCH', '/api/v1/torrents/1', { limits: { uploadLimit: -5 } }), 400, 'ERR_VALIDATION')
    await expectError(call('PATCH', '/api/v1/torrents/2', { limits: {} }), 404, 'ERR_NOT_FOUND')
    assert.deepEqual(operations(), ['add', 'set'])
  })

  test('POST /queue moves a torrent in the queue: 204', async () => {
    for (const name of ['a', 'b', 'c']) await session.add({ kind: 'magnet', uri: sha1(name) })
    const r = await call('POST', '/api/v1/torrents/3/queue', { move: 'top' })
    assert.equal(r.status, 204)
    assert.equal(r.raw, '')
    assert.deepEqual(session.list().map((t) => t.id), [3, 1, 2])
    await call('POST', '/api/v1/torrents/3/queue', { move: 'down' })
    assert.deepEqual(session.list().map((t) => t.id), [1, 3, 2])
    await expectError(call('POST', '/api/v1/torrents/3/queue', { move: 'sideways' }), 400, 'ERR_VALIDATION', /body\.move must be one of "top", "up", "down", "bottom"/)
    await expectError(call('POST', '/api/v1/torrents/3/queue', {}), 400, 'ERR_VALIDATION', /^body: missing field "move"$/)
    await expectError(call('POST', '/api/v1/torrents/3/queue', { move: 'up', by: 2 }), 400, 'ERR_VALIDATION', /unknown field "by"/)
  })

  test('DELETE removes a torrent (deleteData=true: its files too): 204', async () => {
    for (const name of ['a', 'b', 'c']) await session.add({ kind: 'magnet', uri: sha1(name) })
    // No content type: DELETE carries no body (docs/api.md, CSRF).
    const r = await app.inject({ method: 'DELETE', url: '/api/v1/torrents/1?deleteData=true', headers: { host: HOST } })
    assert.equal(r.statusCode, 204, r.body)
    assert.equal((await call('DELETE', `/api/v1/torrents/${sha1('b')}?deleteData=false`)).status, 204)
    assert.equal((await call('DELETE', '/api/v1/torrents/3')).status, 204)
    assert.deepEqual([...session.removedWithData], [[1, true], [2, false], [3, false]])
    await expectError(call('DELETE', '/api/v1/torrents/3'), 404, 'ERR_NOT_FOUND')
    await expectError(call('DELETE', '/api/v1/torrents/3?deleteData=yes'), 400, 'ERR_VALIDATION', /query\.deleteData must be one of "true", "false"/)
    await expectError(call('DELETE', '/api/v1/torrents/3?force=1'), 400, 'ERR_VALIDATION', /unknown parameter "force"/)
  })
})

describe('session, stats, free space', () => {
  test('GET /api/v1/session: the settings and the version', async () => {
    const r = await call('GET', '/api/v1/session')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { settings: session.settings, version: '0.0.0-fake' })
  })

  test('PATCH /api/v1/session changes settings and answers them', async () => {
    const r = await call('PATCH', '/api/v1/session', { downloadLimit: 1_000_000, maxActiveDownloads: 3, watchDir: '/watch', seedRatioLimit: null })
    assert.equal(r.status, 200, r.raw)
    assert.equal(r.json.settings.downloadLimit, 1_000_000)
    assert.equal(r.json.settings.maxActiveDownloads, 3)
    assert.equal(r.json.settings.watchDir, '/watch')
    assert.deepEqual(session.calls, [{ method: 'updateSettings', args: [{ downloadLimit: 1_000_000, maxActiveDownloads: 3, watchDir: '/watch', seedRatioLimit: null }] }])
    assert.equal((await call('PATCH', '/api/v1/session', { watchDir: null })).json.settings.watchDir, null)
  })

  test('PATCH /api/v1/session refuses the port, unknown fields, bad values, an empty change', async () => {
    await expectError(call('PATCH', '/api/v1/session', { port: 7000 }), 400, 'ERR_VALIDATION', /^body: unknown field "port"$/)
    await expectError(call('PATCH', '/api/v1/session', { maxActiveDownloads: -1 }), 400, 'ERR_VALIDATION', /maxActiveDownloads must be >= 1/)
    await expectError(call('PATCH', '/api/v1/session', { maxActiveSeeds: 1e9 }), 400, 'ERR_VALIDATION', /maxActiveSeeds must be <= 10000/)
    await expectError(call('PATCH', '/api/v1/session', { uploadLimit: 'fast' }), 400, 'ERR_VALIDATION', /uploadLimit must be an integer or null/)
    await expectError(call('PATCH', '/api/v1/session', { watchDir: 5 }), 400, 'ERR_VALIDATION', /watchDir must be a string or null/)
    await expectError(call('PATCH', '/api/v1/session', {}), 400, 'ERR_VALIDATION', /at least 1 field/)
    assert.deepEqual(operations(), [])
  })

  test('GET /api/v1/stats and /api/v1/free-space', async () => {
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    const stats = await call('GET', '/api/v1/stats')
    assert.equal(stats.status, 200)
    assert.deepEqual(stats.json, session.stats())
    assert.equal(stats.json.torrentCount, 1)
    session.setFreeSpace(123, 456)
    const space = await call('GET', '/api/v1/free-space?path=%2Fdata%2Fin')
    assert.deepEqual(space.json, { path: '/data/in', free: 123, total: 456 })
    await expectError(call('GET', '/api/v1/free-space'), 400, 'ERR_VALIDATION', /^query: missing parameter "path"$/)
    await expectError(call('GET', '/api/v1/free-space?path='), 400, 'ERR_VALIDATION')
    await expectError(call('GET', '/api/v1/free-space?path=/a&other=1'), 400, 'ERR_VALIDATION', /unknown parameter "other"/)
  })
})

describe('errors', () => {
  test('the session\'s error codes map to statuses; a fault that is no P2PError says nothing of itself', async () => {
    await session.add({ kind: 'torrent', data: torrentFile() })
    const cases: Array<[unknown, number, string, RegExp]> = [
      [new P2PError('ERR_NO_SPACE', 'No space left on the disk holding /data'), 507, 'ERR_NO_SPACE', /No space left/],
      [new P2PError('ERR_OUTPUT', 'Cannot write /data/x: EACCES'), 500, 'ERR_OUTPUT', /EACCES/],
      [new P2PError('ERR_VALIDATION', 'Not a folder: /etc/passwd'), 400, 'ERR_VALIDATION', /Not a folder/],
      [new P2PError('ERR_INPUT', 'Cannot read /nope'), 400, 'ERR_INPUT', /Cannot read/],
      [new P2PError('ERR_TRACKER_UNREACHABLE', 'Tracker http://t:5000 did not answer'), 502, 'ERR_TRACKER_UNREACHABLE', /did not answer/],
      [new Error('secret internal detail'), 500, 'ERR_INTERNAL', /^Internal server error$/]
    ]
    for (const [error, status, code, message] of cases) {
      session.failNext('setLocation', error)
      const r = await expectError(call('PATCH', '/api/v1/torrents/1', { downloadDir: '/data' }), status, code, message)
      assert.ok(!r.raw.includes('secret'))
    }
  })

  test('an unknown route is 404 ERR_NO_ROUTE, a known one with another method 405 with Allow', async () => {
    await expectError(call('GET', '/api/v1/nothing'), 404, 'ERR_NO_ROUTE', /No such route: GET \/api\/v1\/nothing/)
    await expectError(call('GET', '/'), 404, 'ERR_NO_ROUTE')
    const r = await expectError(call('PUT', '/api/v1/torrents/1'), 405, 'ERR_METHOD_NOT_ALLOWED')
    assert.equal(r.headers.allow, 'DELETE, GET, HEAD, PATCH')
  })
})

describe('OpenAPI document', () => {
  const ROUTES = [
    ['get', '/api/v1/torrents'], ['post', '/api/v1/torrents'], ['get', '/api/v1/torrents/{ref}'], ['patch', '/api/v1/torrents/{ref}'],
    ['delete', '/api/v1/torrents/{ref}'], ['post', '/api/v1/torrents/{ref}/pause'], ['post', '/api/v1/torrents/{ref}/resume'],
    ['post', '/api/v1/torrents/{ref}/verify'], ['post', '/api/v1/torrents/{ref}/reannounce'], ['post', '/api/v1/torrents/{ref}/queue'],
    ['get', '/api/v1/session'], ['patch', '/api/v1/session'], ['get', '/api/v1/stats'], ['get', '/api/v1/free-space'],
    ['get', '/api/v1/events'], ['get', '/api/v1/openapi.json']
  ]

  test('it lists every route, each of which exists, and nothing else', async () => {
    const r = await call('GET', '/api/v1/openapi.json')
    assert.equal(r.status, 200)
    assert.equal(r.json.openapi, '3.1.0')
    assert.equal(r.json.info.version, '0.0.0-fake')
    const listed = Object.entries(r.json.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m, path]))
    assert.deepEqual(listed.sort(), [...ROUTES].sort())
    for (const [method, path] of ROUTES) {
      assert.ok(app.hasRoute({ method: (method ?? '').toUpperCase() as 'GET', url: (path ?? '').replace('{ref}', ':ref') }), `${method} ${path}`)
    }
    const ids = listed.map(([m, p]) => r.json.paths[p ?? ''][m ?? ''].operationId)
    assert.equal(new Set(ids).size, ROUTES.length, 'operation ids are unique')
    // No security without credentials configured.
    assert.equal(r.json.security, undefined)
  })

  test('its request schemas are the ones the routes validate with', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json')).json
    const add = doc.paths['/api/v1/torrents'].post
    assert.deepEqual(add.requestBody.content['application/json'].schema, JSON.parse(JSON.stringify(addBodySchema)))
    assert.equal(add.requestBody.content['application/json'].schema.additionalProperties, false)
    assert.equal(add.responses['409'].description.includes('ERR_DUPLICATE'), true)
    const patch = doc.paths['/api/v1/torrents/{ref}'].patch
    assert.deepEqual(patch.requestBody.content['application/json'].schema.dependentRequired, { moveData: ['downloadDir'] })
    assert.equal(patch.requestBody.content['application/json'].schema.dependencies, undefined)
    assert.deepEqual(patch.parameters.map((p: Json) => [p.name, p.in, p.required, p.schema.pattern]), [['ref', 'path', true, '^(?:[1-9][0-9]{0,14}|[0-9A-Fa-f]{40})$']])
    const list = doc.paths['/api/v1/torrents'].get
    assert.deepEqual(list.parameters[0].schema.enum, ['checking', 'metadata', 'queued', 'downloading', 'seeding', 'paused', 'stopped', 'error'])
    assert.equal(doc.paths['/api/v1/torrents/{ref}/pause'].post.requestBody.required, false)
    assert.ok(doc.components.schemas.TorrentSummary.required.includes('infoHash'))
  })

  test('with credentials configured it requires them, as the API does, and documents ?token= on the stream', async () => {
    await app.close()
    await build({ auth: { user: 'admin', pass: 'secret' }, token: 'tok3n' })
    await expectError(call('GET', '/api/v1/openapi.json'), 401, 'ERR_UNAUTHORIZED')
    const doc = (await call('GET', '/api/v1/openapi.json', undefined, { authorization: 'Bearer tok3n' })).json
    assert.deepEqual(doc.security, [{ basic: [] }, { bearer: [] }])
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['basic', 'bearer', 'tokenQuery'])
    assert.deepEqual(doc.paths['/api/v1/events'].get.security, [{ basic: [] }, { bearer: [] }, { tokenQuery: [] }])
    assert.deepEqual(doc.paths['/api/v1/events'].get.parameters, [])
  })
})

/** One Server-Sent Event block: its `event`, its `data` parsed, or a comment. */
interface SseBlock {
  event?: string
  data?: Json
  comment?: string
}

/** An event stream read from a real socket, block by block. */
class SseReader {
  readonly res: IncomingMessage
  readonly #blocks: SseBlock[] = []
  readonly #waiters: Array<() => void> = []
  #text = ''
  #ended = false

  constructor (res: IncomingMessage) {
    this.res = res
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      this.#text += chunk
      let end: number
      while ((end = this.#text.indexOf('\n\n')) !== -1) {
        const block: SseBlock = {}
        for (const line of this.#text.slice(0, end).split('\n')) {
          if (line.startsWith(':')) block.comment = line.slice(1).trim()
          else if (line.startsWith('event: ')) block.event = line.slice(7)
          else if (line.startsWith('data: ')) block.data = JSON.parse(line.slice(6))
        }
        this.#text = this.#text.slice(end + 2)
        this.#blocks.push(block)
      }
      this.#wake()
    })
    res.on('close', () => { this.#ended = true; this.#wake() })
  }

  #wake (): void {
    for (const waiter of this.#waiters.splice(0)) waiter()
  }

  /** The next block that is not a comment (with `comments`: any block). */
  async next (options: { comments?: boolean } = {}): Promise<SseBlock> {
    for (;;) {
      const block = this.#blocks.shift()
      if (block !== undefined) {
        if (block.comment !== undefined && options.comments !== true) continue
        return block
      }
      if (this.#ended) throw new Error('the stream ended')
      await new Promise<void>((resolve) => { this.#waiters.push(resolve) })
    }
  }

  close (): void {
    this.res.destroy()
  }
}

async function openStream (port: number, path = '/api/v1/events', headers: Record<string, string> = {}): Promise<SseReader | Reply> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, headers }, resolve).on('error', reject)
  })
  if (res.statusCode !== 200) {
    let raw = ''
    res.setEncoding('utf8')
    for await (const chunk of res) raw += chunk as string
    return { status: res.statusCode ?? 0, json: JSON.parse(raw), raw, headers: res.headers }
  }
  return new SseReader(res)
}

async function stream (port: number, path?: string, headers?: Record<string, string>): Promise<SseReader> {
  const opened = await openStream(port, path, headers)
  if (!(opened instanceof SseReader)) throw new Error(`no stream: ${opened.status} ${opened.raw}`)
  return opened
}

async function listen (options: Partial<NodeAppOptions> = {}): Promise<number> {
  await app.close()
  await build({ port: 0, ...options })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  assert.ok(typeof address === 'object' && address !== null)
  return address.port
}

const noListeners = (): Promise<true> => pollUntil('the stream\'s listeners to be removed', () => session.events.listenerCount() === 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 10 })

describe('event stream (real sockets on 127.0.0.1)', () => {
  test('a snapshot first, then each event as it happens; its listeners go when the client does', { timeout: 20_000 }, async () => {
    const port = await listen()
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    const events = await stream(port)
    assert.equal(events.res.headers['content-type'], 'text/event-stream; charset=utf-8')
    assert.equal(events.res.headers['access-control-allow-origin'], undefined)
    const snapshot = await events.next()
    assert.equal(snapshot.event, 'snapshot')
    assert.deepEqual(snapshot.data, { torrents: session.list() })
    assert.equal(session.events.listenerCount('added'), 1)

    await session.add({ kind: 'torrent', data: torrentFile() })
    await session.pause(2)
    session.complete(2)
    await session.updateSettings({ maxActiveSeeds: 2 })
    session.events.emit('stats', session.list())
    session.events.emit('log', { torrent: 2, message: 'line one\nline two' })
    await session.remove(1)
    const seen: SseBlock[] = []
    for (let i = 0; i < 8; i++) seen.push(await events.next())
    assert.deepEqual(seen.map((b) => b.event), ['added', 'state', 'complete', 'state', 'settings', 'stats', 'log', 'removed'])
    assert.equal(seen[0]?.data.name, 'file.bin')
    assert.equal(seen[1]?.data.state, 'paused')
    assert.equal(seen[4]?.data.maxActiveSeeds, 2)
    assert.equal(seen[5]?.data.length, 2)
    assert.deepEqual(seen[6]?.data, { torrent: 2, message: 'line one\nline two' })
    assert.deepEqual(seen[7]?.data, { id: 1, infoHash: HASH_A })

    events.close()
    await noListeners()
  })

  test('a keep-alive comment while nothing happens', { timeout: 20_000 }, async () => {
    const port = await listen({ eventStream: { keepAliveMs: 20 } })
    const events = await stream(port)
    assert.equal((await events.next()).event, 'snapshot')
    assert.deepEqual(await events.next({ comments: true }), { comment: 'keep-alive' })
    events.close()
    await noListeners()
  })

  test('streams are bounded: past the limit 503, and a closed one frees its place', { timeout: 20_000 }, async () => {
    const port = await listen({ eventStream: { maxClients: 2 } })
    const first = await stream(port)
    const second = await stream(port)
    await first.next()
    await second.next()
    const refused = await openStream(port)
    assert.ok(!(refused instanceof SseReader))
    assert.equal(refused.status, 503)
    assert.equal(refused.json.code, 'ERR_TOO_MANY_STREAMS')
    first.close()
    await pollUntil('a place to free up', async () => {
      const again = await openStream(port)
      if (!(again instanceof SseReader)) return undefined
      again.close()
      return true
    }, { timeoutMs: 5_000, intervalMs: 20 })
    second.close()
    await noListeners()
  })

  test('a client that stops reading is dropped once its unread bytes pass the bound', { timeout: 30_000 }, async () => {
    const port = await listen({ eventStream: { maxQueueBytes: 256 * 1024 } })
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
    // Never read: the socket's buffers fill, then the server's.
    socket.pause()
    await pollUntil('the stream to open', () => session.events.listenerCount() > 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 10 })
    const message = 'x'.repeat(64 * 1024)
    let sent = 0
    for (; sent < 2_000 && session.events.listenerCount() > 0; sent++) {
      session.events.emit('log', { torrent: null, message })
      await yieldToLoop()
    }
    assert.equal(session.events.listenerCount(), 0, `dropped after ${sent} events of 64 KiB`)
    socket.destroy()
    // The node still serves everyone else.
    const events = await stream(port)
    assert.equal((await events.next()).event, 'snapshot')
    events.close()
    await noListeners()
  })

  test('?token= opens the stream when the API needs a token (EventSource sends no headers)', { timeout: 20_000 }, async () => {
    const port = await listen({ token: 's3cret-token' })
    const refused = await openStream(port, '/api/v1/events?token=wrong')
    assert.ok(!(refused instanceof SseReader))
    assert.equal(refused.status, 401)
    const events = await stream(port, '/api/v1/events?token=s3cret-token')
    assert.equal((await events.next()).event, 'snapshot')
    events.close()
    await noListeners()
  })

  test('closing the app ends the open streams', { timeout: 20_000 }, async () => {
    const port = await listen()
    const events = await stream(port)
    await events.next()
    const ended = new Promise<void>((resolve) => { events.res.once('close', () => { resolve() }) })
    await app.close()
    await ended
    assert.equal(session.events.listenerCount(), 0)
  })
})
