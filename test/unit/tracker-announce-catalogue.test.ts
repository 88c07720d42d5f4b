import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { magnetLink } from '../../src/content/magnet.js'
import { createTracker, SCHEMA_VERSION, trackerLimits, type Tracker } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const pct = (hex: string): string => Buffer.from(hex, 'hex').toString('hex').replace(/../g, (b) => `%${b}`)
const FILE = sha1('file bytes')
const INFO = sha1('info dictionary')
const INFO2 = sha1('another info dictionary')
const HOST = 'tracker.example:5000'
const MAGNET = magnetLink({ infoHash: INFO, name: 'movie.mkv', trackers: [`http://${HOST}/announce`] })

type Body = Record<string, unknown>

function reg (overrides: Body = {}): Body {
  return { file_name: 'movie.mkv', file_hash: FILE, file_size: 3000, chunks: [0, 1, 2], ip: '10.0.0.1', port: 6000, ...overrides }
}

let tracker: Tracker
let clock = 1_700_000_000_000

async function register (body: Body): Promise<{ status: number, raw: string, json: Body }> {
  const r = await tracker.app.inject({ method: 'POST', url: '/register', payload: body, headers: { host: HOST } })
  return { status: r.statusCode, raw: r.body, json: r.json() }
}

async function get (url: string, headers: Record<string, string> = { host: HOST }): Promise<{ status: number, raw: string, json: Body }> {
  const r = await tracker.app.inject({ method: 'GET', url, headers })
  return { status: r.statusCode, raw: r.body, json: r.json() }
}

/** Announces peer remoteAddress:port to an info hash; asserts it was accepted. */
async function announce (infoHash: string, remoteAddress: string, port: number, left = 100, event = ''): Promise<void> {
  const peerId = `-TS0001-${String(port).padStart(12, '0')}`
  const r = await tracker.app.inject({
    method: 'GET',
    url: `/announce?info_hash=${pct(infoHash)}&peer_id=${peerId}&port=${port}&left=${left}${event === '' ? '' : `&event=${event}`}`,
    remoteAddress
  })
  assert.equal(r.statusCode, 200)
  assert.doesNotMatch(r.body, /failure reason/, r.body)
}

beforeEach(async () => {
  clock = 1_700_000_000_000
  tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, swarmSweepIntervalMs: 0, now: () => clock })
})

afterEach(async () => {
  await tracker.close()
})

describe('catalogue join: the seed shape without an info hash', () => {
  test('register and lookup are byte for byte the seed\'s when no registration named an info hash, announces or not; files adds only added_at, completed, total', async () => {
    // A swarm exists, but no file is tied to it.
    await announce(INFO, '10.0.0.1', 6000)
    const r = await register(reg())
    assert.equal(r.raw, `{"file_hash":"${FILE}","message":"Peer registered successfully","peers_count":1}\n`)
    const lookup = await get('/lookup?file_name=movie.mkv')
    assert.equal(lookup.raw, `{"file_hash":"${FILE}","file_name":"movie.mkv","file_size":3000,"peers":[{"chunks":[0,1,2],"ip":"10.0.0.1","port":6000}]}\n`)
    const files = await get('/files')
    assert.equal(files.raw, `{"files":[{"added_at":${clock},"completed":0,"file_hash":"${FILE}","file_name":"movie.mkv","file_size":3000,"peers_count":1}],"total":1}\n`)
  })
})

