/**
 * Peers that flood us with messages calling for a reply and never read the replies, over real sockets on
 * 127.0.0.1: what we queue for each stays bounded (MAX_UNSENT_BYTES, then we stop reading from it), whichever way the
 * connection was made (inbound sockets reading into the listener's shared buffer, outbound ones with `onread`), and an
 * honest peer connected at the same time still completes its download.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { bencode, Bitfield } from '../../src/content/index.js'
import type { PeerSession, Transfer } from '../../src/swarm/index.js'
import { decodeMetadataMessage, encode, encodeHandshake, encodeMetadataMessage, MessageDecoder } from '../../src/wire/index.js'
import { MAX_UNSENT_BYTES } from '../../src/wire/bt/connection.js'
import { tempDir } from '../helpers/files.js'
import { metadataProbe } from '../helpers/metadata.js'
import { startTestPeer, withDeadline, type TestPeer } from '../helpers/bt-peer.js'

const PIECE = 64 * 1024
const SIZE = 4 * 1024 * 1024
const MiB = 1024 * 1024
/** What one read (256 KiB) can add past the bound before reading stops, with room for one more message. */
const SLACK = 512 * 1024

interface Torrent { data: Buffer, hashes: Buffer, info: Buffer, infoHash: Buffer }

/** 4 MiB in 64 KiB pieces; the info dictionary padded to 40 KB, so that a metadata piece is a full 16 KiB. */
function torrent (): Torrent {
  const data = randomBytes(SIZE)
  const hashes = Buffer.concat(Array.from({ length: SIZE / PIECE }, (_, i) => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest()))
  const info = bencode({ length: SIZE, name: 'f', 'piece length': PIECE, pieces: hashes, 'x-padding': Buffer.alloc(40_000) })
  return { data, hashes, info, infoHash: createHash('sha1').update(info).digest() }
}

async function startPeer (t: TestContext, dir: string, name: string, tor: Torrent, seed: boolean): Promise<TestPeer & { path: string }> {
  const path = join(dir, name)
  if (seed) writeFileSync(path, tor.data)
  const peer = await startTestPeer(t, { path, length: SIZE, pieceLength: PIECE, infoHash: tor.infoHash, hashes: tor.hashes, metadata: tor.info, seed })
  return { ...peer, path }
}

/** Our side of a connection, once its handshake is in (bounded wait). */
async function session (transfer: Transfer, id: string): Promise<PeerSession> {
  for (let i = 0; i < 200; i++) {
    const s = transfer.peers.get(id)
    if (s?.wire.handshaken === true) return s
    await sleep(25)
  }
  throw new Error(`no session ${id}`)
}

/** A peer that connects to `port`, says `hello` and never reads a byte. */
async function silentClient (t: TestContext, port: number, hello: Buffer[]): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.pause()
  socket.on('error', () => {})
  t.after(() => { socket.destroy() })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write(Buffer.concat(hello))
  return socket
}

function hello (infoHash: Buffer, fast: boolean): Buffer {
  return encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast, dht: false } })
}

/** `message` repeated to fill 64 KiB (whole messages only). */
function repeated (message: Buffer): Buffer {
  return Buffer.concat(Array.from({ length: Math.floor(64 * 1024 / message.length) }, () => message))
}

/**
 * Writes `chunk` again and again, up to `total` bytes, taking the socket's backpressure (so the flood waits in the
 * kernel, not in this process), until our side stops reading: the kernel then takes no more and `paused()` tells why.
 * Bounded by `total` and 60 s.
 */
async function flood (socket: Socket, chunk: Buffer, total: number, paused: () => boolean): Promise<{ sent: number, stopped: boolean }> {
  const deadline = Date.now() + 60_000
  let sent = 0
  while (sent < total && Date.now() < deadline) {
    sent += chunk.length
    if (socket.write(chunk)) { await new Promise(resolve => setImmediate(resolve)); continue }
    let drained = false
    const onDrain = (): void => { drained = true }
    socket.once('drain', onDrain)
    while (!drained && Date.now() < deadline && !socket.destroyed) {
      await sleep(20)
      if (!drained && paused()) { socket.off('drain', onDrain); return { sent, stopped: true } }
    }
    socket.off('drain', onDrain)
    if (socket.destroyed) break
  }
  return { sent, stopped: paused() }
}

