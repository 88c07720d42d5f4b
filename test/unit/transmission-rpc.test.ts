/**
 * The Transmission RPC plugin (src/api/transmission-rpc.ts, transmission-fields.ts) through fastify's inject(), over
 * the in-memory FakeSession: the 409 handshake, every method, the field mapping (statuses, eta, percentDone, units,
 * integer-only numbers), the exact payloads Sonarr/Radarr send, 4.1's JSON-RPC and snake_case, and hostile bodies
 * that must end in a `result` error without reaching the session.
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { createMetainfo } from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'
import type { TorrentDetail, TorrentPeer, TorrentRef, TorrentState, TorrentSummary } from '../../src/session/types.js'
import {
  RPC_BODY_LIMIT_BYTES, RPC_MAX_METAINFO_BYTES, SESSION_ID_HEADER, TRANSMISSION_RPC_PATH, randomSessionId, transmissionRpc
} from '../../src/api/transmission-rpc.js'
import { nameKey, peerFlags, scrapeUrl, snakeName, splitAddress, torrentField, transmissionStatus } from '../../src/api/transmission-fields.js'
import { FakeSession } from '../helpers/fake-session.js'
import { tempDir } from '../helpers/files.js'

const SID = 'test-session-id-0123456789abcdefghijklmnopqrstuv'
const NOW = 1_750_000_000_000
const HASH_A = '0123456789abcdef0123456789abcdef01234567'
const HASH_B = 'fedcba9876543210fedcba9876543210fedcba98'
const MAGNET_A = `magnet:?xt=urn:btih:${HASH_A}&dn=Ubuntu`
const MAGNET_B = `magnet:?xt=urn:btih:${HASH_B}&dn=Debian`

/** The FakeSession with numbers the fake does not move on its own (rates, peers, trackers...) patched in by tests. */
class RichSession extends FakeSession {
  readonly #patches = new Map<number, Partial<TorrentDetail>>()

  patch (id: number, patch: Partial<TorrentDetail>): void {
    this.#patches.set(id, { ...this.#patches.get(id), ...patch })
  }

