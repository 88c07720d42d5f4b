/**
 * A peer that pushes `piece` messages nobody asked it for, full of junk, at a downloader fetching from a slow honest
 * seed, over real sockets on 127.0.0.1: the junk is discarded, so no piece fails, the honest seed is never blamed,
 * and the download completes with the right bytes and counts only them.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Bitfield } from '../../src/content/index.js'
import { PeerListener } from '../../src/node/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { RateLimiter, Transfer, type PeerSession } from '../../src/swarm/index.js'
import { encode, encodeHandshake } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'

const PIECE = 64 * 1024
const BLOCK = 16 * 1024
const SIZE = 4 * 1024 * 1024

async function startPeer (t: TestContext, opts: { path: string, data: Buffer, seed: boolean, infoHash: Buffer, hashes: Buffer, uploadLimit?: RateLimiter, onBanned?: (peer: string) => void }): Promise<{ transfer: Transfer, port: number }> {
  const pieces = SIZE / PIECE
  const store = PieceStore.open([{ path: opts.path, length: SIZE }], PIECE, opts.seed ? 'read' : 'write')
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({
    host: '127.0.0.1',
    port: 0,
    source: { size: () => undefined, readInto: async () => {} },
    dialect: 'published',
    torrents: (hash) => hash.equals(opts.infoHash) ? ref.transfer : undefined
  })
  const { port } = await listener.listen()
  const transfer = new Transfer({
    infoHash: opts.infoHash,
    pieceHashes: opts.hashes,
    pieceLength: PIECE,
    totalLength: SIZE,
    store,
    have: opts.seed ? Bitfield.full(pieces) : new Bitfield(pieces),
    peerId: randomBytes(20),
    listenPort: port,
    seed: opts.seed,
    ...(opts.uploadLimit === undefined ? {} : { uploadLimit: opts.uploadLimit }),
    ...(opts.onBanned === undefined ? {} : { onBanned: opts.onBanned })
  })
  ref.transfer = transfer
  transfer.start()
  t.after(async () => { transfer.close(); await listener.close(); store.close() })
  return { transfer, port }
}

test('unrequested junk blocks pushed while a slow honest seed serves: discarded, not counted, the honest seed never banned', async (t) => {
  const dir = tempDir(t)
  const data = randomBytes(SIZE)
  writeFileSync(join(dir, 'seed.bin'), data)
  const hashes = Buffer.concat(Array.from({ length: SIZE / PIECE }, (_, i) => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest()))
  const infoHash = randomBytes(20)
  // 1.5 MiB/s: the download takes a few seconds, pieces stay half-filled long enough for the junk to meet them.
  const seed = await startPeer(t, { path: join(dir, 'seed.bin'), data, seed: true, infoHash, hashes, uploadLimit: new RateLimiter(1.5 * 1024 * 1024) })
  const bans: string[] = []
  const leech = await startPeer(t, { path: join(dir, 'leech.bin'), data, seed: false, infoHash, hashes, onBanned: (peer) => { bans.push(peer) } })

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