describe('catalogue join: a file with an info hash', () => {
  test('the register reply echoes the recorded info hash; lookup and files gain magnet, seeders, leechers, bt_peers', async () => {
    const r = await register(reg({ info_hash: INFO.toUpperCase() }))
    assert.equal(r.raw, `{"file_hash":"${FILE}","info_hash":"${INFO}","message":"Peer registered successfully","peers_count":1}\n`)

    const empty = await get('/lookup?file_name=movie.mkv')
    assert.equal(empty.raw, `{"bt_peers":[],"completed":0,"file_hash":"${FILE}","file_name":"movie.mkv","file_size":3000,"info_hash":"${INFO}",` +
      `"leechers":0,"magnet":${JSON.stringify(MAGNET)},"peers":[{"chunks":[0,1,2],"ip":"10.0.0.1","port":6000}],"seeders":0}\n`)
    assert.match(MAGNET, /^magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=movie\.mkv&tr=http%3A%2F%2Ftracker\.example%3A5000%2Fannounce$/)

    // The legacy peer also announces from the same endpoint; two more peers announce.
    await announce(INFO, '10.0.0.1', 6000, 0)
    await announce(INFO, '10.0.0.2', 6881, 0)
    await announce(INFO, '2001:db8::7', 6882, 500)
    const lookup = await get('/lookup?file_name=movie.mkv')
    assert.equal(lookup.json.seeders, 2)
    assert.equal(lookup.json.leechers, 1)
    assert.deepEqual((lookup.json.bt_peers as Body[]).map((p) => `${p.ip as string} ${p.port as number}`).sort(),
      ['10.0.0.1 6000', '10.0.0.2 6881', '2001:db8::7 6882'])
    assert.deepEqual(lookup.json.peers, [{ chunks: [0, 1, 2], ip: '10.0.0.1', port: 6000 }], 'peers stays legacy-only')
    assert.deepEqual(Object.keys(lookup.json), ['bt_peers', 'completed', 'file_hash', 'file_name', 'file_size', 'info_hash', 'leechers', 'magnet', 'peers', 'seeders'])

    // peers_count: 1 registered + 3 announced, 10.0.0.1:6000 counted once.
    const files = await get('/files')
    assert.equal(files.raw, `{"files":[{"added_at":${clock},"completed":0,"file_hash":"${FILE}","file_name":"movie.mkv","file_size":3000,"info_hash":"${INFO}","leechers":1,` +
      `"magnet":${JSON.stringify(MAGNET)},"peers_count":3,"seeders":2}],"total":1}\n`)
    const again = await register(reg({ port: 6001, info_hash: INFO }))
    assert.equal(again.json.peers_count, 4, '2 registered + 3 announced, one endpoint both')

    // Stopped and expired peers leave the counts.
    await announce(INFO, '10.0.0.2', 6881, 0, 'stopped')
    assert.equal((await get('/lookup?file_name=movie.mkv')).json.seeders, 1)
    clock += 2 * 1800_000 + 120_001
    const later = await get('/files')
    assert.deepEqual((later.json.files as Body[])[0], { added_at: 1_700_000_000_000, completed: 0, file_hash: FILE, file_name: 'movie.mkv', file_size: 3000, info_hash: INFO, leechers: 0, magnet: MAGNET, peers_count: 2, seeders: 0 })
  })

  test('/lookup?info_hash= finds the file (either case); 400 for a malformed one, 404 for an unknown one; file_hash wins, then info_hash, then file_name', async () => {
    await register(reg({ info_hash: INFO }))
    await register(reg({ file_name: 'other.bin', file_hash: sha1('other'), info_hash: INFO2 }))
    assert.equal((await get(`/lookup?info_hash=${INFO}`)).json.file_name, 'movie.mkv')
    assert.equal((await get(`/lookup?info_hash=${INFO.toUpperCase()}`)).json.file_name, 'movie.mkv')
    assert.deepEqual(await get('/lookup?info_hash=xyz'), { status: 400, raw: '{"error":"Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)"}\n', json: { error: 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)' } })
    assert.equal((await get(`/lookup?info_hash=${sha1('nothing')}`)).status, 404)
    assert.equal((await get(`/lookup?info_hash=${INFO2}&file_name=movie.mkv`)).json.file_name, 'other.bin')
    assert.equal((await get(`/lookup?file_hash=${FILE}&info_hash=${INFO2}`)).json.file_name, 'movie.mkv')
    assert.equal((await get('/lookup?info_hash=&file_name=other.bin')).json.file_name, 'other.bin', 'empty counts as absent')
    assert.equal((await get(`/get_file/movie.mkv`)).json.info_hash, INFO)
  })

  test('the first registration naming an info hash fixes it; a different one later is ignored, not refused', async () => {
    await register(reg())
    const late = await register(reg({ port: 6001, info_hash: INFO }))
    assert.equal(late.json.info_hash, INFO, 'a file without one takes the first named')
    const conflicting = await register(reg({ port: 6002, info_hash: INFO2 }))
    assert.equal(conflicting.status, 200)
    assert.equal(conflicting.json.info_hash, INFO, 'the catalogue\'s, not the one sent')
    assert.equal(conflicting.json.peers_count, 3)
    assert.equal((await get(`/lookup?info_hash=${INFO2}`)).status, 404)
    // Another file cannot take an info hash already held.
    const taken = await register(reg({ file_name: 'b', file_hash: sha1('b'), info_hash: INFO }))
    assert.equal(taken.status, 200)
    assert.equal(taken.raw, `{"file_hash":"${sha1('b')}","message":"Peer registered successfully","peers_count":1}\n`)
    assert.equal((await get(`/lookup?info_hash=${INFO}`)).json.file_hash, FILE)
  })

  test('a malformed info_hash is a 400 like any field, checked last', async () => {
    for (const value of ['abc', null, 5, INFO.slice(1), `${INFO}0`, 'g'.repeat(40)]) {
      const r = await register(reg({ info_hash: value }))
      assert.equal(r.status, 400)
      assert.deepEqual(r.json, { error: 'Invalid field: info_hash: must be 40 hexadecimal characters (a SHA-1)' })
    }
    const portFirst = await register(reg({ info_hash: 'abc', port: 0 }))
    assert.deepEqual(portFirst.json, { error: 'Invalid field: port: must be an integer from 1 to 65535' })
  })

  test('bt_peers is bounded and random; the magnet falls back to the local address without a usable Host header', async () => {
    await register(reg({ info_hash: INFO }))
    const n = trackerLimits.TRACKER_LOOKUP_MAX_BT_PEERS + 50
    for (let i = 0; i < n; i++) await announce(INFO, `10.1.${i >> 8}.${i & 0xff}`, 7000)
    const lookup = await get('/lookup?file_name=movie.mkv')
    const listed = lookup.json.bt_peers as Body[]
    assert.equal(listed.length, trackerLimits.TRACKER_LOOKUP_MAX_BT_PEERS)
    assert.equal(new Set(listed.map((p) => p.ip)).size, listed.length)
    assert.equal(lookup.json.leechers, n)
    const files = await get('/files')
    assert.equal((files.json.files as Body[])[0]?.peers_count, n + 1)

    const spoofed = await get('/lookup?file_name=movie.mkv', { host: 'evil"host/<x>' })
    assert.equal(spoofed.json.magnet, magnetLink({ infoHash: INFO, name: 'movie.mkv', trackers: ['http://127.0.0.1:80/announce'] }))
    const v6 = await get('/lookup?file_name=movie.mkv', { host: '[::1]:8080' })
    assert.equal(v6.json.magnet, magnetLink({ infoHash: INFO, name: 'movie.mkv', trackers: ['http://[::1]:8080/announce'] }))
  })
})

describe('schema migrations', () => {
  function tmpDb (t: { after: (fn: () => void) => void }): string {
    const dir = mkdtempSync(join(tmpdir(), 'p2p-tracker-v1-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return join(dir, 'tracker.db')
  }

  /** The schema as version 1 shipped it (commit f90bbee, store.ts MIGRATIONS[0]). */
  const V1 = `
  CREATE TABLE files (
    seq         INTEGER PRIMARY KEY,
    file_hash   TEXT    NOT NULL UNIQUE CHECK (length(file_hash) = 40),
    file_name   TEXT    NOT NULL,
    name_folded TEXT    NOT NULL,
    file_size   INTEGER NOT NULL CHECK (file_size >= 0),
    added_at    INTEGER NOT NULL
  );
  CREATE INDEX files_by_name ON files (file_name, seq);
  CREATE TABLE legacy_peers (
    id             INTEGER PRIMARY KEY,
    file_hash      TEXT    NOT NULL REFERENCES files (file_hash),
    ip             TEXT    NOT NULL,
    port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    chunks         TEXT    NOT NULL,
    chunk_count    INTEGER NOT NULL,
    chunk_size     INTEGER,
    registered_at  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    probe_failures INTEGER NOT NULL DEFAULT 0,
    last_probed_at INTEGER,
    UNIQUE (file_hash, ip, port)
  );
  CREATE INDEX legacy_peers_by_endpoint ON legacy_peers (ip, port);
  `

  test('a version-1 database is migrated on open to the current schema: its files and peers kept, info hashes, completed counts and access keys recorded from then on', async (t) => {
    const path = tmpDb(t)
    const v1 = new Database(path)
    v1.pragma('journal_mode = WAL')
    v1.exec(V1)
    v1.prepare('INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at) VALUES (?, ?, ?, ?, ?)').run(FILE, 'movie.mkv', 'movie.mkv', 3000, 1)
    v1.prepare('INSERT INTO legacy_peers (file_hash, ip, port, chunks, chunk_count, registered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(FILE, '10.0.0.1', 6000, '0-2', 3, 1, 1)
    v1.pragma('user_version = 1')
    v1.close()

    await tracker.close()
    tracker = await createTracker({ db: path, probeIntervalMs: 0 })
    assert.equal(SCHEMA_VERSION, 4)
    const before = await get('/lookup?file_name=movie.mkv')
    assert.equal(before.raw, `{"file_hash":"${FILE}","file_name":"movie.mkv","file_size":3000,"peers":[{"chunks":[0,1,2],"ip":"10.0.0.1","port":6000}]}\n`)
    const ranges = await get('/lookup?file_name=movie.mkv&chunk_format=ranges')
    assert.deepEqual(ranges.json.peers, [{ chunk_ranges: '0-2', ip: '10.0.0.1', port: 6000 }])
    const r = await register(reg({ port: 6001, info_hash: INFO }))
    assert.equal(r.json.info_hash, INFO)
    assert.equal(r.json.message, 'Peer registered successfully')
    await tracker.close()

    const raw = new Database(path, { readonly: true })
    try {
      assert.equal(raw.pragma('user_version', { simple: true }), 4)
      // Version 4: the length of each peer's chunk text, filled in for the peers already there and kept for new ones.
      assert.deepEqual(raw.prepare('SELECT port, chunks, chunks_bytes FROM legacy_peers ORDER BY id').all(), [
        { port: 6000, chunks: '0-2', chunks_bytes: 3 },
        { port: 6001, chunks: '0-2', chunks_bytes: 3 }
      ])
      // A lookup chooses its peers from one index, without reading their chunk lists.
      const plan = raw.prepare("EXPLAIN QUERY PLAN SELECT id, ip, port, chunk_count, chunk_size, chunks_bytes FROM legacy_peers INDEXED BY legacy_peers_listing WHERE file_hash = ? ORDER BY id LIMIT 10").all(FILE) as Array<{ detail: string }>
      assert.match(plan.map((row) => row.detail).join('; '), /USING COVERING INDEX legacy_peers_listing/)
      assert.deepEqual(raw.prepare('SELECT file_hash, info_hash, completed, metainfo FROM files').all(), [{ file_hash: FILE, info_hash: INFO, completed: 0, metainfo: null }])
      assert.deepEqual(raw.prepare('SELECT COUNT(*) AS n FROM access_keys').get(), { n: 0 })
    } finally {
      raw.close()
    }
    // The info hash survives a restart; the unique index holds two files to one info hash apart.
    tracker = await createTracker({ db: path, probeIntervalMs: 0 })
    assert.equal((await get(`/lookup?info_hash=${INFO}`)).json.file_hash, FILE)
    const db = new Database(path)
    try {
      db.prepare('INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at) VALUES (?, ?, ?, ?, ?)').run(sha1('2'), 'two', 'two', 1, 1)
      db.prepare('INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at) VALUES (?, ?, ?, ?, ?)').run(sha1('3'), 'three', 'three', 1, 1)
      assert.throws(() => db.prepare('UPDATE files SET info_hash = ? WHERE file_hash = ?').run(INFO, sha1('2')), /UNIQUE/)
      assert.throws(() => db.prepare('UPDATE files SET info_hash = ? WHERE file_hash = ?').run('short', sha1('3')), /CHECK/)
    } finally {
      db.close()
    }
  })
})
