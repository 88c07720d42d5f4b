/**
 * The node's state in SQLite: records round-trip, the hot-path write of verified pieces, a damaged database moved
 * aside with the torrents it held recoverable from the kept .torrent files.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ResumeStore, type TorrentRecord } from '../../src/session/index.js'
import { tempDir } from '../helpers/files.js'

function record (infoHash: string): Omit<TorrentRecord, 'id' | 'queuePosition'> {
  return {
    infoHash, name: 'x', magnet: `magnet:?xt=urn:btih:${infoHash}`, info: null, trackers: ['http://127.0.0.1:1/announce'], downloadDir: '/tmp/d',
    sharedInPlace: false, fileHash: null, paused: false, addedAt: 1, doneAt: null, activityAt: null, uploadedEver: 0, downloadedEver: 0,
    limits: { uploadLimit: 1000, downloadLimit: null, seedRatioLimit: 2, seedIdleLimitMinutes: null }, have: null, stamps: null, finished: false, secondsDownloading: 0, secondsSeeding: 0, error: null
  }
}

test('records survive closing and opening; ids grow and are never reused; verified pieces are written alone', (t) => {
  const dir = tempDir(t)
  const { store } = ResumeStore.open(dir)
  const a = store.insert(record('a'.repeat(40)), Buffer.from('d4:infod6:lengthi1eee'))
  const b = store.insert(record('b'.repeat(40)))
  assert.equal(b.id, a.id + 1)
  assert.equal(b.queuePosition, a.queuePosition + 1)
  store.saveHave(a.id, Uint8Array.from([0xf0]), 64, 32, 5)
  store.remove(b.id, b.infoHash)
  store.close()

  const again = ResumeStore.open(dir)
  assert.equal(again.recovered, undefined)
  const list = again.store.list()
  assert.equal(list.length, 1)
  assert.deepEqual([...(list[0]?.have ?? [])], [0xf0])
  assert.equal(list[0]?.downloadedEver, 64)
  assert.equal(list[0]?.limits.uploadLimit, 1000)
  assert.equal(list[0]?.limits.seedRatioLimit, 2)
  const c = again.store.insert(record('c'.repeat(40)))
  assert.ok(c.id > b.id, 'the removed torrent\'s id is not reused')
  assert.ok(again.store.torrentFiles().has('a'.repeat(40)))
  again.store.close()
})

test('a damaged database is moved aside with a clear message; the kept .torrent files remain to recover from', (t) => {
  const dir = tempDir(t)
  const { store } = ResumeStore.open(dir)
  store.insert(record('a'.repeat(40)), Buffer.from('d4:infod6:lengthi1eee'))
  store.close()
  writeFileSync(join(dir, 'node.db'), Buffer.alloc(8192, 0x41))
  for (const suffix of ['-wal', '-shm']) if (existsSync(join(dir, 'node.db' + suffix))) writeFileSync(join(dir, 'node.db' + suffix), '')
  const opened = ResumeStore.open(dir)
  assert.match(opened.recovered ?? '', /was damaged .* moved to .*node\.db\.damaged-\d+ .* checked again/)
  assert.equal(opened.store.list().length, 0)
  assert.ok(opened.store.torrentFiles().has('a'.repeat(40)))
  assert.ok(readdirSync(dir).some(n => n.startsWith('node.db.damaged-')))
  opened.store.close()
})