  override list (): TorrentSummary[] {
    return super.list().map((t) => ({ ...t, ...this.#patches.get(t.id) }))
  }

  override get (ref: TorrentRef): TorrentDetail | undefined {
    const detail = super.get(ref)
    return detail === undefined ? undefined : { ...detail, ...this.#patches.get(detail.id) }
  }

  callsOf (method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args)
  }
}

interface Rig {
  app: FastifyInstance
  session: RichSession
  /** POSTs `body` (an object is sent as JSON) with the session id; the parsed reply. */
  post: (body: unknown, headers?: Record<string, string>) => Promise<{ status: number, json: Record<string, unknown>, headers: Record<string, unknown> }>
  /** A Transmission request; its reply's `result` and `arguments`. */
  call: (method: string, args?: unknown, tag?: number) => Promise<{ result: string, args: Record<string, unknown>, tag?: unknown }>
}

async function rig (t: TestContext, options: { sessionId?: () => string } = {}): Promise<Rig> {
  const session = new RichSession({ now: () => NOW, version: '0.1.0' })
  const app = Fastify()
  await app.register(async (child) => { await transmissionRpc({ session, sessionId: options.sessionId ?? (() => SID), now: () => NOW })(child) })
  await app.ready()
  t.after(async () => { await app.close() })
  const post: Rig['post'] = async (body, headers = {}) => {
    const res = await app.inject({
      method: 'POST',
      url: TRANSMISSION_RPC_PATH,
      headers: { 'content-type': 'application/json', [SESSION_ID_HEADER]: SID, ...headers },
      payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
    })
    return { status: res.statusCode, json: res.body === '' ? {} : res.json<Record<string, unknown>>(), headers: res.headers }
  }
  const call: Rig['call'] = async (method, args, tag) => {
    const { status, json } = await post({ method, ...(args === undefined ? {} : { arguments: args }), ...(tag === undefined ? {} : { tag }) })
    assert.equal(status, 200)
    assert.equal(typeof json.result, 'string')
    assert.equal(typeof json.arguments, 'object')
    return { result: json.result as string, args: json.arguments as Record<string, unknown>, tag: json.tag }
  }
  return { app, session, post, call }
}

async function torrentsOf (r: Rig, fields: string[], ids?: unknown): Promise<Array<Record<string, unknown>>> {
  const reply = await r.call('torrent-get', { fields, ...(ids === undefined ? {} : { ids }) })
  assert.equal(reply.result, 'success')
  return reply.args.torrents as Array<Record<string, unknown>>
}

async function torrentFile (t: TestContext, name = 'hello.txt', content = 'hello\n'): Promise<{ path: string, torrent: Buffer, infoHash: string }> {
  const dir = tempDir(t, 'trpc-')
  writeFileSync(join(dir, name), content)
  const created = await createMetainfo({ path: join(dir, name), trackers: ['http://127.0.0.1:5000/announce'], createdBy: 'p2pshare/test', creationDate: 1_700_000_000 })
  const path = join(dir, `${name}.torrent`)
  writeFileSync(path, created.torrent)
  return { path, torrent: created.torrent, infoHash: created.infoHash }
}

describe('the X-Transmission-Session-Id handshake (spec 2.3.1)', () => {
  test('a request without the id gets 409 with the id in that header; resent with it, the call proceeds', async (t) => {
    const r = await rig(t)
    const first = await r.app.inject({ method: 'POST', url: TRANSMISSION_RPC_PATH, payload: '{"method":"session-stats"}' })
    assert.equal(first.statusCode, 409)
    assert.equal(first.headers['x-transmission-session-id'], SID)
    assert.match(first.json<{ error: string }>().error, /X-Transmission-Session-Id/)
    const second = await r.post({ method: 'session-stats' })
    assert.equal(second.status, 200)
    assert.equal(second.json.result, 'success')
    assert.equal(second.headers['x-transmission-session-id'], SID, 'every reply carries the current id')
    assert.equal(r.session.calls.length, 0, 'session-stats reads; nothing reached an operation')
  })

  test('a stale or wrong id is a 409 again, and nothing reaches the session', async (t) => {
    let current = 'first-id'
    const r = await rig(t, { sessionId: () => current })
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    const calls = r.session.calls.length
    current = 'rotated-id'
    for (const id of ['first-id', '', 'rotated-i', 'rotated-idx']) {
      const res = await r.post({ method: 'torrent-remove', arguments: { ids: [1] } }, { [SESSION_ID_HEADER]: id })
      assert.equal(res.status, 409, id)
      assert.equal(res.headers['x-transmission-session-id'], 'rotated-id')
    }
    assert.equal(r.session.calls.length, calls)
    assert.equal((await r.post({ method: 'torrent-remove', arguments: { ids: [1] } }, { [SESSION_ID_HEADER]: 'rotated-id' })).json.result, 'success')
  })

  test('GET answers the handshake too (Sonarr asks with a GET), then 405: requests are POSTed', async (t) => {
    const r = await rig(t)
    const bare = await r.app.inject({ method: 'GET', url: TRANSMISSION_RPC_PATH })
    assert.equal(bare.statusCode, 409)
    assert.equal(bare.headers['x-transmission-session-id'], SID)
    const withId = await r.app.inject({ method: 'GET', url: `${TRANSMISSION_RPC_PATH}?method=session-get`, headers: { [SESSION_ID_HEADER]: SID } })
    assert.equal(withId.statusCode, 405)
    assert.equal(withId.headers.allow, 'POST')
  })

  test('the trailing-slash path transmission-remote posts to (/transmission/rpc/) is the same route', async (t) => {
    const r = await rig(t)
    const res = await r.app.inject({ method: 'POST', url: `${TRANSMISSION_RPC_PATH}/`, headers: { [SESSION_ID_HEADER]: SID }, payload: '{"method":"session-stats","tag":3}' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json<{ tag: number }>().tag, 3)
  })

  test('the default session id is 48 random letters and digits', () => {
    const a = randomSessionId()
    assert.match(a, /^[A-Za-z0-9]{48}$/)
    assert.notEqual(a, randomSessionId())
  })
})

describe('bodies: any content type, bounded, malformed ones answered with a result error', () => {
  test('curl\'s form content type (transmission-remote) and text/plain are read as JSON', async (t) => {
    const r = await rig(t)
    for (const type of ['application/x-www-form-urlencoded', 'text/plain; charset=UTF-8', 'application/json; charset=utf-8']) {
      const res = await r.post({ method: 'session-get', arguments: { fields: ['version'] } }, { 'content-type': type })
      assert.equal(res.json.result, 'success', type)
    }
  })

  test('malformed JSON, invalid UTF-8, an empty body, no method: HTTP 200 with a result error, nothing reaches the session', async (t) => {
    const r = await rig(t)
    const cases: Array<[unknown, RegExp]> = [
      ['{"method": "torrent-remove", "arguments": {', /not JSON/],
      [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), /not JSON/],
      ['', /no method name/],
      ['null', /no method name/],
      ['42', /no method name/],
      ['"torrent-remove"', /no method name/],
      [{ arguments: { ids: [1] } }, /no method name/],
      [{ method: 7 }, /no method name/],
      [{ method: 'torrent-remove', arguments: [1, 2] }, /arguments must be a JSON object/],
      [{ method: 'torrent-remove', arguments: 'all' }, /arguments must be a JSON object/]
    ]
    for (const [body, expected] of cases) {
      const res = await r.post(body)
      assert.equal(res.status, 200, String(body))
      assert.match(String(res.json.result), expected, String(body))
      assert.deepEqual(res.json.arguments, {})
    }
    assert.deepEqual(r.session.calls, [])
  })

  test('an unknown method is "method name not recognized", with the tag echoed; a tag that is not an integer is not', async (t) => {
    const r = await rig(t)
    assert.deepEqual(await r.call('torrent-explode', {}, 17), { result: 'method name not recognized', args: {}, tag: 17 })
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal((await r.call(name)).result, 'method name not recognized', name)
    }
    const res = await r.post({ method: 'session-stats', tag: 'x' })
    assert.equal(res.json.tag, undefined)
  })

  test('a body past RPC_BODY_LIMIT_BYTES is a 413, not read into memory', async (t) => {
    const r = await rig(t)
    const res = await r.post('x'.repeat(RPC_BODY_LIMIT_BYTES + 1))
    assert.equal(res.status, 413)
    assert.match(String(res.json.error), /too large/)
  })

  test('a torrent-add with a .torrent near the metainfo cap fits in the body limit', () => {
    assert.ok(Math.ceil(RPC_MAX_METAINFO_BYTES / 3) * 4 + 4096 < RPC_BODY_LIMIT_BYTES)
  })
})

describe('session-get, session-set, session-stats', () => {
  test('session-get without fields: versions the tools accept, the settings in Transmission\'s names and units', async (t) => {
    const r = await rig(t)
    await r.session.updateSettings({ uploadLimit: 50_000, seedRatioLimit: 1.5, seedIdleLimitMinutes: 90 })
    const { result, args } = await r.call('session-get')
    assert.equal(result, 'success')
    assert.equal(args.version, '3.00 (p2pshare 0.1.0)')
    assert.equal(args['rpc-version'], 16)
    assert.equal(args['rpc-version-minimum'], 14)
    assert.equal(args['download-dir'], '/downloads')
    assert.equal(args['peer-port'], 6881)
    assert.equal(args['session-id'], SID)
    assert.equal(args['speed-limit-up'], 50, 'kB/s, k = 1000')
    assert.equal(args['speed-limit-up-enabled'], true)
    assert.equal(args['speed-limit-down-enabled'], false)
    assert.equal(args.seedRatioLimit, 1.5)
    assert.equal(args.seedRatioLimited, true)
    assert.equal(args['idle-seeding-limit'], 90)
    assert.equal(args['idle-seeding-limit-enabled'], true)
    assert.equal(args['download-queue-size'], 5)
    assert.equal(args['seed-queue-size'], 10)
    assert.equal(args['download-dir-free-space'], 500_000_000_000)
    assert.deepEqual(args.units, {
      'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
      'speed-bytes': 1000,
      'size-units': ['kB', 'MB', 'GB', 'TB'],
      'size-bytes': 1000,
      'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
      'memory-bytes': 1024
    })
    // Every value is a JSON type transmission-remote's tr_variantDictFind* take: no fractional "integers".
    for (const [key, value] of Object.entries(args)) {
      if (typeof value === 'number' && key !== 'seedRatioLimit') assert.ok(Number.isInteger(value), key)
    }
  })

  test('Sonarr\'s session-get (no arguments at all) gives every key its TransmissionConfig reads', async (t) => {
    const r = await rig(t)
    const res = await r.post({ method: 'session-get' })
    const args = res.json.arguments as Record<string, unknown>
    for (const key of ['rpc-version', 'version', 'download-dir', 'seedRatioLimit', 'seedRatioLimited', 'idle-seeding-limit', 'idle-seeding-limit-enabled']) {
      assert.ok(Object.hasOwn(args, key), key)
    }
    // Sonarr parses "the first number not in parentheses": 3.00, above its 2.40 minimum, below 4.0 (labels).
    assert.match(String(args.version), /^3\.00 \(/)
  })

  test('session-get `fields` picks keys, in any spelling, echoed as asked; unknown ones are left out', async (t) => {
    const r = await rig(t)
    const { args } = await r.call('session-get', { fields: ['version', 'download_dir', 'rpcVersion', 'no-such-key'] })
    assert.deepEqual(args, { version: '3.00 (p2pshare 0.1.0)', download_dir: '/downloads', rpcVersion: 16 })
    assert.equal(r.session.callsOf('freeSpace').length, 0, 'free space is asked only when wanted')
    assert.match((await r.call('session-get', { fields: 'version' })).result, /fields must be a list/)
  })

  test('session-set maps limits (kB/s to bytes), switches, the seed defaults, the download dir and the queue sizes', async (t) => {
    const r = await rig(t)
    assert.equal((await r.call('session-set', { 'speed-limit-down': 100, 'speed-limit-down-enabled': true })).result, 'success')
    assert.equal(r.session.settings.downloadLimit, 100_000)
    await r.call('session-set', { 'speed-limit-down-enabled': false, 'speed-limit-up': 20 })
    assert.equal(r.session.settings.downloadLimit, null)
    assert.equal(r.session.settings.uploadLimit, 20_000)
    await r.call('session-set', { seedRatioLimit: 1.5, seedRatioLimited: true, 'idle-seeding-limit': 30, 'idle-seeding-limit-enabled': true })
    assert.equal(r.session.settings.seedRatioLimit, 1.5)
    assert.equal(r.session.settings.seedIdleLimitMinutes, 30)
    await r.call('session-set', { seedRatioLimited: false, 'idle-seeding-limit-enabled': false })
    assert.equal(r.session.settings.seedRatioLimit, null)
    assert.equal(r.session.settings.seedIdleLimitMinutes, null)
    await r.call('session-set', { 'download-dir': '/srv/tv', 'download-queue-size': 3, 'seed-queue-size': 7 })
    assert.equal(r.session.settings.downloadDir, '/srv/tv')
    assert.equal(r.session.settings.maxActiveDownloads, 3)
    assert.equal(r.session.settings.maxActiveSeeds, 7)
    // 4.1's snake_case names mean the same.
    await r.call('session_set', { speed_limit_up: 5, speed_limit_up_enabled: true })
    assert.equal(r.session.settings.uploadLimit, 5000)
  })

  test('session-set ignores keys it has no setting for (and asks the session nothing), refuses wrong types before any change', async (t) => {
    const r = await rig(t)
    assert.equal((await r.call('session-set', { 'alt-speed-enabled': true, 'dht-enabled': true, encryption: 'required', 'peer-port': 7000 })).result, 'success')
    assert.equal(r.session.callsOf('updateSettings').length, 0)
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ 'speed-limit-down': '100' }, /speed-limit-down must be a number/],
      [{ 'speed-limit-down': -1 }, /at least 0/],
      [{ 'speed-limit-down-enabled': 'yes' }, /must be true or false/],
      [{ 'download-dir': 'relative/dir' }, /not absolute/],
      [{ 'download-dir': 7 }, /must be a string/],
      [{ 'idle-seeding-limit': 1.5 }, /an integer/],
      [{ 'download-queue-size': 0 }, /at least 1/],
      [{ 'speed-limit-up-enabled': true }, /needs speed-limit-up/],
      [{ 'download-dir': '/ok', seedRatioLimit: -1 }, /at least 0/]
    ]
    for (const [args, expected] of bad) assert.match((await r.call('session-set', args)).result, expected, JSON.stringify(args))
    assert.equal(r.session.callsOf('updateSettings').length, 0)
    assert.equal(r.session.settings.downloadDir, '/downloads')
  })

  test('session-set passes the session\'s own refusal on as the result', async (t) => {
    const r = await rig(t)
    r.session.failNext('updateSettings', new P2PError('ERR_VALIDATION', 'Invalid downloadDir: not writable'))
    assert.equal((await r.call('session-set', { 'download-dir': '/root/x' })).result, 'Invalid downloadDir: not writable')
  })

  test('session-stats: counts, speeds in B/s, and the stats objects transmission-remote -st prints', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    await r.session.add({ kind: 'magnet', uri: MAGNET_B }, { paused: true })
    const { args } = await r.call('session-stats')
    assert.equal(args.torrentCount, 2)
    assert.equal(args.activeTorrentCount, 1)
    assert.equal(args.pausedTorrentCount, 1)
    assert.equal(args.downloadSpeed, 0)
    assert.deepEqual(Object.keys(args['current-stats'] as object).sort(), ['downloadedBytes', 'filesAdded', 'secondsActive', 'sessionCount', 'uploadedBytes'])
    assert.equal((args['cumulative-stats'] as { sessionCount: number }).sessionCount, 1)
  })
})

