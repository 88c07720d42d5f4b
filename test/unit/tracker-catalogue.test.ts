/**
 * The catalogue: `/files` search, sorting and paging (and every bad query value), per-file stats (completed), the
 * metainfo a registration uploads and `/torrent/<info hash>` serving it, and operator removal.
 */
import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { createMetainfo, encodeMetainfo, parseMetainfo, type CreatedMetainfo } from '../../src/content/index.js'
import { createTracker, trackerLimits, type Tracker } from '../../src/tracker/index.js'
import { CompletedCounts } from '../../src/tracker/catalogue-completed.js'
import { TrackerStore } from '../../src/tracker/store.js'

const sha1 = (data: string | Buffer): string => createHash('sha1').update(data).digest('hex')
const pct = (hex: string): string => hex.replace(/../g, (b) => `%${b}`)
const HOST = 'tracker.example:5000'
const T0 = 1_700_000_000_000

type Body = Record<string, unknown>
interface Reply { status: number, json: Body, raw: string, headers: Record<string, unknown>, body: Buffer }

let tracker: Tracker
let clock = T0

function tmpDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-catalogue-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

async function open (db = ':memory:'): Promise<Tracker> {
  // Rate limits off: these tests are about the catalogue, and make many requests from one address.
  return await createTracker({ db, probeIntervalMs: 0, swarmSweepIntervalMs: 0, udp: false, rateLimits: false, now: () => clock })
}

async function request (method: 'GET' | 'POST' | 'HEAD', url: string, payload?: unknown, on: Tracker = tracker): Promise<Reply> {
  const r = await on.app.inject({
    method,
    url,
    headers: { host: HOST, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) })
  })
  const json = /json/.test(String(r.headers['content-type'])) && r.body !== '' ? r.json() as Body : {}
  return { status: r.statusCode, json, raw: r.body, headers: r.headers, body: r.rawPayload }
}

const get = async (url: string, on?: Tracker): Promise<Reply> => await request('GET', url, undefined, on)

async function register (body: Body, on?: Tracker): Promise<Reply> {
  const r = await request('POST', '/register', body, on)
  return r
}

async function registered (body: Body, on?: Tracker): Promise<Body> {
  const r = await register(body, on)
  assert.equal(r.status, 200, r.raw)
  return r.json
}

/** A registration of a file of `size` bytes named `name` (one chunk in the 1 MiB dialect, so any small size fits). */
function reg (name: string, size: number, extra: Body = {}): Body {
  return { file_name: name, file_hash: sha1(`${name}:${size}`), file_size: size, chunks: size === 0 ? [] : [0], chunk_size: 1024 * 1024, ip: '10.0.0.1', port: 6000, ...extra }
}

async function announce (infoHash: string, remoteAddress: string, left: number, event = '', on: Tracker = tracker): Promise<void> {
  const r = await on.app.inject({
    method: 'GET',
    url: `/announce?info_hash=${pct(infoHash)}&peer_id=-TS0001-${'0'.repeat(12)}&port=6881&left=${left}${event === '' ? '' : `&event=${event}`}`,
    remoteAddress
  })
  assert.equal(r.statusCode, 200)
  assert.doesNotMatch(r.body, /failure reason/, r.body)
}

async function names (url: string): Promise<{ names: string[], total: unknown }> {
  const r = await get(url)
  assert.equal(r.status, 200, `${url}: ${r.raw}`)
  return { names: (r.json.files as Body[]).map((f) => f.file_name as string), total: r.json.total }
}

async function expectError (url: string, error: string): Promise<void> {
  const r = await get(url)
  assert.equal(r.status, 400, `${url}: ${r.raw}`)
  assert.deepEqual(r.json, { error }, url)
}

beforeEach(async () => {
  clock = T0
  tracker = await open()
})

afterEach(async () => {
  await tracker.close()
})

