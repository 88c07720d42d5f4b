import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { buildTrackerApp, createTracker, SCHEMA_VERSION, type Tracker } from '../../src/tracker/index.js'
import { decodeRanges, encodeRanges, expandRanges, rangesOf } from '../../src/tracker/chunk-ranges.js'
import { chunkListBytes, lookupReply, planLookup } from '../../src/tracker/replies.js'
import type { PeerListing } from '../../src/tracker/store.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

function tmpDb (t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-tracker-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'tracker.db')
}

async function post (tracker: Tracker, body: Record<string, unknown>): Promise<unknown> {
  const r = await tracker.app.inject({ method: 'POST', url: '/register', payload: body })
  assert.equal(r.statusCode, 200, r.body)
  return r.json()
}

async function getRaw (tracker: Tracker, url: string): Promise<string> {
  const r = await tracker.app.inject({ method: 'GET', url })
  return `${r.statusCode} ${r.body}`
}

test('a restarted tracker on the same file answers /files and /lookup with the same data', async (t) => {
  const db = tmpDb(t)
  const first = await createTracker({ db, probeIntervalMs: 0 })
  await post(first, { file_name: 'b.bin', file_hash: sha1('b'), file_size: 5 * 1024, chunks: [4, 0, 1], ip: '10.0.0.2', port: 6000, chunk_size: 1024 })
  await post(first, { file_name: 'a.bin', file_hash: sha1('a'), file_size: 3 * 1024 * 1024, chunks: [0, 1, 2], ip: '10.0.0.1', port: 6000 })
  await post(first, { file_name: 'b.bin', file_hash: sha1('b'), file_size: 5 * 1024, chunks: [], ip: '::1', port: 7000 })
  await post(first, { file_name: 'b-copy.bin', file_hash: sha1('b'), file_size: 5 * 1024, chunks: [2, 3], ip: '10.0.0.2', port: 6000, chunk_size: 1024 })
  const urls = ['/files', '/files?q=B', '/lookup?file_name=b.bin', '/lookup?file_name=a.bin', `/lookup?file_hash=${sha1('b')}`, '/get_file/a.bin']
  const before = await Promise.all(urls.map((url) => getRaw(first, url)))
  await first.close()

  const second = await createTracker({ db, probeIntervalMs: 0 })
  t.after(() => second.close())
  const after = await Promise.all(urls.map((url) => getRaw(second, url)))
  assert.deepEqual(after, before)
  assert.match(after[2] as string, /"chunk_size":1024,"chunks":\[2,3\],"ip":"10.0.0.2","port":6000/, 'the updated chunks survived')

  // The peers survived too: registering one again is an update, and new files continue the order.
  assert.deepEqual(await post(second, { file_name: 'a.bin', file_hash: sha1('a'), file_size: 3 * 1024 * 1024, chunks: [0], ip: '10.0.0.1', port: 6000 }),
    { file_hash: sha1('a'), message: 'Peer updated successfully', peers_count: 1 })
  await post(second, { file_name: 'c.bin', file_hash: sha1('c'), file_size: 1, chunks: [0], ip: '10.0.0.3', port: 6000 })
  const files = (await second.app.inject({ method: 'GET', url: '/files' })).json() as { files: Array<{ file_name: string }> }
  assert.deepEqual(files.files.map((f) => f.file_name), ['b.bin', 'a.bin', 'c.bin'])
})

test('the database file: WAL journal, schema version in user_version, peers stored as ranges', async (t) => {
  const db = tmpDb(t)
  const tracker = await createTracker({ db, probeIntervalMs: 0, now: () => 1_700_000_000_000 })
  await post(tracker, { file_name: 'x', file_hash: sha1('x'), file_size: 100 * 1024, chunks: [...Array.from({ length: 50 }, (_, i) => i), 70, 72, 73], ip: '10.0.0.1', port: 6000 })
  await tracker.close()

  const raw = new Database(db, { readonly: true })
  try {
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION)
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
    assert.deepEqual(raw.prepare('SELECT file_hash, file_name, file_size, added_at FROM files').all(),
      [{ file_hash: sha1('x'), file_name: 'x', file_size: 100 * 1024, added_at: 1_700_000_000_000 }])
    assert.deepEqual(raw.prepare('SELECT ip, port, chunks, chunk_count, chunk_size, registered_at, probe_failures FROM legacy_peers').all(),
      [{ ip: '10.0.0.1', port: 6000, chunks: '0-49,70,72-73', chunk_count: 53, chunk_size: null, registered_at: 1_700_000_000_000, probe_failures: 0 }])
  } finally {
    raw.close()
  }
})