describe('torrent-add', () => {
  test('a magnet in `filename` (Sonarr\'s AddTorrentFromUrl payload): torrent-added with id, name and hashString', async (t) => {
    const r = await rig(t)
    const res = await r.post({ method: 'torrent-add', arguments: { filename: MAGNET_A, paused: false, 'download-dir': '/downloads/tv', labels: ['tv-sonarr'] } })
    assert.equal(res.json.result, 'success')
    assert.deepEqual(res.json.arguments, { 'torrent-added': { id: 1, name: 'Ubuntu', hashString: HASH_A } })
    const [source, options] = r.session.callsOf('add')[0] ?? []
    assert.deepEqual(source, { kind: 'magnet', uri: MAGNET_A })
    assert.deepEqual(options, { downloadDir: '/downloads/tv', paused: false })
  })

  test('base64 `metainfo` (Sonarr\'s AddTorrentFromData payload), then the same again: torrent-duplicate, still a success', async (t) => {
    const r = await rig(t)
    const { torrent, infoHash } = await torrentFile(t)
    const payload = { method: 'torrent-add', arguments: { metainfo: torrent.toString('base64'), paused: true, 'download-dir': '/downloads/tv' } }
    const first = await r.post(payload)
    assert.equal(first.json.result, 'success')
    assert.deepEqual(first.json.arguments, { 'torrent-added': { id: 1, name: 'hello.txt', hashString: infoHash } })
    assert.equal(r.session.list()[0]?.state, 'paused')
    const again = await r.post(payload)
    assert.equal(again.json.result, 'success')
    assert.deepEqual(again.json.arguments, { 'torrent-duplicate': { id: 1, name: 'hello.txt', hashString: infoHash } })
    assert.equal(r.session.list().length, 1)
  })

  test('metainfo wrapped at 76 columns (as some clients send it) decodes the same', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    const wrapped = torrent.toString('base64').replace(/(.{76})/g, '$1\n')
    assert.equal((await r.call('torrent-add', { metainfo: wrapped })).result, 'success')
  })

  test('a local .torrent path in `filename` is read (and a bare info hash is a magnet)', async (t) => {
    const r = await rig(t)
    const { path, infoHash } = await torrentFile(t)
    assert.deepEqual((await r.call('torrent-add', { filename: path })).args, { 'torrent-added': { id: 1, name: 'hello.txt', hashString: infoHash } })
    assert.deepEqual((await r.call('torrent-add', { filename: `file://${path}` })).args['torrent-duplicate'], { id: 1, name: 'hello.txt', hashString: infoHash })
    assert.equal((await r.call('torrent-add', { filename: HASH_B.toUpperCase() })).result, 'success')
    assert.deepEqual(r.session.callsOf('add')[2]?.[0], { kind: 'magnet', uri: HASH_B.toUpperCase() })
  })

  test('an http(s) URL is not fetched: an error that says so, and nothing is added', async (t) => {
    const r = await rig(t)
    for (const url of ['http://127.0.0.1:1/x.torrent', 'https://example.invalid/a.torrent', 'ftp://example.invalid/a.torrent']) {
      assert.match((await r.call('torrent-add', { filename: url })).result, /by URL is not supported.*metainfo/, url)
    }
    assert.equal(r.session.callsOf('add').length, 0)
  })

  test('bad input never reaches the session: missing source, wrong types, relative paths, not base64, file selection', async (t) => {
    const r = await rig(t)
    const dir = tempDir(t, 'trpc-')
    const big = join(dir, 'big.torrent')
    writeFileSync(big, Buffer.alloc(RPC_MAX_METAINFO_BYTES + 1))
    const fifo = join(dir, 'fifo.torrent')
    execFileSync('mkfifo', [fifo])
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /no filename or metainfo specified/],
      [{ paused: true }, /no filename or metainfo specified/],
      [{ filename: 42 }, /filename must be a string/],
      [{ metainfo: ['x'] }, /metainfo must be a string/],
      [{ metainfo: 'not base64!' }, /invalid or corrupt torrent file/],
      [{ metainfo: '' }, /invalid or corrupt torrent file/],
      [{ filename: 'relative/file.torrent' }, /absolute path/],
      [{ filename: '   ' }, /magnet link or a local .torrent path/],
      [{ filename: join(dir, 'missing.torrent') }, /no such file/],
      [{ filename: dir }, /not a regular file/],
      [{ filename: fifo }, /not a regular file/],
      [{ filename: '/dev/zero' }, /not a regular file/],
      [{ filename: big }, /larger than any torrent/],
      [{ filename: MAGNET_A, 'download-dir': 'downloads' }, /download directory path is not absolute/],
      [{ filename: MAGNET_A, 'download-dir': 5 }, /must be a string/],
      [{ filename: MAGNET_A, paused: 'no' }, /paused must be true or false/],
      [{ filename: MAGNET_A, 'files-unwanted': [0] }, /files-unwanted is not supported/],
      [{ filename: MAGNET_A, 'priority-high': [] }, /priority-high is not supported/],
      [{ filename: MAGNET_A, 'files-wanted': 'all' }, /list of file indices/]
    ]
    for (const [args, expected] of cases) assert.match((await r.call('torrent-add', args)).result, expected, JSON.stringify(args))
    assert.equal(r.session.callsOf('add').length, 0)
  })

  test('a .torrent the session cannot parse: "invalid or corrupt torrent file" with the reason', async (t) => {
    const r = await rig(t)
    const { result } = await r.call('torrent-add', { metainfo: Buffer.from('d4:spam4:eggse').toString('base64') })
    assert.match(result, /^invalid or corrupt torrent file: /)
    assert.equal(r.session.list().length, 0)
  })

  test('4.1\'s snake_case: torrent_add with download_dir answers torrent_added with hash_string', async (t) => {
    const r = await rig(t)
    const { result, args } = await r.call('torrent_add', { filename: MAGNET_A, download_dir: '/srv' })
    assert.equal(result, 'success')
    assert.deepEqual(args, { torrent_added: { id: 1, name: 'Ubuntu', hash_string: HASH_A } })
    assert.equal(r.session.list()[0]?.downloadDir, '/srv')
  })
})