describe('GET /files: sorting and paging', () => {
  /**
   * Five files, registered in this order: 1 b.txt, 2 A.txt, 3 c.txt, 4 a.txt, 5 ä.bin. Sizes 300, 100, 300, 200,
   * 100; added at +0, +10, +10, +20, +5 (the clock stepped back); seeders 2, 0, none (no info hash), 2, 1.
   */
  async function fiveFiles (): Promise<void> {
    const files: Array<[string, number, number, number | undefined]> = [
      ['b.txt', 300, 0, 2], ['A.txt', 100, 10, 0], ['c.txt', 300, 10, undefined], ['a.txt', 200, 20, 2], ['ä.bin', 100, 5, 1]
    ]
    for (const [i, [name, size, added, seeders]] of files.entries()) {
      clock = T0 + added
      const infoHash = seeders === undefined ? undefined : sha1(`info ${name}`)
      await registered(reg(name, size, infoHash === undefined ? {} : { info_hash: infoHash }))
      for (let s = 0; s < (seeders ?? 0); s++) await announce(infoHash as string, `10.9.${i}.${s + 1}`, 0)
      // A leecher too: it counts in leechers, never in seeders.
      if (infoHash !== undefined) await announce(infoHash, `10.8.${i}.1`, 5)
    }
    clock = T0 + 30
  }
  const order = (...seqs: number[]): string[] => seqs.map((n) => ['b.txt', 'A.txt', 'c.txt', 'a.txt', 'ä.bin'][n - 1] as string)

  test('every sort in both orders; ties in registration order whatever the direction', async () => {
    await fiveFiles()
    const cases: Array<[string, number[]]> = [
      ['/files', [1, 2, 3, 4, 5]],
      ['/files?order=desc', [5, 4, 3, 2, 1]],
      ['/files?sort=name&order=asc', [2, 4, 1, 3, 5]],
      ['/files?sort=name&order=desc', [5, 3, 1, 2, 4]],
      ['/files?sort=size&order=asc', [2, 5, 4, 1, 3]],
      ['/files?sort=size&order=desc', [1, 3, 4, 2, 5]],
      ['/files?sort=added&order=asc', [1, 5, 2, 3, 4]],
      ['/files?sort=added&order=desc', [4, 2, 3, 5, 1]],
      ['/files?sort=seeders&order=desc', [1, 4, 5, 2, 3]],
      ['/files?sort=seeders&order=asc', [2, 3, 5, 1, 4]],
      // Default orders: names A to Z, the rest biggest / most / newest first.
      ['/files?sort=name', [2, 4, 1, 3, 5]],
      ['/files?sort=size', [1, 3, 4, 2, 5]],
      ['/files?sort=added', [4, 2, 3, 5, 1]],
      ['/files?sort=seeders', [1, 4, 5, 2, 3]]
    ]
    for (const [url, seqs] of cases) assert.deepEqual(await names(url), { names: order(...seqs), total: 5 }, url)
  })

  test('limit and offset page through the sorted matches; total counts the matches before paging', async () => {
    await fiveFiles()
    assert.deepEqual(await names('/files?sort=size&order=asc&limit=2'), { names: order(2, 5), total: 5 })
    assert.deepEqual(await names('/files?sort=size&order=asc&limit=2&offset=2'), { names: order(4, 1), total: 5 })
    assert.deepEqual(await names('/files?sort=size&order=asc&limit=2&offset=4'), { names: order(3), total: 5 })
    assert.deepEqual(await names('/files?sort=size&order=asc&limit=2&offset=5'), { names: [], total: 5 })
    assert.deepEqual(await names('/files?offset=9007199254740991'), { names: [], total: 5 })
    // Every page of every sort, put together, is the whole sorted list: nothing skipped or repeated at the seams.
    for (const sort of ['', 'name', 'size', 'added', 'seeders']) {
      for (const dir of ['asc', 'desc']) {
        const whole = (await names(`/files?sort=${sort}&order=${dir}`)).names
        const paged: string[] = []
        for (let offset = 0; offset < 5; offset += 2) paged.push(...(await names(`/files?sort=${sort}&order=${dir}&limit=2&offset=${offset}`)).names)
        assert.deepEqual(paged, whole, `${sort} ${dir}`)
      }
    }
    // Seeders ties between pages: b.txt and a.txt both have 2, b.txt registered first.
    assert.deepEqual(await names('/files?sort=seeders&limit=1'), { names: order(1), total: 5 })
    assert.deepEqual(await names('/files?sort=seeders&limit=1&offset=1'), { names: order(4), total: 5 })
  })

  test('q searches the names (case-insensitively, Unicode too) before sorting and paging', async () => {
    await fiveFiles()
    assert.deepEqual(await names('/files?q=A.&sort=name&order=desc'), { names: order(2, 4), total: 2 })
    assert.deepEqual(await names('/files?q=a.txt&sort=seeders&limit=1'), { names: order(4), total: 2 })
    assert.deepEqual(await names(`/files?q=${encodeURIComponent('Ä')}`), { names: order(5), total: 1 })
    assert.deepEqual(await names('/files?q=.TXT&sort=size&limit=1&offset=1'), { names: order(3), total: 4 })
    assert.deepEqual(await names('/files?q=nothing&sort=seeders'), { names: [], total: 0 })
    // Form encoding: '+' is a space.
    await registered(reg('Holiday Photos.zip', 7))
    assert.deepEqual(await names('/files?q=holiday+photos'), { names: ['Holiday Photos.zip'], total: 1 })
  })

  test('seeders and leechers in the entries are the live swarm counts the sort used', async () => {
    await fiveFiles()
    const r = await get('/files?sort=seeders&limit=3')
    assert.deepEqual((r.json.files as Body[]).map((f) => [f.seeders, f.leechers]), [[2, 1], [2, 1], [1, 1]])
    // The seeders of b.txt expire (no announce for 2 intervals + grace); a.txt's re-announce and stay.
    clock += 1800_000
    for (let s = 0; s < 2; s++) await announce(sha1('info a.txt'), `10.9.3.${s + 1}`, 0)
    clock += 1800_000 + 120_001
    assert.deepEqual((await names('/files?sort=seeders&limit=3')).names, order(4, 1, 2), 'a.txt first, then the rest in registration order')
    assert.deepEqual(((await get('/files?sort=seeders&limit=2')).json.files as Body[]).map((f) => [f.seeders, f.leechers]), [[2, 0], [0, 0]])
  })

  test('no limit: every match up to TRACKER_FILES_MAX_LIMIT, total telling how many there are', async (t) => {
    await tracker.close()
    const db = join(tmpDir(t), 'tracker.db')
    TrackerStore.open(db).close()
    const raw = new Database(db)
    const insert = raw.prepare('INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at) VALUES (?, ?, ?, ?, ?)')
    const n = trackerLimits.TRACKER_FILES_MAX_LIMIT + 5
    raw.transaction(() => { for (let i = 0; i < n; i++) insert.run(sha1(`f${i}`), `f${i}`, `f${i}`, i, T0 + i) })()
    raw.close()
    tracker = await open(db)
    const all = await get('/files')
    assert.equal((all.json.files as Body[]).length, trackerLimits.TRACKER_FILES_MAX_LIMIT)
    assert.equal(all.json.total, n)
    assert.equal((all.json.files as Body[])[0]?.file_name, 'f0', 'registration order')
    const rest = await get(`/files?offset=${trackerLimits.TRACKER_FILES_MAX_LIMIT}`)
    assert.deepEqual((rest.json.files as Body[]).map((f) => f.file_name), ['f10000', 'f10001', 'f10002', 'f10003', 'f10004'])
    assert.equal((await get('/files?sort=seeders&limit=1&offset=10004')).json.total, n)
  })
})

