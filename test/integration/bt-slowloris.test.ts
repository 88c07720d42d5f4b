/**
 * Slow-loris BitTorrent handshakes against a listener and a seeding transfer, over real sockets on loopback: a
 * connection that stops partway through its handshake is closed at the handshake deadline, so it cannot hold the
 * address's (or everyone's) places under the listener's connection caps. The transfer's clock is injected: the
 * deadline is reached by moving it, not by waiting.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bencode, Bitfield } from '../../src/content/index.js'
import { LEGACY_MAX_CONNECTIONS_PER_IP } from '../../src/constants.js'
import { PeerListener } from '../../src/node/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { Transfer } from '../../src/swarm/index.js'
import { decodeHandshake, encodeHandshake, HANDSHAKE_TIMEOUT_MS, MessageDecoder, type Message } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'
import { pollUntil } from '../helpers/poll.js'

const PIECE = 16 * 1024
/** Every connection of these tests comes from this one loopback address (Linux routes all of 127/8 to lo). */
const FROM = '127.0.0.7'

interface Seed { port: number, infoHash: Buffer, listener: PeerListener, transfer: Transfer, clock: { now: number } }

async function seed (t: TestContext, listenerOptions: { requestTimeoutMs?: number } = {}): Promise<Seed> {
  const dir = tempDir(t)
  const data = randomBytes(4 * PIECE)
  writeFileSync(join(dir, 'f'), data)
  const pieces = Buffer.concat([0, 1, 2, 3].map(i => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest()))
  const info = bencode({ length: data.length, name: 'f', 'piece length': PIECE, pieces })
  const infoHash = createHash('sha1').update(info).digest()
  const store = PieceStore.open([{ path: join(dir, 'f'), length: data.length }], PIECE, 'read')
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({
    host: '127.0.0.1', port: 0, source: { size: () => undefined, readInto: async () => {} }, dialect: 'published',
    torrents: (h) => h.equals(infoHash) ? ref.transfer : undefined, ...listenerOptions
  })
  const { port } = await listener.listen()
  const clock = { now: 1_000_000 }
  const transfer = new Transfer({
    infoHash, pieceHashes: pieces, pieceLength: PIECE, totalLength: data.length, store, have: Bitfield.full(4),
    peerId: randomBytes(20), listenPort: port, metadata: info, seed: true, now: () => clock.now
  })
  ref.transfer = transfer
  transfer.start()
  t.after(async () => { transfer.close(); await listener.close(); store.close() })
  return { port, infoHash, listener, transfer, clock }
}

/** A connection from FROM; `closed` is set once the server closes it (or refuses it). */
async function open (t: TestContext, port: number): Promise<{ socket: Socket, closed: () => boolean, gone: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: FROM })
  socket.on('error', () => {})
  t.after(() => { socket.destroy() })
  let closed = false
  const gone = new Promise<void>(resolve => socket.once('close', () => { closed = true; resolve() }))
  await Promise.race([new Promise<void>(resolve => socket.once('connect', () => { resolve() })), gone])
  return { socket, closed: () => closed, gone }
}

function handshake (infoHash: Buffer): Buffer {
  return encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } })
}

test('half-handshakes (48 bytes, then silence) from one address are closed at the handshake deadline, and the address is served again', async (t) => {
  const s = await seed(t)
  const held = LEGACY_MAX_CONNECTIONS_PER_IP
  const loris: Array<Awaited<ReturnType<typeof open>>> = []
  for (let i = 0; i < held; i++) {
    const c = await open(t, s.port)
    c.socket.write(handshake(s.infoHash).subarray(0, 48))
    loris.push(c)
  }
  // All of them got past the listener's routing and sit in the transfer, not yet peers.
  await pollUntil('the half-handshakes handed to the transfer', () => s.transfer.connections === held && s.listener.stats.open === held ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${s.transfer.connections} in the transfer, ${s.listener.stats.open} open` })
  assert.equal(s.transfer.peers.size, 0)

  // Meanwhile the address is locked out: one more connection is refused at once.
  const refusedBefore = s.listener.stats.refused
  const extra = await open(t, s.port)
  await pollUntil('the extra connection refused', () => extra.closed() ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  assert.equal(s.listener.stats.refused, refusedBefore + 1)
  assert.ok(loris.every(c => !c.closed()), 'the half-handshakes are still open before the deadline')

  // Past the handshake deadline (the transfer's clock), the transfer's next tick closes every one of them.
  s.clock.now += HANDSHAKE_TIMEOUT_MS + 1
  await pollUntil('every half-handshake closed', () => loris.every(c => c.closed()) ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${loris.filter(c => !c.closed()).length} of ${held} still open` })
  await pollUntil('the listener counts them gone', () => s.listener.stats.open === 0 && s.transfer.connections === 0 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${s.listener.stats.open} open at the listener, ${s.transfer.connections} in the transfer` })

  // An honest peer from the same address is served: the seed's handshake comes back, then its have-all (BEP 6).
  const honest = await open(t, s.port)
  const messages: Message[] = []
  let head = Buffer.alloc(0)
  const decoder = new MessageDecoder({ onMessage: (m) => { messages.push(m) }, onBlockStart: () => {}, onBlockData: () => {}, onBlockEnd: () => {} }, { maxBitfieldBytes: 1 })
  honest.socket.on('data', (d: Buffer) => {
    if (head.length >= 68) { decoder.push(d); return }
    head = Buffer.concat([head, d])
    if (head.length >= 68) decoder.push(head.subarray(68))
  })
  honest.socket.write(handshake(s.infoHash))
  await pollUntil('the seed\'s handshake and have-all', () => messages.some(m => m.type === 'haveAll') ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${head.length} bytes, messages ${messages.map(m => m.type).join(',')}` })
  assert.ok(decodeHandshake(head.subarray(0, 68)).infoHash.equals(s.infoHash))
  assert.equal(s.transfer.peers.size, 1)
})

test('a handshake trickled a byte at a time is closed at the listener\'s deadline, before its info hash is in', async (t) => {
  const s = await seed(t, { requestTimeoutMs: 300 })
  const c = await open(t, s.port)
  const bytes = handshake(s.infoHash).subarray(0, 40)
  let sent = 0
  // A byte every 50 ms: an idle timeout of 300 ms would never fire while the bytes keep coming.
  for (; sent < bytes.length && !c.closed(); sent++) {
    c.socket.write(bytes.subarray(sent, sent + 1))
    await Promise.race([c.gone, new Promise(resolve => setTimeout(resolve, 50))])
  }
  assert.ok(c.closed(), `closed while the handshake was still trickling in (${sent} of ${bytes.length} bytes sent)`)
  assert.ok(sent < bytes.length)
  assert.equal(s.transfer.connections, 0, 'never handed to the transfer')
})