/** Floods a seed from a silent inbound peer; then, that peer still connected, an honest downloader fetches everything. */
async function floodSeed (t: TestContext, opening: (infoHash: Buffer) => Buffer[], message: Buffer, total: number, readAfter = false): Promise<void> {
  const dir = tempDir(t)
  const tor = torrent()
  const seed = await startPeer(t, dir, 'seed.bin', tor, true)
  const honest = await startPeer(t, dir, 'honest.bin', tor, false)
  const rss = process.memoryUsage().rss
  const socket = await silentClient(t, seed.port, opening(tor.infoHash))
  const ours = await session(seed.transfer, `127.0.0.1:${socket.localPort ?? 0}`)
  const { sent, stopped } = await flood(socket, repeated(message), total, () => ours.wire.socket.isPaused())
  const queued = ours.wire.socket.writableLength
  t.diagnostic(`flooded ${(sent / MiB).toFixed(1)} MiB; we generated ${(ours.wire.bytesOut / MiB).toFixed(1)} MiB, ${(queued / MiB).toFixed(2)} MiB of it queued in memory; rss ${(rss / MiB).toFixed(0)} -> ${(process.memoryUsage().rss / MiB).toFixed(0)} MB`)
  assert.ok(ours.wire.bytesOut > MAX_UNSENT_BYTES, 'the flood made us write past the bound (the peer read nothing)')
  assert.ok(queued <= MAX_UNSENT_BYTES + SLACK, `at most the bound queued for a peer that does not read, not ${queued} bytes`)
  assert.ok(stopped && ours.wire.socket.isPaused(), 'we stopped reading from it')
  assert.ok(!ours.wire.closed, 'a peer that merely reads slowly is not dropped for it')
  honest.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  await withDeadline(honest.transfer.completed, 30_000, 'the honest download')
  assert.ok(readFileSync(honest.path).equals(tor.data))
  assert.ok(!ours.wire.closed && ours.wire.socket.writableLength <= MAX_UNSENT_BYTES + SLACK, 'the flooding peer, still connected, still bounded')
  if (!readAfter) return
  // Once the peer reads, our output drains and we read again: every byte it sent is handled, nothing is lost.
  const opened = Buffer.concat(opening(tor.infoHash)).length
  socket.on('data', () => {})
  socket.resume()
  for (let i = 0; i < 600 && !(ours.wire.bytesIn === opened + sent && ours.wire.socket.writableLength === 0); i++) await sleep(50)
  assert.equal(ours.wire.bytesIn, opened + sent, 'all of the flood read once the peer took our output')
  assert.equal(ours.wire.socket.isPaused(), false)
  assert.equal(ours.wire.closed, false)
}

test('requests to a peer we choke (fast extension: one reject each) queue no more than the bound', async (t) => {
  await floodSeed(t, (h) => [hello(h, true)], encode.request(0, 0, 16384), 64 * MiB, true)
})

test('requests past the upload queue of an unchoked peer (valid ones, and for pieces that do not exist) queue no more than the bound', async (t) => {
  const valid = repeated(encode.request(1, 0, 16384))
  const invalid = encode.request(10_000, 0, 16384)
  await floodSeed(t, (h) => [hello(h, true), encode.interested()], Buffer.concat([valid.subarray(0, 32 * 1024 - (32 * 1024) % 17), invalid]), 64 * MiB)
})

test('ut_metadata requests (16 KiB replies to 31 bytes) queue no more than the bound', async (t) => {
  const request = encode.extended(1, encodeMetadataMessage({ type: 'request', piece: 0 }))
  await floodSeed(t, (h) => [hello(h, true), encode.extended(0, bencode({ m: { ut_metadata: 3 } }))], request, 16 * MiB)
})

