/**
 * A transfer's events, followed by several listeners at once over real sockets on 127.0.0.1: each gets every
 * event; `progress` is throttled (a few per second, not one per block) and its last one reports the whole file;
 * the callbacks given as options are listeners like any other.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../helpers/files.js'
import { pieceHashes, startTestPeer, withDeadline } from '../helpers/bt-peer.js'

const PIECE = 64 * 1024
const SIZE = 8 * 1024 * 1024

test('every listener gets every event; progress is throttled, not per block, and its last one is complete', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(SIZE)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  const seed = await startTestPeer(t, { path: join(dir, 'seed.bin'), length: SIZE, pieceLength: PIECE, infoHash, hashes, seed: true })
  const leech = await startTestPeer(t, { path: join(dir, 'leech.bin'), length: SIZE, pieceLength: PIECE, infoHash, hashes, seed: false })
  const listeners = [0, 1, 2].map(() => ({ progress: [] as number[], verified: 0, complete: 0 }))
  for (const l of listeners) {
    leech.transfer.events.on('progress', (tr) => { l.progress.push(tr.verifiedBytes) })
    leech.transfer.events.on('pieceVerified', () => { l.verified++ })
    leech.transfer.events.on('complete', () => { l.complete++ })
  }
  leech.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  await withDeadline(leech.transfer.completed, 30_000, 'download')
  await new Promise((resolve) => setImmediate(resolve))
  const blocks = SIZE / 16384
  for (const l of listeners) {
    assert.equal(l.verified, SIZE / PIECE, 'every piece')
    assert.equal(l.complete, 1)
    assert.equal(l.progress.at(-1), SIZE, 'the last progress event reports the whole file')
    assert.ok(l.progress.length < blocks / 4, `${l.progress.length} progress events for ${blocks} blocks`)
  }
  assert.deepEqual(listeners[1], listeners[0], 'all listeners saw the same')
})