describe('torrent-get and the field mapping', () => {
  const SONARR_FIELDS = ['id', 'hashString', 'name', 'downloadDir', 'totalSize', 'leftUntilDone', 'isFinished', 'eta', 'status', 'secondsDownloading', 'secondsSeeding', 'errorString', 'uploadedEver', 'downloadedEver', 'seedRatioLimit', 'seedRatioMode', 'seedIdleLimit', 'seedIdleMode', 'fileCount', 'file-count', 'labels']

  test('Sonarr\'s exact torrent-get (every torrent, then by hash): every field, with the types its TransmissionTorrent reads', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t, 'episode.mkv', 'x'.repeat(100_000))
    const added = await r.session.add({ kind: 'torrent', data: torrent }, { downloadDir: '/downloads/tv' })
    r.session.patch(added.id, { downloadedEver: 40_000, uploadedEver: 10_000, verifiedBytes: 40_000, leftBytes: 60_000, progress: 0.4, eta: 12.6 })
    const all = await r.post({ method: 'torrent-get', arguments: { fields: SONARR_FIELDS } })
    const [t1] = (all.json.arguments as { torrents: Array<Record<string, unknown>> }).torrents
    assert.deepEqual(t1, {
      id: 1,
      hashString: added.infoHash,
      name: 'episode.mkv',
      downloadDir: '/downloads/tv',
      totalSize: 100_000,
      leftUntilDone: 60_000,
      isFinished: false,
      eta: 13,
      status: 4,
      secondsDownloading: 0,
      secondsSeeding: 0,
      errorString: '',
      uploadedEver: 10_000,
      downloadedEver: 40_000,
      seedRatioLimit: 2,
      seedRatioMode: 0,
      seedIdleLimit: 30,
      seedIdleMode: 0,
      fileCount: 1,
      'file-count': 1,
      labels: []
    })
    const byHash = await r.post({ method: 'torrent-get', arguments: { fields: SONARR_FIELDS, ids: [added.infoHash] } })
    assert.deepEqual((byHash.json.arguments as { torrents: unknown[] }).torrents, [t1])
  })

  test('statuses: 0 stopped (paused, stopped, error), 2 checking, 3/5 queued (incomplete/complete), 4 downloading and metadata, 6 seeding', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    const id = (await r.session.add({ kind: 'torrent', data: torrent })).id
    const expected: Array<[TorrentState, boolean, number]> = [
      ['paused', false, 0], ['stopped', true, 0], ['error', false, 0], ['checking', false, 2], ['queued', false, 3], ['queued', true, 5],
      ['downloading', false, 4], ['metadata', false, 4], ['seeding', true, 6]
    ]
    for (const [state, complete, status] of expected) {
      r.session.patch(id, { state, leftBytes: complete ? 0 : 6, verifiedBytes: complete ? 6 : 0 })
      const [got] = await torrentsOf(r, ['status', 'isFinished'])
      assert.equal(got?.status, status, `${state}${complete ? ' (complete)' : ''}`)
      assert.equal(got?.isFinished, state === 'stopped', state)
    }
    // A queued magnet has no content yet: it waits to download, not to seed.
    const magnet = await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    r.session.patch(magnet.id, { state: 'queued' })
    assert.equal((await torrentsOf(r, ['status'], magnet.id))[0]?.status, 3)
  })

  test('the pure status function agrees for every state', () => {
    const base = { hasMetadata: true, leftBytes: 0 } as TorrentSummary
    assert.equal(transmissionStatus({ ...base, state: 'queued' }), 5)
    assert.equal(transmissionStatus({ ...base, state: 'queued', hasMetadata: false }), 3)
    assert.equal(transmissionStatus({ ...base, state: 'metadata' }), 4)
  })

  test('eta: seconds rounded; -2 unknown while downloading; -1 not available otherwise', async (t) => {
    const r = await rig(t)
    const { id } = await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    const cases: Array<[Partial<TorrentSummary>, number]> = [
      [{ state: 'downloading', eta: 99.4 }, 99],
      [{ state: 'downloading', eta: null }, -2],
      [{ state: 'metadata', eta: null }, -2],
      [{ state: 'seeding', eta: null }, -1],
      [{ state: 'paused', eta: null }, -1],
      [{ state: 'downloading', eta: Number.POSITIVE_INFINITY }, -2]
    ]
    for (const [patch, eta] of cases) {
      r.session.patch(id, patch)
      assert.equal((await torrentsOf(r, ['eta']))[0]?.eta, eta, JSON.stringify(patch))
    }
  })

  test('units and numbers: rates in B/s and limits in kB/s, always integers; percentDone 0..1; ratio -1 before metadata; dates in seconds', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    const { id } = await r.session.add({ kind: 'torrent', data: torrent })
    r.session.patch(id, {
      downloadRate: 1234.56,
      uploadRate: 0.4,
      progress: 0.5,
      ratio: 0.25,
      limits: { uploadLimit: 1_500, downloadLimit: 250_000, seedRatioLimit: 1.5, seedIdleLimitMinutes: 45 },
      addedAt: NOW - 1_234,
      doneAt: null,
      activityAt: NOW - 500
    })
    const [got] = await torrentsOf(r, ['rateDownload', 'rateUpload', 'percentDone', 'uploadRatio', 'uploadLimit', 'uploadLimited', 'downloadLimit', 'downloadLimited', 'seedRatioLimit', 'seedRatioMode', 'seedIdleLimit', 'seedIdleMode', 'addedDate', 'doneDate', 'activityDate', 'honorsSessionLimits'])
    assert.deepEqual(got, {
      rateDownload: 1235,
      rateUpload: 0,
      percentDone: 0.5,
      uploadRatio: 0.25,
      uploadLimit: 2,
      uploadLimited: true,
      downloadLimit: 250,
      downloadLimited: true,
      seedRatioLimit: 1.5,
      seedRatioMode: 1,
      seedIdleLimit: 45,
      seedIdleMode: 1,
      addedDate: Math.floor((NOW - 1_234) / 1000),
      doneDate: 0,
      activityDate: Math.floor((NOW - 500) / 1000),
      honorsSessionLimits: true
    })
    const magnet = await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    assert.equal((await torrentsOf(r, ['uploadRatio', 'metadataPercentComplete'], magnet.id))[0]?.uploadRatio, -1)
  })

  test('an error: error 3 (local) with its errorString; Sonarr shows the message as a warning', async (t) => {
    const r = await rig(t)
    const { id } = await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    r.session.setState(id, 'error', 'No space left on the disk holding /downloads')
    assert.deepEqual(await torrentsOf(r, ['error', 'errorString', 'status']), [{ error: 3, errorString: 'No space left on the disk holding /downloads', status: 0 }])
  })

  test('every field transmission-remote -l and -i ask for is present, every integer an integer', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    const { id } = await r.session.add({ kind: 'torrent', data: torrent })
    r.session.patch(id, { downloadRate: 10.5, uploadRate: 3.3, eta: 7.7, progress: 1 / 3 })
    const list = ['error', 'errorString', 'eta', 'id', 'isFinished', 'leftUntilDone', 'name', 'peersGettingFromUs', 'peersSendingToUs', 'rateDownload', 'rateUpload', 'sizeWhenDone', 'status', 'uploadRatio']
    const info = ['activityDate', 'addedDate', 'bandwidthPriority', 'comment', 'corruptEver', 'creator', 'dateCreated', 'desiredAvailable', 'doneDate', 'downloadDir', 'downloadedEver', 'downloadLimit', 'downloadLimited', 'error', 'errorString', 'eta', 'hashString', 'haveUnchecked', 'haveValid', 'honorsSessionLimits', 'id', 'isFinished', 'isPrivate', 'labels', 'leftUntilDone', 'magnetLink', 'name', 'peersConnected', 'peersGettingFromUs', 'peersSendingToUs', 'peer-limit', 'pieceCount', 'pieceSize', 'rateDownload', 'rateUpload', 'recheckProgress', 'secondsDownloading', 'secondsSeeding', 'seedRatioMode', 'seedRatioLimit', 'sizeWhenDone', 'startDate', 'status', 'totalSize', 'uploadedEver', 'uploadLimit', 'uploadLimited', 'webseeds', 'webseedsSendingToUs']
    const doubles = new Set(['uploadRatio', 'seedRatioLimit', 'recheckProgress', 'percentDone', 'metadataPercentComplete'])
    for (const fields of [list, info]) {
      const [got] = await torrentsOf(r, fields)
      assert.deepEqual(Object.keys(got ?? {}).sort(), [...new Set(fields)].sort())
      for (const [key, value] of Object.entries(got ?? {})) {
        if (typeof value === 'number' && !doubles.has(key)) assert.ok(Number.isInteger(value), `${key} = ${value}`)
      }
    }
  })

  test('detail fields: files, fileStats, priorities, wanted (0/1 in the old protocol), peers with flags, trackers, trackerStats, pieces', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    const { id } = await r.session.add({ kind: 'torrent', data: torrent })
    const peer: TorrentPeer = { address: '[2001:db8::1]:51413', client: 'Transmission 4.0.6', protocol: 'bittorrent', source: 'incoming', direction: 'in', downloadRate: 2048.7, uploadRate: 0, progress: 0.5, amChoking: true, amInterested: true, peerChoking: false, peerInterested: false }
    r.session.patch(id, {
      peerList: [peer, { ...peer, address: '10.0.0.2:6881', client: null, protocol: 'get-chunk', source: 'tracker', direction: 'out', downloadRate: 0, uploadRate: 100, amChoking: false, peerInterested: true, amInterested: false, peerChoking: true }],
      trackers: [{ url: 'http://tracker.example.org:6969/announce', state: 'ok', message: null, peers: 12, lastAnnounceAt: NOW - 60_000 }],
      pieces: 'gA=='
    })
    const [got] = await torrentsOf(r, ['files', 'fileStats', 'priorities', 'wanted', 'peers', 'peersFrom', 'peersSendingToUs', 'peersGettingFromUs', 'trackers', 'trackerStats', 'pieces', 'pieceCount'])
    assert.deepEqual(got?.files, [{ name: 'hello.txt', length: 6, bytesCompleted: 0, beginPiece: 0, endPiece: 1 }])
    assert.deepEqual(got?.fileStats, [{ bytesCompleted: 0, wanted: true, priority: 0 }])
    assert.deepEqual(got?.priorities, [0])
    assert.deepEqual(got?.wanted, [1])
    const peers = got?.peers as Array<Record<string, unknown>>
    assert.equal(peers[0]?.address, '2001:db8::1')
    assert.equal(peers[0]?.port, 51413)
    assert.equal(peers[0]?.flagStr, 'DI', 'downloading from it, it connected to us')
    assert.equal(peers[0]?.rateToClient, 2049)
    assert.equal(peers[0]?.clientIsChoked, false)
    assert.equal(peers[0]?.peerIsChoked, true)
    assert.equal(peers[1]?.clientName, 'GET_CHUNK peer')
    assert.equal(peers[1]?.flagStr, 'U')
    assert.deepEqual(got?.peersFrom, { fromCache: 0, fromDht: 0, fromIncoming: 1, fromLpd: 0, fromLtep: 0, fromPex: 0, fromTracker: 1 })
    assert.equal(got?.peersSendingToUs, 1)
    assert.equal(got?.peersGettingFromUs, 1)
    assert.deepEqual(got?.trackers, [{ announce: 'http://tracker.example.org:6969/announce', id: 0, scrape: 'http://tracker.example.org:6969/scrape', sitename: 'example', tier: 0 }])
    const stats = (got?.trackerStats as Array<Record<string, unknown>>)[0]
    assert.equal(stats?.host, 'http://tracker.example.org:6969')
    assert.equal(stats?.lastAnnounceSucceeded, true)
    assert.equal(stats?.lastAnnouncePeerCount, 12)
    assert.equal(stats?.lastAnnounceTime, Math.floor((NOW - 60_000) / 1000))
    assert.equal(got?.pieces, 'gA==')
    assert.equal(got?.pieceCount, 1)
  })

  test('`fields` decides: unknown names are ignored, a name asked twice answered once, any spelling accepted and echoed', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    assert.deepEqual(await torrentsOf(r, ['id', 'noSuchField', 'id', 'hash_string', 'percent-done']), [{ id: 1, hash_string: HASH_A, 'percent-done': 0 }])
    assert.deepEqual(await torrentsOf(r, []), [{}])
    assert.match((await r.call('torrent-get', {})).result, /no fields specified/)
    assert.match((await r.call('torrent-get', { fields: 'id' })).result, /fields must be a list/)
    assert.match((await r.call('torrent-get', { fields: ['id', 3] })).result, /fields must be a list/)
  })

  test('ids: absent, a number, a hash (any case), a mixed list, an empty list; ids of no torrent are skipped', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    await r.session.add({ kind: 'magnet', uri: MAGNET_B })
    const ids = async (value: unknown): Promise<unknown[]> => (await torrentsOf(r, ['id'], value)).map((t) => t.id)
    assert.deepEqual((await torrentsOf(r, ['id'])).map((t) => t.id), [1, 2])
    assert.deepEqual(await ids(2), [2])
    assert.deepEqual(await ids(HASH_B.toUpperCase()), [2])
    assert.deepEqual(await ids([HASH_B, 1, 2, 99, 'not-a-hash', -1]), [2, 1])
    assert.deepEqual(await ids([]), [])
    assert.deepEqual(await ids(99), [])
  })

  test('ids of another type are an error, never "every torrent": torrent-remove with such ids removes nothing', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    for (const bad of [null, {}, true, 1.5, [1.5], [null], [[1]], [{ id: 1 }]]) {
      const { result } = await r.call('torrent-remove', { ids: bad, 'delete-local-data': true })
      assert.match(result, /ids must be a torrent id/, JSON.stringify(bad))
    }
    assert.equal(r.session.list().length, 1)
    assert.equal(r.session.callsOf('remove').length, 0)
    assert.match((await r.call('torrent-get', { fields: ['id'], ids: new Array(10_001).fill(1) })).result, /at most/)
  })

  test('ids "recently-active": torrents that changed in the last minute, and the ids removed in it', async (t) => {
    let now = NOW
    const session = new RichSession({ now: () => now })
    const app = Fastify()
    await app.register(async (child) => { await transmissionRpc({ session, sessionId: () => SID, now: () => now })(child) })
    t.after(async () => { await app.close() })
    const get = async (): Promise<{ torrents: Array<{ id: number }>, removed: number[] }> => {
      const res = await app.inject({ method: 'POST', url: TRANSMISSION_RPC_PATH, headers: { [SESSION_ID_HEADER]: SID }, payload: JSON.stringify({ method: 'torrent-get', arguments: { fields: ['id'], ids: 'recently-active' } }) })
      return res.json<{ arguments: { torrents: Array<{ id: number }>, removed: number[] } }>().arguments
    }
    await session.add({ kind: 'magnet', uri: MAGNET_A })
    await session.add({ kind: 'magnet', uri: MAGNET_B })
    now += 120_000
    assert.deepEqual(await get(), { torrents: [], removed: [] })
    session.setState(2, 'paused')
    await session.remove(1)
    assert.deepEqual(await get(), { torrents: [{ id: 2 }], removed: [1] })
    now += 61_000
    assert.deepEqual(await get(), { torrents: [], removed: [] })
  })

  test('format "table": the names first, then one row per torrent', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    const { args } = await r.call('torrent-get', { fields: ['id', 'name', 'bogus'], format: 'table' })
    assert.deepEqual(args.torrents, [['id', 'name'], [1, 'Ubuntu']])
  })

  test('field names in any spelling reach the same field; snake_case names are 4.1\'s', () => {
    assert.equal(torrentField('hash_string'), torrentField('hashString'))
    assert.equal(torrentField('file-count'), torrentField('fileCount'))
    assert.equal(torrentField('peer_limit'), torrentField('peer-limit'))
    assert.equal(torrentField('nope'), undefined)
    assert.equal(nameKey('delete-local-data'), nameKey('delete_local_data'))
    assert.equal(snakeName('peersGettingFromUs'), 'peers_getting_from_us')
    assert.equal(snakeName('isUTP'), 'is_utp')
    assert.equal(snakeName('cumulative-stats'), 'cumulative_stats')
  })

  test('helpers: addresses, scrape URLs (BEP 48 convention), peer flags', () => {
    assert.deepEqual(splitAddress('1.2.3.4:6881'), { host: '1.2.3.4', port: 6881 })
    assert.deepEqual(splitAddress('[::1]:80'), { host: '::1', port: 80 })
    assert.deepEqual(splitAddress('nohost'), { host: 'nohost', port: 0 })
    assert.equal(scrapeUrl('http://t.example/announce.php?passkey=1'), 'http://t.example/scrape.php?passkey=1')
    assert.equal(scrapeUrl('udp://t.example:80'), '')
    const peer: TorrentPeer = { address: 'a:1', client: null, protocol: 'bittorrent', source: 'pex', direction: 'out', downloadRate: 0, uploadRate: 0, progress: 0, amChoking: true, amInterested: false, peerChoking: false, peerInterested: false }
    assert.equal(peerFlags(peer), 'KX')
  })
})