test('unchoke/choke from a seed we download from (a batch of requests each) queue no more than the bound, on an outbound connection', async (t) => {
  const dir = tempDir(t)
  const tor = torrent()
  const seed = await startPeer(t, dir, 'seed.bin', tor, true)
  const leech = await startPeer(t, dir, 'leech.bin', tor, false)
  // A "seed" that never reads; without the fast extension a choke drops our requests, and the next unchoke asks anew.
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    socket.pause()
    socket.on('error', () => {})
    sockets.push(socket)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { for (const s of sockets) s.destroy(); server.close() })
  const hostilePort = (server.address() as { port: number }).port
  leech.transfer.addPeers([{ host: '127.0.0.1', port: hostilePort }])
  for (let i = 0; i < 200 && sockets.length === 0; i++) await sleep(25)
  const socket = sockets[0]
  assert.ok(socket !== undefined, 'we dialled the hostile peer')
  socket.write(Buffer.concat([hello(tor.infoHash, false), encode.bitfield(Bitfield.full(SIZE / PIECE).bytes)]))
  const ours = await session(leech.transfer, `127.0.0.1:${hostilePort}`)
  const rss = process.memoryUsage().rss
  const { sent, stopped } = await flood(socket, repeated(Buffer.concat([encode.unchoke(), encode.choke()])), 4 * MiB, () => ours.wire.socket.isPaused())
  const queued = ours.wire.socket.writableLength
  t.diagnostic(`flooded ${(sent / MiB).toFixed(1)} MiB; we generated ${(ours.wire.bytesOut / MiB).toFixed(1)} MiB, ${(queued / MiB).toFixed(2)} MiB of it queued in memory; rss ${(rss / MiB).toFixed(0)} -> ${(process.memoryUsage().rss / MiB).toFixed(0)} MB`)
  assert.ok(ours.wire.bytesOut > MAX_UNSENT_BYTES, 'the flood made us write past the bound')
  assert.ok(queued <= MAX_UNSENT_BYTES + SLACK, `at most the bound queued for a peer that does not read, not ${queued} bytes`)
  assert.ok(stopped && ours.wire.socket.isPaused(), 'we stopped reading from it')
  assert.ok(!ours.wire.closed)
  // The honest seed joins with the flooding one still connected (it holds some requests, which the endgame asks again).
  leech.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }])
  await withDeadline(leech.transfer.completed, 30_000, 'the download from the honest seed')
  assert.ok(readFileSync(leech.path).equals(tor.data))
})

test('ut_metadata requests that come while a peer leaves too much unread are answered once it reads: with the pieces, not rejects', async (t) => {
  const dir = tempDir(t)
  const tor = torrent()
  const seed = await startPeer(t, dir, 'seed.bin', tor, true)
  const request = (piece: number): Buffer => encode.extended(1, encodeMetadataMessage({ type: 'request', piece }))
  // 2,000 requests for piece 0 (32 MB of replies, more than the kernel's buffers and the bound), then pieces 1 and 2.
  const socket = await silentClient(t, seed.port, [hello(tor.infoHash, true), encode.extended(0, bencode({ m: { ut_metadata: 3 } })), repeated(request(0)).subarray(0, 2000 * request(0).length), request(1), request(2)])
  const ours = await session(seed.transfer, `127.0.0.1:${socket.localPort ?? 0}`)
  for (let i = 0; i < 200 && !ours.wire.socket.isPaused(); i++) await sleep(25)
  assert.ok(ours.wire.socket.isPaused(), 'we stopped reading')
  assert.ok(ours.wire.socket.writableLength <= MAX_UNSENT_BYTES + SLACK)
  const answers = new Map<string, number>()
  let handshake = 68
  const decoder = new MessageDecoder({
    onMessage: (m) => {
      if (m.type !== 'extended' || m.id !== 3) return
      const reply = decodeMetadataMessage(m.payload)
      const key = `${reply.type} ${reply.piece}`
      answers.set(key, (answers.get(key) ?? 0) + 1)
    },
    onBlockStart: () => {}, onBlockData: () => {}, onBlockEnd: () => {}
  }, { maxBitfieldBytes: 8 })
  socket.on('data', (d: Buffer) => {
    const skip = Math.min(handshake, d.length)
    handshake -= skip
    decoder.push(d.subarray(skip))
  })
  socket.resume()
  for (let i = 0; i < 600 && !(answers.has('data 1') && answers.has('data 2') && ours.wire.socket.writableLength === 0); i++) await sleep(50)
  assert.deepEqual([...answers.keys()].filter(k => k.startsWith('reject')), [], 'no piece that exists refused')
  assert.ok(answers.has('data 0') && answers.has('data 1') && answers.has('data 2'), `every piece asked for sent: ${JSON.stringify([...answers])}`)
  assert.equal(ours.wire.socket.isPaused(), false, 'reading again once our output drained')
})

test('ut_metadata: an info dictionary of several 16 KiB pieces, all asked for at once, is served whole', async (t) => {
  const dir = tempDir(t)
  const tor = torrent()
  const seed = await startPeer(t, dir, 'seed.bin', tor, true)
  const got = await metadataProbe(t, tor.infoHash, [{ host: '127.0.0.1', port: seed.port }]).within(20_000)
  assert.ok(got.equals(tor.info), `${Math.ceil(tor.info.length / 16384)} pieces, none refused`)
})
