/**
 * A peer that pushes `piece` messages nobody asked it for, full of junk, at a downloader fetching from a slow honest
 * seed, over real sockets on 127.0.0.1: the junk is discarded, so no piece fails, the honest seed is never blamed,
 * and the download completes with the right bytes and counts only them.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { RateLimiter, type PeerSession } from '../../src/swarm/index.js'
import { encode, encodeHandshake } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'
import { pieceHashes, startTestPeer, type TestPeer, type TestPeerOptions } from '../helpers/bt-peer.js'

const PIECE = 64 * 1024
const BLOCK = 16 * 1024
const SIZE = 4 * 1024 * 1024

function startPeer (t: TestContext, opts: Omit<TestPeerOptions, 'length' | 'pieceLength'>): Promise<TestPeer> {
  return startTestPeer(t, { ...opts, length: SIZE, pieceLength: PIECE })
}

test('unrequested junk blocks pushed while a slow honest seed serves: discarded, not counted, the honest seed never banned', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(SIZE)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = pieceHashes(data, PIECE)
  const infoHash = randomBytes(20)
  // 1.5 MiB/s: the download takes a few seconds, pieces stay half-filled long enough for the junk to meet them.
  const seed = await startPeer(t, { path: join(dir, 'seed.bin'), seed: true, infoHash, hashes, uploadLimit: new RateLimiter(1.5 * 1024 * 1024) })
  const bans: string[] = []
  const leech = await startPeer(t, { path: join(dir, 'leech.bin'), seed: false, infoHash, hashes, onBanned: (peer) => { bans.push(peer) } })

  // The pusher: says it has nothing (so it is asked for nothing) and sends junk for blocks 1-3 of every piece.
  const socket = connect({ host: '127.0.0.1', port: leech.port })
  socket.on('error', () => {})
  socket.on('data', () => {})
  t.after(() => { socket.destroy() })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write(Buffer.concat([encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } }), encode.haveNone()]))
  let pusher: PeerSession | undefined
  for (let i = 0; i < 200 && pusher === undefined; i++) {
    pusher = leech.transfer.peers.get(`127.0.0.1:${socket.localPort ?? 0}`)
    if (pusher === undefined) await sleep(25)
  }
  assert.ok(pusher !== undefined, 'the pusher is connected')

  leech.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  const junk = Buffer.alloc(BLOCK, 0xee)
  const round = Buffer.concat(Array.from({ length: SIZE / PIECE }, (_, index) => [1, 2, 3].map(b => encode.piece(index, b * BLOCK, junk))).flat())
  let pushed = 0
  const deadline = Date.now() + 30_000
  for (let r = 0; r < 400 && !leech.transfer.complete && !socket.destroyed && Date.now() < deadline; r++) {
    pushed += round.length
    if (!socket.write(round)) await new Promise<void>(resolve => { socket.once('drain', resolve); socket.once('close', resolve) })
    await sleep(20)
  }
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no download within 30 s; banned: ${bans.join(', ')}; ${leech.transfer.hashFailures} pieces failed`)) }, Math.max(0, deadline - Date.now()))
  })
  try { await Promise.race([leech.transfer.completed, late]) } finally { clearTimeout(timer) }
  assert.ok(pushed > SIZE, `junk pushed while downloading (${pushed} bytes)`)
  assert.deepEqual(bans, [], 'nobody banned: no piece took junk')
  assert.equal(leech.transfer.hashFailures, 0)
  assert.ok(readFileSync(join(dir, 'leech.bin')).equals(data))
  assert.equal(leech.transfer.downloaded, SIZE, 'only the requested bytes are counted')
  assert.equal(pusher.downloaded, 0)
})