describe('torrent actions, torrent-set, torrent-remove, location, queue, free space', () => {
  test('stop, start, start-now, verify, reannounce: by id and for every torrent; a running torrent is not restarted', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    await r.session.add({ kind: 'torrent', data: torrent })
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    assert.equal((await r.call('torrent-stop', { ids: 1 })).result, 'success')
    assert.deepEqual(r.session.list().map((t) => t.state), ['paused', 'metadata'])
    assert.equal((await r.call('torrent-start')).result, 'success')
    assert.deepEqual(r.session.callsOf('resume'), [[1]], 'only the stopped one was resumed')
    await r.call('torrent-stop')
    await r.call('torrent-start-now', { ids: [HASH_A] })
    assert.deepEqual(r.session.list().map((t) => t.state), ['paused', 'metadata'])
    await r.call('torrent-start', { ids: [1] })
    assert.equal((await r.call('torrent-verify', { ids: [1] })).result, 'success')
    assert.equal(r.session.list()[0]?.state, 'checking')
    assert.equal((await r.call('torrent-reannounce')).result, 'success')
    assert.equal(r.session.callsOf('reannounce').length, 2)
  })

  test('a failure is the result, and does not stop the other torrents', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    await r.session.add({ kind: 'torrent', data: torrent })
    const { result } = await r.call('torrent-verify')
    assert.match(result, /no metadata yet/)
    assert.equal(r.session.list()[1]?.state, 'checking', 'the torrent with metadata was verified anyway')
    r.session.failNext('pause', new Error('a bug'))
    assert.equal((await r.call('torrent-stop', { ids: [1] })).result, 'internal error', 'no internals leak')
  })

  test('torrent-remove: Sonarr\'s payload (a hash, delete-local-data) removes that torrent with its data', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    await r.session.add({ kind: 'magnet', uri: MAGNET_B })
    const res = await r.post({ method: 'torrent-remove', arguments: { ids: [HASH_B], 'delete-local-data': true } })
    assert.equal(res.json.result, 'success')
    assert.deepEqual(r.session.list().map((t) => t.id), [1])
    assert.equal(r.session.removedWithData.get(2), true)
    await r.call('torrent-remove', { ids: 1 })
    assert.equal(r.session.removedWithData.get(1), false)
    assert.match((await r.call('torrent-remove', { ids: [1], 'delete-local-data': 'yes' })).result, /must be true or false/)
  })

  test('torrent-set: Sonarr\'s seed configuration (by hash), transmission-remote\'s limits, in bytes per second', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    assert.equal((await r.call('torrent-set', { ids: [HASH_A], seedRatioLimit: 1.5, seedRatioMode: 1, seedIdleLimit: 1440, seedIdleMode: 1 })).result, 'success')
    assert.deepEqual(r.session.list()[0]?.limits, { uploadLimit: null, downloadLimit: null, seedRatioLimit: 1.5, seedIdleLimitMinutes: 1440 })
    await r.call('torrent-set', { ids: 1, downloadLimit: 50, downloadLimited: true, uploadLimit: 20, uploadLimited: true })
    assert.deepEqual(r.session.list()[0]?.limits, { uploadLimit: 20_000, downloadLimit: 50_000, seedRatioLimit: 1.5, seedIdleLimitMinutes: 1440 })
    await r.call('torrent-set', { ids: 1, uploadLimited: false, seedRatioMode: 0, seedIdleMode: 0 })
    assert.deepEqual(r.session.list()[0]?.limits, { uploadLimit: null, downloadLimit: 50_000, seedRatioLimit: null, seedIdleLimitMinutes: null })
    // Mode 2 (unlimited) is what the torrent gets anyway while the session has no default.
    assert.equal((await r.call('torrent-set', { ids: 1, seedRatioMode: 2 })).result, 'success')
    assert.equal(r.session.list()[0]?.limits.seedRatioLimit, null)
    // Ignored, not errors: what we have no notion of.
    assert.equal((await r.call('torrent-set', { ids: 1, bandwidthPriority: 1, 'peer-limit': 10, labels: ['tv'], honorsSessionLimits: true })).result, 'success')
  })

  test('torrent-set refuses what it cannot honour, and checks every argument before any torrent changes', async (t) => {
    const r = await rig(t)
    await r.session.add({ kind: 'magnet', uri: MAGNET_A })
    await r.session.updateSettings({ seedRatioLimit: 2 })
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ seedRatioMode: 2 }, /unlimited\) is not supported while the session has a default/],
      [{ seedRatioMode: 3 }, /must be 0, 1 or 2/],
      [{ honorsSessionLimits: false }, /is not supported/],
      [{ 'files-unwanted': [0] }, /not supported/],
      [{ uploadLimit: '20' }, /must be a number/],
      [{ uploadLimited: true }, /needs uploadLimit/],
      [{ seedIdleLimit: 1.5 }, /an integer/],
      [{ location: 'relative' }, /not absolute/],
      [{ downloadLimit: 10, seedRatioLimit: -1 }, /at least 0/]
    ]
    for (const [args, expected] of cases) assert.match((await r.call('torrent-set', { ids: [1], ...args })).result, expected, JSON.stringify(args))
    assert.equal(r.session.callsOf('set').length, 0)
    assert.match((await r.call('torrent-set', { ids: [], seedRatioMode: 'x' })).result, /an integer/, 'checked even with no torrent to change')
  })

  test('torrent-set location and queuePosition; torrent-set-location with and without move', async (t) => {
    const r = await rig(t)
    for (const uri of [MAGNET_A, MAGNET_B, 'magnet:?xt=urn:btih:' + 'c'.repeat(40)]) await r.session.add({ kind: 'magnet', uri })
    await r.call('torrent-set', { ids: [1], location: '/srv/new' })
    assert.deepEqual(r.session.callsOf('setLocation')[0], [1, '/srv/new', { move: false }])
    await r.call('torrent-set', { ids: [1], queuePosition: 1 })
    assert.deepEqual(r.session.list().map((t) => t.id), [2, 1, 3])
    assert.equal((await r.call('torrent-set-location', { ids: [2], location: '/srv/moved', move: true })).result, 'success')
    assert.deepEqual(r.session.callsOf('setLocation')[1], [2, '/srv/moved', { move: true }])
    assert.match((await r.call('torrent-set-location', { ids: [2] })).result, /no location/)
    assert.match((await r.call('torrent-set-location', { ids: [2], location: 'x' })).result, /new location path is not absolute/)
    assert.equal(r.session.callsOf('setLocation').length, 2)
  })

  test('queue-move-*: several torrents keep their order among themselves; Sonarr\'s queue-move-top by hash', async (t) => {
    const r = await rig(t)
    for (const c of 'abcd') await r.session.add({ kind: 'magnet', uri: 'magnet:?xt=urn:btih:' + c.repeat(40) })
    const order = (): number[] => r.session.list().map((t) => t.id)
    await r.call('queue-move-top', { ids: [3, 4] })
    assert.deepEqual(order(), [3, 4, 1, 2])
    await r.call('queue-move-bottom', { ids: [3, 4] })
    assert.deepEqual(order(), [1, 2, 3, 4])
    await r.call('queue-move-up', { ids: [2, 3] })
    assert.deepEqual(order(), [2, 3, 1, 4])
    await r.call('queue-move-down', { ids: [2, 3] })
    assert.deepEqual(order(), [1, 2, 3, 4])
    assert.equal((await r.post({ method: 'queue-move-top', arguments: { ids: ['d'.repeat(40)] } })).json.result, 'success')
    assert.deepEqual(order(), [4, 1, 2, 3])
  })

  test('free-space: the path\'s free bytes (and 4.0\'s total_size); a relative or missing path is an error', async (t) => {
    const r = await rig(t)
    r.session.setFreeSpace(123_456_789, 987_654_321)
    assert.deepEqual((await r.call('free-space', { path: '/downloads' })).args, { path: '/downloads', 'size-bytes': 123_456_789, total_size: 987_654_321 })
    assert.match((await r.call('free-space', {})).result, /directory path argument is missing/)
    assert.match((await r.call('free-space', { path: 'downloads' })).result, /directory path is not absolute/)
  })

  test('not supported, said so: port-test (nothing is contacted), blocklist-update, session-close, torrent-rename-path', async (t) => {
    const r = await rig(t)
    assert.match((await r.call('port-test')).result, /port testing is not supported/)
    assert.match((await r.call('blocklist-update')).result, /blocklists are not supported/)
    assert.match((await r.call('session-close')).result, /not supported/)
    assert.match((await r.call('torrent-rename-path', { ids: [1], path: 'a', name: 'b' })).result, /not supported/)
    assert.deepEqual(r.session.calls, [])
  })
})