describe('GET /files: bad query values are 400 with the reason, never another page', () => {
  const LIMIT = `Invalid parameter: limit: must be an integer from 1 to ${trackerLimits.TRACKER_FILES_MAX_LIMIT}`
  const OFFSET = 'Invalid parameter: offset: must be a non-negative integer'
  const SORT = 'Invalid parameter: sort: must be one of name, size, seeders, added'
  const ORDER = 'Invalid parameter: order: must be one of asc, desc'
  const cases: Array<[string, string]> = [
    ['limit=0', LIMIT],
    ['limit=-1', LIMIT],
    ['limit=1.5', LIMIT],
    ['limit=1e3', LIMIT],
    ['limit=0x10', LIMIT],
    ['limit=%201', LIMIT],
    ['limit=abc', LIMIT],
    [`limit=${trackerLimits.TRACKER_FILES_MAX_LIMIT + 1}`, LIMIT],
    ['limit=99999999999999999999999', LIMIT],
    ['offset=-1', OFFSET],
    ['offset=1.5', OFFSET],
    ['offset=x', OFFSET],
    ['offset=9007199254740992', OFFSET],
    ['sort=Name', SORT],
    ['sort=seed', SORT],
    ['sort=size%20', SORT],
    ['order=ASC', ORDER],
    ['order=up', ORDER],
    ['q=%FF', 'Invalid parameter: q: not valid UTF-8'],
    ['q=%E4pfel', 'Invalid parameter: q: not valid UTF-8'],
    ['q=%C3%28', 'Invalid parameter: q: not valid UTF-8'],
    ['q=%ED%A0%80', 'Invalid parameter: q: not valid UTF-8'],
    ['q=50%', 'Invalid parameter: q: malformed percent-encoding'],
    ['q=%G0', 'Invalid parameter: q: malformed percent-encoding'],
    ['sort=%FF', 'Invalid parameter: sort: not valid UTF-8'],
    [`q=${'x'.repeat(trackerLimits.TRACKER_MAX_QUERY_BYTES + 1)}`, `Invalid parameter: q: must be at most ${trackerLimits.TRACKER_MAX_QUERY_BYTES} bytes of UTF-8`],
    [`q=${encodeURIComponent('ä'.repeat(128))}`, `Invalid parameter: q: must be at most ${trackerLimits.TRACKER_MAX_QUERY_BYTES} bytes of UTF-8`],
    [`q=${'x'.repeat(8000)}`, `Invalid parameter: q: must be at most ${trackerLimits.TRACKER_MAX_QUERY_BYTES} bytes of UTF-8`],
    // The first bad one, in the order q, limit, offset, sort, order.
    ['order=up&sort=x&offset=-1&limit=0&q=%FF', 'Invalid parameter: q: not valid UTF-8'],
    ['order=up&sort=x&offset=-1&limit=0', LIMIT],
    ['order=up&sort=x&offset=-1', OFFSET],
    ['order=up&sort=x', SORT]
  ]
  for (const [query, error] of cases) {
    test(`?${query.length > 60 ? `${query.slice(0, 60)}…` : query}: ${error}`, async () => {
      await registered(reg('a.txt', 1))
      await expectError(`/files?${query}`, error)
    })
  }

  test('edge values are accepted; empty values count as absent; a repeated parameter: the first value', async () => {
    await registered(reg('a.txt', 1))
    await registered(reg('b.txt', 2))
    assert.deepEqual(await names(`/files?limit=${trackerLimits.TRACKER_FILES_MAX_LIMIT}&offset=0`), { names: ['a.txt', 'b.txt'], total: 2 })
    assert.deepEqual(await names('/files?q=&limit=&offset=&sort=&order='), { names: ['a.txt', 'b.txt'], total: 2 })
    assert.deepEqual(await names('/files?limit=1&limit=abc'), { names: ['a.txt'], total: 2 })
    assert.deepEqual(await names('/files?limit=01'), { names: ['a.txt'], total: 2 })
    assert.deepEqual(await names(`/files?q=${'x'.repeat(trackerLimits.TRACKER_MAX_QUERY_BYTES)}`), { names: [], total: 0 })
    assert.deepEqual(await names('/files?unknown=%FF&q=b'), { names: ['b.txt'], total: 1 }, 'unknown parameters are ignored')
  })
})