test('a database from a newer tracker, or a file that is not a database, is refused with ERR_TRACKER_DB', async (t) => {
  const newer = tmpDb(t)
  const raw = new Database(newer)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.close()
  await assert.rejects(createTracker({ db: newer }), { code: 'ERR_TRACKER_DB', message: new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this tracker.s ${SCHEMA_VERSION}`) })

  const garbage = `${tmpDb(t)}.txt`
  writeFileSync(garbage, 'this is not a database, just some text long enough to have a header........')
  await assert.rejects(createTracker({ db: garbage }), { code: 'ERR_TRACKER_DB', message: /Cannot open tracker database/ })

  await assert.rejects(createTracker({ db: join(garbage, 'sub', 'x.db') }), { code: 'ERR_TRACKER_DB' })
})

test('invalid prober options are refused', async () => {
  await assert.rejects(createTracker({ db: ':memory:', probeIntervalMs: -1 }), { code: 'ERR_VALIDATION' })
  await assert.rejects(createTracker({ db: ':memory:', probeFailuresToPrune: 0 }), { code: 'ERR_VALIDATION' })
})

test('close() is idempotent, and closing the app of buildTrackerApp closes the database', async (t) => {
  const db = tmpDb(t)
  const tracker = await createTracker({ db, probeIntervalMs: 10 })
  await Promise.all([tracker.close(), tracker.close()])
  await tracker.close()
  assert.equal(await tracker.pruneOnce().then((r) => r.aborted), true, 'no round after close')

  const app = await buildTrackerApp({ db })
  const r = await app.inject({ method: 'POST', url: '/register', payload: { file_name: 'f', file_hash: sha1('f'), file_size: 1, chunks: [0], ip: '10.0.0.1', port: 1 } })
  assert.equal(r.statusCode, 200)
  assert.equal(existsSync(`${db}-wal`), true, 'open in WAL mode')
  await app.close()
  // The last connection closing checkpoints the WAL and removes it: the database was closed.
  assert.equal(existsSync(`${db}-wal`), false)
  const raw = new Database(db, { readonly: true })
  try {
    assert.deepEqual(raw.prepare('SELECT file_name FROM files').all(), [{ file_name: 'f' }])
  } finally {
    raw.close()
  }
})

test('chunk ranges: runs of consecutive ids, and back', () => {
  assert.deepEqual(rangesOf([]), [])
  assert.deepEqual(rangesOf([0, 1, 2, 5, 7, 8]), [[0, 2], [5, 5], [7, 8]])
  assert.equal(encodeRanges(rangesOf([0, 1, 2, 5, 7, 8])), '0-2,5,7-8')
  assert.equal(encodeRanges([]), '')
  assert.deepEqual(decodeRanges('0-2,5,7-8'), [[0, 2], [5, 5], [7, 8]])
  assert.deepEqual(decodeRanges(''), [])
  assert.deepEqual(expandRanges(decodeRanges('0-2,5,7-8')), [0, 1, 2, 5, 7, 8])
  const big = 2 ** 40
  assert.deepEqual(expandRanges(decodeRanges(encodeRanges(rangesOf([big, big + 1])))), [big, big + 1])
  assert.throws(() => decodeRanges('3-1'), RangeError)
  assert.throws(() => decodeRanges('x'), RangeError)
})

test('planLookup keeps to its budget: peers over the chunk-list bytes budget are skipped, later smaller ones still listed', () => {
  // Lists of ids below 10 (a 10 KiB file in 1 KiB chunks): 2 bytes per id ("0,"), plus one for the brackets.
  const listing = (port: number, count: number, chunkSize?: number): PeerListing => ({
    id: port, ip: '10.0.0.1', port, chunkCount: count, chunksBytes: encodeRanges(count === 0 ? [] : [[0, count - 1]]).length,
    ...(chunkSize === undefined ? {} : { chunkSize })
  })
  const texts = new Map([1, 2, 3, 4, 5].map((port) => [port, encodeRanges(port === 4 ? [] : [[0, [6, 7, 4, 0, 1][port - 1] as number - 1]])]))
  const file = { fileHash: sha1('f'), fileName: 'f', fileSize: 10_240, addedAt: 0 }
  const listings = [listing(1, 6), listing(2, 7, 1024), listing(3, 4), listing(4, 0), listing(5, 1)]
  // 13 + 9 + 2 = 24 bytes fit 24; the 15 bytes of port 2 would not (after 13); port 5's 3 would, but 3 peers are the most.
  const plan = planLookup(listings, file.fileSize, 'list', { maxPeers: 3, maxChunkBytes: 24 })
  assert.deepEqual(plan.peers.map((p) => p.port), [1, 3, 4])
  assert.equal(plan.chunkBytes, 24)
  const reply = lookupReply(file, plan, (id) => texts.get(id))
  assert.deepEqual(reply, {
    file_hash: sha1('f'),
    file_name: 'f',
    file_size: 10_240,
    peers: [
      { ip: '10.0.0.1', port: 1, chunks: [0, 1, 2, 3, 4, 5] },
      { ip: '10.0.0.1', port: 3, chunks: [0, 1, 2, 3] },
      { ip: '10.0.0.1', port: 4, chunks: [] }
    ]
  })
  // What the budget counts is what the reply holds: at most, for lists (ids as wide as the file's last one), exactly for ranges.
  for (const peer of reply.peers) assert.ok(JSON.stringify(peer.chunks).length <= chunkListBytes(listings[peer.port - 1] as PeerListing, file.fileSize, 'list'))
  // Ranges: the stored text and its quotes, 5 + 5 + 2 = 12 (port 3's 5 and port 5's 3 would pass it).
  const ranges = lookupReply(file, planLookup(listings, file.fileSize, 'ranges', { maxPeers: 10, maxChunkBytes: 12 }), (id) => texts.get(id), 'ranges')
  assert.deepEqual(ranges.peers, [
    { chunk_ranges: '0-5', ip: '10.0.0.1', port: 1 },
    { chunk_ranges: '0-6', chunk_size: 1024, ip: '10.0.0.1', port: 2 },
    { chunk_ranges: '', ip: '10.0.0.1', port: 4 }
  ])
  assert.deepEqual(Object.keys(lookupReply(file, planLookup([listing(2, 1, 1024)], file.fileSize, 'list'), () => '0').peers[0] ?? {}), ['chunk_size', 'chunks', 'ip', 'port'])
  // A peer gone between its listing and the read of its list is left out.
  assert.deepEqual(lookupReply(file, plan, () => undefined).peers, [])
})
