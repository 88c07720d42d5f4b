/**
 * Sessions in one process over real sockets on 127.0.0.1: one seeding node shares content from where it is, another
 * downloads it. Many torrents at once under the queue limits; a magnet added paused waits, then fetches its metadata
 * when resumed; a session closed mid-download and opened again continues without hashing or fetching a verified piece
 * again; a file changed behind the node's back has only its own pieces checked again.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Session, type TorrentSummary } from '../../src/session/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { pollUntil } from '../helpers/poll.js'
import { startSharer, startTracker } from '../helpers/process.js'

async function openSession (t: TestContext, dataDir: string, extra: Partial<Parameters<typeof Session.open>[0]> = {}): Promise<Session> {
  const s = await Session.open({ dataDir, host: '127.0.0.1', port: 0, ...extra })
  t.after(async () => { await s.close() })
  return s
}

function peerOf (seed: Session): Array<{ host: string, port: number }> {
  return [{ host: '127.0.0.1', port: seed.port }]
}

async function until (what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  await pollUntil(what, () => fn() ? true : undefined, { timeoutMs, intervalMs: 50 })
}

test('a node downloads 20 torrents at once, 5 at a time, and seeds them all', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'content'))
  const files = await Promise.all(Array.from({ length: 20 }, async (_, i) => await randomFile(join(dir, 'content'), `file-${i}.bin`, 200_000 + i * 10_000)))
  const seed = await openSession(t, join(dir, 'seed-data'))
  const shared: TorrentSummary[] = []
  for (const f of files) shared.push(await seed.add({ kind: 'path', path: f.path }))
  assert.ok(shared.every(s => s.state === 'queued' || s.state === 'seeding'))
  await until('seed seeding all', () => seed.list().every(s => s.state === 'seeding'))

  const leech = await openSession(t, join(dir, 'leech-data'), { downloadDir: join(dir, 'out') })
  let mostDownloading = 0
  leech.events.on('state', () => { mostDownloading = Math.max(mostDownloading, leech.list().filter(s => s.state === 'downloading' || s.state === 'checking').length) })
  for (const s of shared) {
    const added = await leech.add({ kind: 'torrent', data: readFileSync(seed.store.torrentFilePath(s.infoHash)) })
    leech.addPeers(added.id, peerOf(seed))
  }
  await until('all 20 seeding', () => leech.list().every(s => s.state === 'seeding'), 120_000)
  assert.ok(mostDownloading <= 5, `at most 5 downloads at once (saw ${mostDownloading})`)
  for (const [i, f] of files.entries()) assert.equal(sha1Of(join(dir, 'out', `file-${i}.bin`)), f.sha1)
  assert.equal(leech.stats().current.piecesChecked, 0, 'nothing on disk before: nothing hashed')
})

test('a magnet added paused stays put without metadata; resumed, it fetches the metadata from peers and completes', async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t)
  const f = await randomFile(dir, 'movie.bin', 3_000_000)
  const seed = await openSession(t, join(dir, 'seed-data'), { trackerUrl: tracker.url })
  const shared = await seed.add({ kind: 'path', path: f.path })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')

  const leech = await openSession(t, join(dir, 'leech-data'), { downloadDir: join(dir, 'out') })
  const added = await leech.add({ kind: 'magnet', uri: shared.magnet }, { paused: true })
  assert.equal(added.state, 'paused')
  assert.equal(added.hasMetadata, false)
  assert.equal(added.name, 'movie.bin', 'the dn of the magnet names it meanwhile')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const still = leech.get(added.id)
  assert.equal(still?.state, 'paused')
  assert.equal(still?.hasMetadata, false)
  assert.equal(still?.peers, 0)

  const states: string[] = []
  leech.events.on('state', (s) => { if (s.id === added.id) states.push(s.state) })
  await leech.resume(added.id)
  await until('seeding', () => leech.get(added.id)?.state === 'seeding')
  assert.ok(states.includes('metadata'), `went through metadata: ${states.join(' ')}`)
  assert.ok(states.includes('downloading'), `then downloading: ${states.join(' ')}`)
  assert.equal(leech.get(added.id)?.totalSize, 3_000_000)
  assert.equal(sha1Of(join(dir, 'out', 'movie.bin')), f.sha1)
})

test('closed mid-download and opened again, a session hashes no piece and fetches only what was missing', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'big.bin', 24 * 1024 * 1024)
  const seed = await openSession(t, join(dir, 'seed-data'), { settings: { uploadLimit: 8 * 1024 * 1024 } })
  const shared = await seed.add({ kind: 'path', path: f.path })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')
  const torrentFile = readFileSync(seed.store.torrentFilePath(shared.infoHash))

  const leechData = join(dir, 'leech-data')
  const first = await Session.open({ dataDir: leechData, host: '127.0.0.1', port: 0, downloadDir: join(dir, 'out') })
  const added = await first.add({ kind: 'torrent', data: torrentFile })
  first.addPeers(added.id, peerOf(seed))
  await until('a third verified', () => (first.get(added.id)?.progress ?? 0) > 0.33)
  await first.close()
  const kept = readFileSync(join(leechData, 'node.db')).length
  assert.ok(kept > 0)

  const again = await openSession(t, leechData)
  const resumed = again.get(added.id)
  assert.ok(resumed !== undefined)
  const verifiedAtStart = resumed.verifiedBytes
  assert.ok(verifiedAtStart > 0.33 * 24 * 1024 * 1024, 'the verified pieces were kept')
  again.addPeers(added.id, peerOf(seed))
  await until('seeding', () => again.get(added.id)?.state === 'seeding')
  const stats = again.stats()
  assert.equal(stats.current.piecesChecked, 0, 'no piece hashed again')
  assert.equal(stats.current.downloaded, 24 * 1024 * 1024 - verifiedAtStart, 'only the missing pieces fetched')
  assert.equal(sha1Of(join(dir, 'out', 'big.bin')), f.sha1)
})

test('a file changed behind the node\'s back has only its own pieces checked again, and is repaired', async (t) => {
  const dir = tempDir(t)
  const folder = join(dir, 'album')
  mkdirSync(folder)
  const parts = [await randomFile(folder, 'a.bin', 1_000_000), await randomFile(folder, 'b.bin', 1_000_000), await randomFile(folder, 'c.bin', 1_000_000)]
  const seed = await openSession(t, join(dir, 'seed-data'))
  const shared = await seed.add({ kind: 'path', path: folder })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')
  const torrentFile = readFileSync(seed.store.torrentFilePath(shared.infoHash))

  const leechData = join(dir, 'leech-data')
  const first = await Session.open({ dataDir: leechData, host: '127.0.0.1', port: 0, downloadDir: join(dir, 'out') })
  const added = await first.add({ kind: 'torrent', data: torrentFile })
  first.addPeers(added.id, peerOf(seed))
  await until('seeding', () => first.get(added.id)?.state === 'seeding')
  const pieceLength = first.get(added.id)?.pieceLength ?? 0
  await first.close()

  // One byte of b.bin changed (and its mtime, as any editor would leave it).
  const b = join(dir, 'out', 'album', 'b.bin')
  const fd = openSync(b, 'r+')
  writeSync(fd, Buffer.from([(readFileSync(b)[4321] ?? 0) ^ 0xff]), 0, 1, 4321)
  closeSync(fd)
  utimesSync(b, new Date(), new Date(Date.now() + 5_000))

  const again = await openSession(t, leechData)
  again.addPeers(added.id, peerOf(seed))
  await until('seeding again', () => again.get(added.id)?.state === 'seeding' && again.stats().current.piecesChecked > 0)
  // b.bin spans bytes [1e6, 2e6): the pieces touching it, and no others.
  const expected = Math.floor((2_000_000 - 1) / pieceLength) - Math.floor(1_000_000 / pieceLength) + 1
  assert.equal(again.stats().current.piecesChecked, expected, 'only the changed file\'s pieces are hashed')
  for (const p of parts) assert.equal(sha1Of(join(dir, 'out', 'album', p.path.split('/').at(-1) ?? '')), p.sha1)
})

test('a damaged state is moved aside: every torrent comes back from its kept .torrent, checked in full, with a clear message', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'kept.bin', 2_000_000)
  const dataDir = join(dir, 'data')
  const first = await Session.open({ dataDir, host: '127.0.0.1', port: 0, downloadDir: dir })
  // Added as a .torrent over the file already in the download folder: checked, then seeding.
  const created = await Session.open({ dataDir: join(dir, 'maker'), host: '127.0.0.1', port: 0 })
  const made = await created.add({ kind: 'path', path: f.path })
  const bytes = readFileSync(created.store.torrentFilePath(made.infoHash))
  await created.close()
  const added = await first.add({ kind: 'torrent', data: bytes })
  await until('seeding', () => first.get(added.id)?.state === 'seeding')
  assert.ok(first.stats().current.piecesChecked > 0, 'existing content is checked before it is trusted')
  await first.close()

  writeFileSync(join(dataDir, 'node.db'), Buffer.alloc(4096, 0x42))
  rmSync(join(dataDir, 'node.db-wal'), { force: true })
  rmSync(join(dataDir, 'node.db-shm'), { force: true })
  const logs: string[] = []
  const again = await openSession(t, dataDir, { downloadDir: dir, onLog: (m) => { logs.push(m) } })
  assert.ok(logs.some(l => /was damaged .* moved to .*node\.db\.damaged-\d+/.test(l)), logs.join('\n'))
  const list = again.list()
  assert.equal(list.length, 1)
  assert.equal(list[0]?.infoHash, added.infoHash)
  await until('seeding after the full check', () => again.list()[0]?.state === 'seeding')
  assert.equal(again.stats().current.piecesChecked, list[0]?.pieceCount, 'every piece checked')
})

test('a .part changed behind the node\'s back while it was stopped: only that file\'s verified pieces are checked, and the bad one fetched again', async (t) => {
  const dir = tempDir(t)
  const folder = join(dir, 'pack')
  mkdirSync(folder)
  const parts = [await randomFile(folder, 'one.bin', 6 * 1024 * 1024), await randomFile(folder, 'two.bin', 6 * 1024 * 1024)]
  const seed = await openSession(t, join(dir, 'seed-data'), { settings: { uploadLimit: 4 * 1024 * 1024 } })
  const shared = await seed.add({ kind: 'path', path: folder })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')
  const torrentFile = readFileSync(seed.store.torrentFilePath(shared.infoHash))

  const leechData = join(dir, 'leech-data')
  const first = await Session.open({ dataDir: leechData, host: '127.0.0.1', port: 0, downloadDir: join(dir, 'out') })
  const added = await first.add({ kind: 'torrent', data: torrentFile })
  first.addPeers(added.id, peerOf(seed))
  await until('some of each file verified', () => (first.get(added.id)?.files ?? []).every(f => f.completed > 2 * 1024 * 1024))
  await first.close()
  const record = (await Session.open({ dataDir: leechData, host: '127.0.0.1', port: 0, settings: { maxActiveDownloads: 0 } }))
  const detail = record.get(added.id)
  await record.close()
  assert.ok(detail !== undefined)
  assert.ok(detail.progress < 1, 'stopped mid-way')
  const { pieceLength, pieceCount } = detail
  const have = Buffer.from(detail.pieces, 'base64')
  const has = (i: number): boolean => ((have[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0
  // two.bin's bytes are [6 MiB, 12 MiB): its verified pieces, and the first of them to damage.
  const two = [...Array(pieceCount).keys()].filter(i => has(i) && (i + 1) * pieceLength > 6 * 1024 * 1024)
  assert.ok(two.length > 0)
  const damaged = two[0] ?? 0
  const partFile = join(dir, 'out', 'pack.part', 'two.bin')
  const at = damaged * pieceLength - 6 * 1024 * 1024 + 100
  const fd = openSync(partFile, 'r+')
  writeSync(fd, Buffer.from([(readFileSync(partFile)[at] ?? 0) ^ 0xff]), 0, 1, at)
  closeSync(fd)
  utimesSync(partFile, new Date(), new Date(Date.now() + 5_000))

  const again = await openSession(t, leechData)
  again.addPeers(added.id, peerOf(seed))
  await until('seeding', () => again.get(added.id)?.state === 'seeding')
  assert.equal(again.stats().current.piecesChecked, two.length, 'two.bin\'s verified pieces, and none of one.bin\'s')
  for (const p of parts) assert.equal(sha1Of(join(dir, 'out', 'pack', p.path.split('/').at(-1) ?? '')), p.sha1)
})

test('a .torrent dropped into the watch folder is added and renamed .added; an invalid one is renamed .invalid', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'watched.bin', 100_000)
  const maker = await openSession(t, join(dir, 'maker'))
  const made = await maker.add({ kind: 'path', path: f.path })
  const watch = join(dir, 'watch')
  mkdirSync(watch)
  const node = await openSession(t, join(dir, 'data'), { downloadDir: join(dir, 'out'), settings: { watchDir: watch } })
  writeFileSync(join(watch, 'good.torrent'), readFileSync(maker.store.torrentFilePath(made.infoHash)))
  writeFileSync(join(watch, 'bad.torrent'), 'this is not bencode')
  await until('added from the watch folder', () => node.list().length === 1 && existsSync(join(watch, 'good.torrent.added')) && existsSync(join(watch, 'bad.torrent.invalid')), 20_000)
  assert.equal(node.list()[0]?.infoHash, made.infoHash)
  assert.equal(existsSync(join(watch, 'good.torrent')), false)
})

test('a magnet\'s metadata comes over the connection that then downloads: the seed sees one connection in all', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'clip.bin', 4_000_000)
  const seed = await openSession(t, join(dir, 'seed-data'))
  const shared = await seed.add({ kind: 'path', path: f.path })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')
  const leech = await openSession(t, join(dir, 'leech-data'), { downloadDir: join(dir, 'out') })
  const logs: string[] = []
  leech.events.on('log', (l) => { logs.push(l.message) })
  // No tracker: the magnet's only peer is given by hand.
  const added = await leech.add({ kind: 'magnet', uri: `magnet:?xt=urn:btih:${shared.infoHash}` }, { paused: true })
  leech.addPeers(added.id, peerOf(seed))
  await leech.resume(added.id)
  await until('seeding', () => leech.get(added.id)?.state === 'seeding')
  assert.equal(sha1Of(join(dir, 'out', 'clip.bin')), f.sha1)
  assert.equal(seed.torrent(shared.id)?.transfer?.everConnected, 1, 'one connection carried the metadata and the pieces: ' + logs.join('\n'))
  assert.ok(logs.some(l => /metadata: clip\.bin, 4000000 bytes .* from 1 connections kept/.test(l)), logs.join('\n'))
})

test('time spent seeding is counted and kept across a restart (what Sonarr\'s seed-time rule reads)', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'ep.bin', 100_000)
  const dataDir = join(dir, 'data')
  const first = await Session.open({ dataDir, host: '127.0.0.1', port: 0 })
  const added = await first.add({ kind: 'path', path: f.path })
  await until('seeding', () => first.get(added.id)?.state === 'seeding')
  assert.ok((first.get(added.id)?.startedAt ?? 0) > 0)
  await new Promise((resolve) => setTimeout(resolve, 2_200))
  const seeded = first.get(added.id)?.secondsSeeding ?? 0
  assert.ok(seeded >= 2, `seeded ${seeded} s`)
  assert.equal(first.get(added.id)?.secondsDownloading, 0)
  await first.close()
  const again = await openSession(t, dataDir)
  assert.ok((again.get(added.id)?.secondsSeeding ?? 0) >= seeded, 'kept')
})

test('moving a torrent\'s data: the files go along, it seeds from there with no check; a destination in the way refuses and nothing is lost', async (t) => {
  const dir = tempDir(t)
  const folder = join(dir, 'set')
  mkdirSync(folder)
  const parts = [await randomFile(folder, 'a.bin', 300_000), await randomFile(folder, 'b.bin', 200_000)]
  const seed = await openSession(t, join(dir, 'seed-data'))
  const shared = await seed.add({ kind: 'path', path: folder })
  await until('seeding', () => seed.get(shared.id)?.state === 'seeding')
  const leech = await openSession(t, join(dir, 'leech-data'), { downloadDir: join(dir, 'first') })
  const added = await leech.add({ kind: 'torrent', data: readFileSync(seed.store.torrentFilePath(shared.infoHash)) })
  leech.addPeers(added.id, peerOf(seed))
  await until('seeding', () => leech.get(added.id)?.state === 'seeding')

  await leech.setLocation(added.id, join(dir, 'second'), { move: true })
  await until('seeding from the new place', () => leech.get(added.id)?.state === 'seeding')
  assert.equal(leech.get(added.id)?.downloadDir, join(dir, 'second'))
  assert.equal(existsSync(join(dir, 'first', 'set')), false, 'moved, not copied')
  for (const p of parts) assert.equal(sha1Of(join(dir, 'second', 'set', p.path.split('/').at(-1) ?? '')), p.sha1)
  assert.equal(leech.stats().current.piecesChecked, 0, 'moved data is not checked again')

  mkdirSync(join(dir, 'third', 'set'), { recursive: true })
  writeFileSync(join(dir, 'third', 'set', 'mine.txt'), 'the user\'s own file')
  await assert.rejects(leech.setLocation(added.id, join(dir, 'third'), { move: true }), /already exists; nothing was moved/)
  assert.equal(readFileSync(join(dir, 'third', 'set', 'mine.txt'), 'utf8'), 'the user\'s own file')
  for (const p of parts) assert.equal(sha1Of(join(dir, 'second', 'set', p.path.split('/').at(-1) ?? '')), p.sha1)
  await until('seeding again from where it was', () => leech.get(added.id)?.state === 'seeding' && leech.get(added.id)?.downloadDir === join(dir, 'second'))
})

test('a link planted where a download would write is never followed: the torrent stops with an error, the link\'s target untouched', async (t) => {
  const dir = tempDir(t)
  const f = await randomFile(dir, 'film.bin', 300_000)
  const maker = await openSession(t, join(dir, 'maker'))
  const made = await maker.add({ kind: 'path', path: f.path })
  const out = join(dir, 'out')
  mkdirSync(out)
  writeFileSync(join(dir, 'precious.txt'), 'keep me')
  symlinkSync(join(dir, 'precious.txt'), join(out, 'film.bin.part'))
  const node = await openSession(t, join(dir, 'data'), { downloadDir: out })
  const added = await node.add({ kind: 'torrent', data: readFileSync(maker.store.torrentFilePath(made.infoHash)) })
  node.addPeers(added.id, peerOf(maker))
  await until('error', () => node.get(added.id)?.state === 'error')
  assert.match(node.get(added.id)?.error ?? '', /link/i)
  assert.equal(readFileSync(join(dir, 'precious.txt'), 'utf8'), 'keep me')
  assert.ok(lstatSync(join(out, 'film.bin.part')).isSymbolicLink(), 'the link itself is left as it was')
})

test('a .torrent naming a path outside the download folder is refused at add, and nothing is written', async (t) => {
  const dir = tempDir(t)
  const node = await openSession(t, join(dir, 'data'), { downloadDir: join(dir, 'out') })
  const evil = Buffer.concat([Buffer.from('d4:infod6:lengthi5e4:name7:../evil12:piece lengthi16384e6:pieces20:'), Buffer.alloc(20), Buffer.from('ee')])
  await assert.rejects(node.add({ kind: 'torrent', data: evil }), (err: Error & { code?: string }) => (err.code ?? '').startsWith('ERR_PATH_') || err.code === 'ERR_METAINFO')
  assert.equal(node.list().length, 0)
  assert.equal(existsSync(join(dir, 'evil')), false)
})

test('a name from the tracker\'s catalogue is added and downloaded from the peer that shares it', async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t)
  const f = await randomFile(dir, 'report.pdf', 1_500_000)
  await startSharer(dir, f.path, tracker.url, t)
  const node = await openSession(t, join(dir, 'data'), { downloadDir: join(dir, 'out'), trackerUrl: tracker.url })
  const added = await node.add({ kind: 'catalogue', query: 'report.pdf' })
  assert.equal(added.name, 'report.pdf')
  await until('seeding', () => node.get(added.id)?.state === 'seeding')
  assert.equal(sha1Of(join(dir, 'out', 'report.pdf')), f.sha1)
  await assert.rejects(node.add({ kind: 'catalogue', query: 'no-such-file.bin' }), /not found/i)
})