describe('/files and /lookup entries: added_at, completed, torrent_url', () => {
  test('keys sorted; torrent_url only with stored metainfo, built from the Host header', async (t) => {
    clock = T0 + 1
    await registered(reg('plain.txt', 3))
    const created = await torrentOf(t, 'movie.mkv', 40_000)
    clock = T0 + 2
    const reply = await registered(registrationOf(created))
    const url = `http://${HOST}/torrent/${created.infoHash}`
    assert.equal(reply.torrent_url, url)
    const files = (await get('/files')).json.files as Body[]
    assert.deepEqual(Object.keys(files[0] ?? {}), ['added_at', 'completed', 'file_hash', 'file_name', 'file_size', 'peers_count'])
    assert.deepEqual(files[0]?.added_at, T0 + 1)
    assert.deepEqual(Object.keys(files[1] ?? {}), [
      'added_at', 'completed', 'file_hash', 'file_name', 'file_size', 'info_hash', 'leechers', 'magnet', 'peers_count', 'seeders', 'torrent_url'
    ])
    assert.equal(files[1]?.torrent_url, url)
    assert.equal(files[1]?.added_at, T0 + 2)
    const lookup = (await get(`/lookup?info_hash=${created.infoHash}`)).json
    assert.equal(lookup.torrent_url, url)
    assert.equal(lookup.completed, 0)
    assert.equal((await get('/lookup?file_name=plain.txt')).json.torrent_url, undefined)
  })
})

