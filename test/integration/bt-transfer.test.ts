/**
 * The BitTorrent engine between our own peers, over real sockets on 127.0.0.1: a seed and downloaders, pieces
 * served onward by downloaders, and a peer serving corrupt pieces identified and banned while the download
 * completes from honest peers.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tcpTransport, type Transport } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'
import { pieceHashes, startTestPeer, withDeadline, type TestPeer, type TestPeerOptions } from '../helpers/bt-peer.js'

const PIECE = 256 * 1024

function startPeer (t: TestContext, opts: Omit<TestPeerOptions, 'length' | 'pieceLength'> & { data: Buffer }): Promise<TestPeer> {
  return startTestPeer(t, { ...opts, length: opts.data.length, pieceLength: PIECE })
}

test('one seed, one downloader: every piece arrives, verified, written once', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(10 * 1024 * 1024 + 12345)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  const seed = await startPeer(t, { path: join(dir, 'seed.bin'), data, seed: true, infoHash, hashes })
  const leech = await startPeer(t, { path: join(dir, 'leech.bin'), data, seed: false, infoHash, hashes })
  leech.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  await withDeadline(leech.transfer.completed, 20_000, 'download')
  assert.ok(readFileSync(join(dir, 'leech.bin')).equals(data))
  assert.equal(leech.transfer.hashFailures, 0)
  assert.equal(leech.transfer.downloaded, data.length, 'no block counted twice')
})

test('downloaders serve each other: two leechers of one seed both complete, and pieces flow between them', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(8 * 1024 * 1024)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  const seed = await startPeer(t, { path: join(dir, 'seed.bin'), data, seed: true, infoHash, hashes })
  const a = await startPeer(t, { path: join(dir, 'a.bin'), data, seed: false, infoHash, hashes, keepSeeding: true })
  const b = await startPeer(t, { path: join(dir, 'b.bin'), data, seed: false, infoHash, hashes, keepSeeding: true })
  a.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }, { host: '127.0.0.1', port: b.port }])
  b.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  await withDeadline(Promise.all([a.transfer.completed, b.transfer.completed]), 30_000, 'both downloads')
  assert.ok(readFileSync(join(dir, 'a.bin')).equals(data))
  assert.ok(readFileSync(join(dir, 'b.bin')).equals(data))
  assert.ok(a.transfer.uploaded + b.transfer.uploaded > 0, 'leechers uploaded to each other')
})

test('a peer serving corrupt pieces is identified and banned; the download completes from the honest peer', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(6 * 1024 * 1024)
  writeFileSync(join(dir, 'good.bin'), data)
  const bad = Buffer.from(data)
  // Corrupt one block in every piece of the bad copy.
  for (let o = 0; o < bad.length; o += PIECE) bad[o + 20_000] = (bad[o + 20_000] ?? 0) ^ 0xff
  writeFileSync(join(dir, 'bad.bin'), bad)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  const honest = await startPeer(t, { path: join(dir, 'good.bin'), data, seed: true, infoHash, hashes })
  const liar = await startPeer(t, { path: join(dir, 'bad.bin'), data, seed: true, infoHash, hashes })
  const bans: Array<{ peer: string, reason: string }> = []
  const leech = await startPeer(t, { path: join(dir, 'leech.bin'), data, seed: false, infoHash, hashes, onBanned: (peer, reason) => bans.push({ peer, reason }) })
  // The liar alone first: every piece it sends fails, so it collects its strikes and is banned.
  leech.transfer.addPeers([{ host: '127.0.0.1', port: liar.port }])
  for (let i = 0; i < 200 && bans.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  leech.transfer.addPeers([{ host: '127.0.0.1', port: liar.port }, { host: '127.0.0.1', port: honest.port }])
  await withDeadline(leech.transfer.completed, 30_000, 'download')
  assert.ok(readFileSync(join(dir, 'leech.bin')).equals(data))
  assert.ok(leech.transfer.hashFailures > 0, 'corrupt pieces were caught by their SHA-1')
  assert.deepEqual(bans.map(b => b.peer), [`127.0.0.1:${liar.port}`], 'the liar, and only the liar, is banned, once')
  assert.match(bans[0]?.reason ?? '', /pieces failed their SHA-1 check because of this peer's data/)
  assert.equal(leech.transfer.peers.has(`127.0.0.1:${liar.port}`), false, 'a banned peer is not let back in')
})

test('a transfer dials through the transport it is given (the seam MSE/PE and uTP plug into)', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(2 * PIECE + 1234)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  const seed = await startPeer(t, { path: join(dir, 'seed.bin'), data, seed: true, infoHash, hashes })
  const dialled: string[] = []
  const counting: Transport = {
    dial: (host, port, onData) => { dialled.push(`${host}:${port}`); return tcpTransport.dial(host, port, onData) },
    adopt: tcpTransport.adopt,
    listen: tcpTransport.listen
  }
  const leech = await startPeer(t, { path: join(dir, 'leech.bin'), data, seed: false, infoHash, hashes, transport: counting })
  leech.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  await withDeadline(leech.transfer.completed, 20_000, 'download')
  assert.deepEqual(dialled, [`127.0.0.1:${seed.port}`])
  assert.ok(readFileSync(join(dir, 'leech.bin')).equals(data))
})