describe('4.1: JSON-RPC 2.0 and snake_case', () => {
  test('a JSON-RPC torrent_get answers result.torrents with snake_case names, wanted as booleans', async (t) => {
    const r = await rig(t)
    const { torrent } = await torrentFile(t)
    await r.session.add({ kind: 'torrent', data: torrent })
    const res = await r.post({ jsonrpc: '2.0', method: 'torrent_get', params: { fields: ['id', 'hash_string', 'file_stats', 'wanted'], ids: [1] }, id: 'a1' })
    assert.equal(res.status, 200)
    assert.equal(res.json.jsonrpc, '2.0')
    assert.equal(res.json.id, 'a1')
    const [got] = (res.json.result as { torrents: Array<Record<string, unknown>> }).torrents
    assert.deepEqual(got?.file_stats, [{ bytes_completed: 0, wanted: true, priority: 0 }])
    assert.deepEqual(got?.wanted, [true])
    assert.equal(typeof got?.hash_string, 'string')
  })

  test('JSON-RPC errors: method not found, invalid params, by-position params, a method failure with its message', async (t) => {
    const r = await rig(t)
    const err = async (body: unknown): Promise<{ code: number, message: string, data: { error_string: string } }> => (await r.post(body)).json.error as never
    assert.equal((await err({ jsonrpc: '2.0', method: 'nope', id: 1 })).code, -32601)
    assert.equal((await err({ jsonrpc: '2.0', method: 'torrent_get', params: [1], id: 1 })).code, -32602)
    assert.equal((await err({ jsonrpc: '2.0', method: 'torrent_get', params: { fields: 'x' }, id: 1 })).code, -32602)
    assert.equal((await err({ jsonrpc: '1.0', method: 'session_get', id: 1 })).code, -32600)
    const failure = await err({ jsonrpc: '2.0', method: 'free_space', params: { path: 'rel' }, id: 2 })
    assert.equal(failure.code, 3)
    assert.equal(failure.message, 'path is not absolute')
    assert.match(failure.data.error_string, /not absolute/)
    const parse = await r.post('{"jsonrpc": "2.0", "method": ')
    assert.equal((parse.json.error as { code: number }).code, -32700)
  })

  test('notifications get 204 and no body; a batch answers the requests with ids, in order', async (t) => {
    const r = await rig(t)
    const note = await r.post({ jsonrpc: '2.0', method: 'session_set', params: { speed_limit_down: 7, speed_limit_down_enabled: true } })
    assert.equal(note.status, 204)
    assert.equal(r.session.settings.downloadLimit, 7000)
    const batch = await r.post([
      { jsonrpc: '2.0', method: 'session_get', params: { fields: ['rpc_version'] }, id: 1 },
      { jsonrpc: '2.0', method: 'session_stats' },
      { jsonrpc: '2.0', method: 'free_space', params: { path: '/x' }, id: 2 }
    ])
    assert.deepEqual((batch.json as unknown as Array<{ id: number, result: Record<string, unknown> }>).map((b) => [b.id, Object.keys(b.result)]), [[1, ['rpc_version']], [2, ['path', 'size_bytes', 'total_size']]])
    assert.equal((await r.post([])).status, 200)
  })

  test('the plugin stops following the session\'s events when the app closes', async () => {
    const session = new RichSession()
    const app = Fastify()
    await app.register(async (child) => { await transmissionRpc({ session })(child) })
    await app.ready()
    assert.ok(session.events.listenerCount() > 0)
    await app.close()
    assert.equal(session.events.listenerCount(), 0)
  })
})