/** A real .torrent of a file of `size` random bytes, as `create` makes it. */
async function torrentOf (t: TestContext, name: string, size: number, comment?: string): Promise<CreatedMetainfo & { fileHash: string, size: number }> {
  const dir = tmpDir(t)
  const path = join(dir, name)
  const data = randomBytes(size)
  writeFileSync(path, data)
  const created = await createMetainfo({ path, trackers: [`http://${HOST}/announce`], createdBy: 'p2pshare/test', ...(comment === undefined ? {} : { comment }) })
  return { ...created, fileHash: sha1(data), size }
}

function registrationOf (created: { fileHash: string, size: number, infoHash: string, torrent: Buffer, info: { name: string } }, extra: Body = {}): Body {
  return {
    file_name: created.info.name,
    file_hash: created.fileHash,
    file_size: created.size,
    chunks: [0],
    chunk_size: 1024 * 1024,
    ip: '10.0.0.1',
    port: 6000,
    info_hash: created.infoHash,
    metainfo: created.torrent.toString('base64'),
    ...extra
  }
}

describe('metainfo: uploaded with /register, served at /torrent/<info hash>', () => {
  test('round trip: the bytes uploaded come back, with a .torrent content type and file name', async (t) => {
    const created = await torrentOf(t, 'Bücher & "notes".pdf', 70_000)
    await registered(registrationOf(created))
    const r = await get(`/torrent/${created.infoHash.toUpperCase()}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/x-bittorrent')
    assert.equal(r.headers['content-disposition'],
      'attachment; filename="B_cher & _notes_.pdf.torrent"; filename*=UTF-8\'\'B%C3%BCcher%20%26%20%22notes%22.pdf.torrent')
    assert.ok(r.body.equals(created.torrent), 'the same bytes')
    assert.equal(parseMetainfo(r.body).infoHash, created.infoHash)
    const head = await request('HEAD', `/torrent/${created.infoHash}`)
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], String(created.torrent.length))
  })

  test('the first upload stays; a registration whose info hash the catalogue does not hold for the file uploads nothing', async (t) => {
    const created = await torrentOf(t, 'a.bin', 20_000)
    await registered(registrationOf(created))
    // The same info dictionary with another comment around it: a valid upload of the same info hash, not kept.
    const other = encodeMetainfo({ info: created.info.raw, trackers: ['http://elsewhere/announce'], comment: 'second' })
    const again = await registered(registrationOf(created, { port: 6001, metainfo: other.toString('base64') }))
    assert.equal(again.torrent_url, `http://${HOST}/torrent/${created.infoHash}`, 'the catalogue has one')
    assert.ok((await get(`/torrent/${created.infoHash}`)).body.equals(created.torrent))

    // A file registered with info hash X, then with a metainfo of info hash Y: X stays, Y's metainfo is not kept.
    const second = await torrentOf(t, 'b.bin', 20_000)
    const x = sha1('x')
    await registered(registrationOf(second, { info_hash: x, metainfo: undefined }))
    const reply = await registered(registrationOf(second, { port: 6001 }))
    assert.equal(reply.info_hash, x)
    assert.equal(reply.torrent_url, undefined)
    assert.deepEqual((await get(`/torrent/${second.infoHash}`)).json, { error: 'File not found' })
    assert.deepEqual((await get(`/torrent/${x}`)).json, { error: 'No metainfo for this file: no registration uploaded its .torrent' })
  })

  test('a torrent whose name holds a bidirectional control (or a control character) is refused: the catalogue serves it to anyone', async (t) => {
    // A file name with U+202E is refused by file_name's own check; a torrent named so under a clean file_name by the metainfo's.
    for (const [name, reason] of [
      ['photo\u202egpj.exe', 'its file names must not contain Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)'],
      ['a\u2067b.bin', 'its file names must not contain Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)'],
      ['a\u001b[2Jb.bin', 'its file names must not contain control characters']
    ] as const) {
      const created = await torrentOf(t, name, 1000)
      const r = await register(registrationOf(created, { file_name: 'clean.bin' }))
      assert.equal(r.status, 400, r.raw)
      assert.deepEqual(r.json, { error: `Invalid field: metainfo: ${reason}` })
      assert.equal((await get(`/torrent/${created.infoHash}`)).status, 404)
    }
    const fine = await torrentOf(t, 'שלום עולם.txt', 1000)
    assert.equal((await register(registrationOf(fine, { file_name: 'clean.bin' }))).status, 200, 'right-to-left text itself is fine')
  })

  test('garbage, a mismatch, a wrong size, a missing info_hash or an oversize upload: 400, nothing stored', async (t) => {
    const created = await torrentOf(t, 'c.bin', 50_000)
    const another = await torrentOf(t, 'd.bin', 50_000)
    const max = trackerLimits.TRACKER_MAX_METAINFO_BYTES
    const cases: Array<[Body, string]> = [
      [{ metainfo: 12 }, 'must be a string (the .torrent file, base64)'],
      [{ metainfo: null }, 'must be a string (the .torrent file, base64)'],
      [{ metainfo: '' }, 'must not be empty'],
      [{ metainfo: 'not base64!' }, 'must be base64 (RFC 4648, with padding)'],
      [{ metainfo: created.torrent.toString('base64url') + '-_' }, 'must be base64 (RFC 4648, with padding)'],
      [{ metainfo: 'QUJDRA' }, 'must be base64 (RFC 4648, with padding)'],
      [{ metainfo: 'QU=JDRA=' }, 'must be base64 (RFC 4648, with padding)'],
      [{ metainfo: `${created.torrent.toString('base64')}\n` }, 'must be base64 (RFC 4648, with padding)'],
      [{ metainfo: Buffer.from('hello, world').toString('base64') }, 'not a valid torrent file: '],
      [{ metainfo: Buffer.from('d4:infod4:name1:xee').toString('base64') }, 'not a valid torrent file: '],
      [{ metainfo: another.torrent.toString('base64') }, `its info hash ${another.infoHash} differs from info_hash ${created.infoHash}`],
      [{ file_size: 50_001, chunks: [0] }, 'describes 50000 bytes, not file_size 50001'],
      [{ info_hash: undefined }, 'needs info_hash (the torrent\'s info hash) in the same registration'],
      [{ metainfo: Buffer.alloc(max + 1).toString('base64') }, `must be at most ${max} bytes (before base64)`],
      [{ metainfo: 'A'.repeat(Math.ceil(max / 3) * 4 + 4) }, `must be at most ${max} bytes (before base64)`]
    ]
    for (const [extra, reason] of cases) {
      const r = await register(registrationOf(created, extra))
      assert.equal(r.status, 400, `${reason}: ${r.raw.slice(0, 200)}`)
      const error = String(r.json.error)
      assert.ok(error.startsWith(`Invalid field: metainfo: ${reason}`), `${reason}: got ${error}`)
    }
    assert.deepEqual((await get('/files')).json, { files: [], total: 0 }, 'no registration was stored')
    assert.equal((await get(`/torrent/${created.infoHash}`)).status, 404)
    // The largest upload that fits is taken (a torrent padded with a comment to just under the bound).
    const padded = encodeMetainfo({ info: created.info.raw, trackers: [], comment: 'x'.repeat(max - created.info.raw.length - 40) })
    assert.ok(padded.length <= max && padded.length > max - 100, String(padded.length))
    await registered(registrationOf(created, { metainfo: padded.toString('base64') }))
    assert.ok((await get(`/torrent/${created.infoHash}`)).body.equals(padded))
  })

  test('/torrent/<hash>: 400 for a malformed hash, 404 for an unknown one', async () => {
    for (const bad of ['abc', 'z'.repeat(40), 'a'.repeat(41), `${'a'.repeat(40)}.torrent`]) {
      const r = await get(`/torrent/${bad}`)
      assert.equal(r.status, 400, bad)
      assert.deepEqual(r.json, { error: 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)' })
    }
    const unknown = await get(`/torrent/${sha1('nothing')}`)
    assert.equal(unknown.status, 404)
    assert.deepEqual(unknown.json, { error: 'File not found' })
  })
})

describe('a private tracker: the links carry the requester\'s passkey', () => {
  test('torrent_url and the magnet link work for the user who asked; /torrent needs a key like every seed route', async (t) => {
    const db = join(tmpDir(t), 'tracker.db')
    const setup = TrackerStore.open(db)
    const { key } = setup.keys.add('alice', T0)
    setup.close()
    await tracker.close()
    tracker = await createTracker({ db, probeIntervalMs: 0, swarmSweepIntervalMs: 0, rateLimits: false, private: true, now: () => clock })
    const created = await torrentOf(t, 'private.bin', 30_000)
    const reply = await request('POST', `/register?passkey=${key}`, registrationOf(created))
    assert.equal(reply.status, 200, reply.raw)
    const url = `http://${HOST}/torrent/${created.infoHash}?passkey=${key}`
    assert.equal(reply.json.torrent_url, url)
    const entry = ((await get(`/files?passkey=${key}`)).json.files as Body[])[0]
    assert.equal(entry?.torrent_url, url)
    assert.match(String(entry?.magnet), new RegExp(`&tr=${encodeURIComponent(`http://${HOST}/announce?passkey=${key}`)}$`))
    assert.ok((await get(url.slice(`http://${HOST}`.length))).body.equals(created.torrent))
    assert.equal((await get(`/torrent/${created.infoHash}`)).status, 403)
  })
})

describe('completed downloads', () => {
  test('counted once per peer, shown at once, written in a batch, kept across a restart', async (t) => {
    const db = join(tmpDir(t), 'tracker.db')
    await tracker.close()
    tracker = await open(db)
    const infoHash = sha1('info')
    await registered(reg('movie.mkv', 3000, { info_hash: infoHash }))
    await announce(infoHash, '10.0.0.2', 100, 'started')
    await announce(infoHash, '10.0.0.2', 0, 'completed')
    await announce(infoHash, '10.0.0.2', 0, 'completed')
    await announce(infoHash, '10.0.0.3', 0, 'completed')
    await announce(infoHash, '10.0.0.4', 0)
    // An info hash the catalogue does not hold: its swarm counts it, the catalogue ignores it.
    await announce(sha1('not catalogued'), '10.0.0.2', 0, 'completed')
    assert.equal(((await get('/files')).json.files as Body[])[0]?.completed, 2)
    assert.equal((await get(`/lookup?info_hash=${infoHash}`)).json.completed, 2)

    // Not written yet (one write per few seconds, not per announce) ...
    const raw = new Database(db, { readonly: true })
    try {
      assert.equal(raw.prepare('SELECT completed FROM files').pluck().get(), 0)
      // ... until the tracker closes.
      await tracker.close()
      assert.equal(raw.prepare('SELECT completed FROM files').pluck().get(), 2)
    } finally {
      raw.close()
    }
    tracker = await open(db)
    assert.equal(((await get('/files')).json.files as Body[])[0]?.completed, 2)
    // A new peer after the restart adds to the stored count; the swarm's own count starts over.
    await announce(infoHash, '10.0.0.5', 0, 'completed')
    assert.equal((await get('/lookup?file_name=movie.mkv')).json.completed, 3)
  })

  test('CompletedCounts: one transaction per flush, forced at maxPending, kept on failure, dropped after close', () => {
    const writes: Array<Array<readonly [string, number]>> = []
    let fail = false
    let isOpen = true
    const store = {
      get isOpen () { return isOpen },
      addCompleted (counts: Iterable<readonly [string, number]>): number {
        if (fail) throw new Error('SQLITE_BUSY')
        writes.push([...counts])
        return writes.at(-1)?.length ?? 0
      }
    } as unknown as TrackerStore
    const errors: unknown[] = []
    const counts = new CompletedCounts(store, { flushIntervalMs: 0, maxPending: 3, onError: (err) => errors.push(err) })
    counts.add('a')
    counts.add('a')
    counts.add('b')
    assert.equal(counts.pending('a'), 2)
    assert.deepEqual(writes, [], 'nothing written before a flush')
    assert.equal(counts.flush(), 2)
    assert.deepEqual(writes, [[['a', 2], ['b', 1]]])
    assert.equal(counts.pending('a'), 0)
    // A third distinct info hash forces a write.
    counts.add('a')
    counts.add('b')
    counts.add('c')
    assert.deepEqual(writes[1], [['a', 1], ['b', 1], ['c', 1]])
    // A failed write keeps the counts for the next one.
    fail = true
    counts.add('a')
    assert.throws(() => counts.flush(), /SQLITE_BUSY/)
    counts.add('a')
    assert.equal(counts.pending('a'), 2)
    fail = false
    counts.close()
    assert.deepEqual(writes[2], [['a', 2]], 'close() writes what is pending')
    // A late completion (a request still in flight at close) is written at once; once the store is closed, dropped.
    counts.add('d')
    assert.deepEqual(writes[3], [['d', 1]])
    isOpen = false
    counts.add('e')
    assert.equal(counts.pending('e'), 0)
    assert.deepEqual(errors, [])
  })
})

describe('operator removal', () => {
  test('removeFile by info hash or file hash, from another connection while the tracker runs; a restart keeps it removed', async (t) => {
    const db = join(tmpDir(t), 'tracker.db')
    await tracker.close()
    tracker = await open(db)
    const created = await torrentOf(t, 'gone.bin', 10_000)
    await registered(registrationOf(created))
    await registered(registrationOf(created, { port: 6001 }))
    await registered(reg('kept.txt', 5))
    await registered(reg('also-gone.txt', 6))
    await announce(created.infoHash, '10.0.0.9', 0)

    // The CLI's way: its own connection to the same file.
    const operator = TrackerStore.open(db)
    try {
      const removed = operator.removeFile(created.infoHash.toUpperCase())
      assert.equal(removed?.file.fileHash, created.fileHash)
      assert.equal(removed?.file.infoHash, created.infoHash)
      assert.equal(removed?.peersRemoved, 2)
      assert.equal(operator.removeFile(created.infoHash), undefined, 'already gone')
      assert.equal(operator.removeFile(sha1('never registered')), undefined)
      assert.equal(operator.removeFile(sha1('also-gone.txt:6'))?.file.fileName, 'also-gone.txt')
    } finally {
      operator.close()
    }

    const check = async (): Promise<void> => {
      assert.deepEqual(await names('/files'), { names: ['kept.txt'], total: 1 })
      assert.equal((await get(`/lookup?file_hash=${created.fileHash}`)).status, 404)
      assert.equal((await get(`/lookup?info_hash=${created.infoHash}`)).status, 404)
      assert.equal((await get('/lookup?file_name=gone.bin')).status, 404)
      assert.equal((await get(`/torrent/${created.infoHash}`)).status, 404)
    }
    await check()
    const raw = new Database(db, { readonly: true })
    try {
      assert.equal(raw.prepare('SELECT COUNT(*) FROM legacy_peers WHERE file_hash = ?').pluck().get(created.fileHash), 0)
      assert.equal(raw.prepare('SELECT COUNT(*) FROM legacy_peers').pluck().get(), 1, 'kept.txt\'s peer only')
    } finally {
      raw.close()
    }
    await tracker.close()
    tracker = await open(db)
    await check()
    // It can be registered again, as a new file at the end of the catalogue.
    await registered(registrationOf(created))
    assert.deepEqual(await names('/files'), { names: ['kept.txt', 'gone.bin'], total: 2 })
  })
})
