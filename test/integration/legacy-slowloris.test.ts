/**
 * Slow-loris `GET_CHUNK` clients against our chunk server, over real sockets on 127.0.0.1: a request trickled in, or
 * a reply taken (or a connection kept busy) a byte now and then, holds its connection only until a deadline, never
 * as long as the bytes keep coming; and the same for our client against a server trickling its reply. The deadlines
 * are shortened through options; each trickle is a bounded loop that would outlast them.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { PeerListener } from '../../src/node/index.js'
import { fetchChunk, type ChunkSource, type Throttle } from '../../src/wire/index.js'

const MIB = 1024 * 1024
const HASH = 'ab'.repeat(20)
/** The shortened deadline, and the trickle: a byte every sixth of it, 40 bytes (seven deadlines long). */
const DEADLINE_MS = 300
const TRICKLE_MS = 50
const TRICKLE_BYTES = 40

function memorySource (data: Buffer): ChunkSource {
  return {
    size: (h) => h === HASH ? data.length : undefined,
    readInto: async (_h, offset, length, target, at) => { data.copy(target, at, offset, offset + length) }
  }
}

async function serve (t: TestContext, data: Buffer, extra: Partial<ConstructorParameters<typeof PeerListener>[0]> = {}): Promise<{ port: number, listener: PeerListener }> {
  const listener = new PeerListener({ host: '127.0.0.1', port: 0, source: memorySource(data), dialect: 'published', ...extra })
  const { port } = await listener.listen()
  t.after(async () => { await listener.close() })
  return { port, listener }
}

async function open (t: TestContext, port: number): Promise<{ socket: Socket, closed: () => boolean, gone: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  t.after(() => { socket.destroy() })
  let closed = false
  const gone = new Promise<void>(resolve => socket.once('close', () => { closed = true; resolve() }))
  await new Promise<void>(resolve => socket.once('connect', () => { resolve() }))
  return { socket, closed: () => closed, gone }
}

/** Send `byte` every TRICKLE_MS, TRICKLE_BYTES times or until the server closes; how many were sent. */
async function trickle (c: { socket: Socket, closed: () => boolean, gone: Promise<void> }, byte: string): Promise<number> {
  let sent = 0
  for (; sent < TRICKLE_BYTES && !c.closed(); sent++) {
    c.socket.write(byte)
    await Promise.race([c.gone, new Promise(resolve => setTimeout(resolve, TRICKLE_MS))])
  }
  return sent
}

test('a request trickled in a byte at a time is closed at the request deadline', async (t) => {
  const { port, listener } = await serve(t, randomBytes(10), { requestTimeoutMs: DEADLINE_MS })
  // Leading whitespace is tolerated before GET_CHUNK (as the Python server's split()), so it keeps the request open.
  const c = await open(t, port)
  const sent = await trickle(c, ' ')
  assert.ok(c.closed(), `closed while the bytes kept coming (${sent} of ${TRICKLE_BYTES} sent)`)
  assert.ok(sent < TRICKLE_BYTES)
  for (let i = 0; i < 50 && listener.stats.open > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.equal(listener.stats.open, 0)
})

test('a client that takes its reply a byte at a time (here: not at all) while it sends a byte now and then is closed at the reply deadline', async (t) => {
  const { port, listener } = await serve(t, randomBytes(MIB), { sendTimeoutMs: DEADLINE_MS, sendMinBytesPerSecond: 1_000_000_000 })
  const c = await open(t, port)
  // Never read: the reply stays in the socket buffers, and the client never sees the server's end.
  c.socket.pause()
  c.socket.write(`GET_CHUNK ${HASH} 0`)
  // Bytes after the request keep an idle timeout from firing; only a deadline for the whole reply ends this.
  const sent = await trickle(c, 'x')
  assert.ok(c.closed(), `closed while the bytes kept coming (${sent} of ${TRICKLE_BYTES} sent)`)
  assert.ok(sent < TRICKLE_BYTES)
  for (let i = 0; i < 50 && listener.stats.open > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.equal(listener.stats.open, 0)
})

test('a reply held back by our own upload limit longer than its deadline still arrives whole: the wait is not the client\'s', async (t) => {
  const data = randomBytes(MIB)
  // 64 KiB of budget every 40 ms: the 16 slices of a 1 MiB chunk take about 0.6 s, twice the reply deadline.
  let budget = 0
  const limit: Throttle = {
    limited: true,
    charge: (bytes) => { budget -= bytes },
    available: () => budget > 0,
    whenAvailable: (fn) => { setTimeout(() => { budget = 64 * 1024; fn() }, 40) }
  }
  const { port } = await serve(t, data, { sendTimeoutMs: DEADLINE_MS, sendMinBytesPerSecond: 1_000_000_000, uploadLimit: limit })
  const c = await open(t, port)
  const chunks: Buffer[] = []
  c.socket.on('data', (d: Buffer) => chunks.push(d))
  c.socket.write(`GET_CHUNK ${HASH} 0`)
  let timer: NodeJS.Timeout | undefined
  await Promise.race([c.gone, new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('reply not finished')) }, 10_000) })])
  clearTimeout(timer)
  const reply = Buffer.concat(chunks)
  assert.equal(reply.length, 4 + MIB)
  assert.equal(reply.readUInt32BE(0), MIB)
  assert.ok(reply.subarray(4).equals(data))
})

test('our client gives up on a peer that trickles its reply a byte at a time, at the reply deadline', async (t) => {
  let sent = 0
  let closed = false
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('close', () => { closed = true })
    socket.once('data', async () => {
      // A correct length prefix, then the chunk a byte at a time: the idle timeout never fires.
      socket.write(Buffer.from([0, 0, 0x03, 0xe8]))
      for (; sent < TRICKLE_BYTES && !closed; sent++) {
        socket.write('x')
        await new Promise(resolve => setTimeout(resolve, TRICKLE_MS))
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const port = (server.address() as { port: number }).port
  await assert.rejects(fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 0, expectedLength: 1000, replyTimeoutMs: DEADLINE_MS, minBytesPerSecond: 1_000_000_000 }),
    (err: Error & { code?: string }) => { assert.equal(err.code, 'ERR_PEER_TIMEOUT'); assert.match(err.message, /too slow/); return true })
  assert.ok(sent < TRICKLE_BYTES, `given up while the bytes kept coming (${sent} of ${TRICKLE_BYTES} sent)`)
})

test('a chunk our own download limit holds back longer than the reply deadline still arrives whole', async (t) => {
  const data = randomBytes(MIB)
  const { port } = await serve(t, data)
  // 64 KiB of budget every 40 ms: 1 MiB takes about 0.6 s, twice the reply deadline.
  let budget = 64 * 1024
  const limit: Throttle = {
    limited: true,
    charge: (bytes) => { budget -= bytes },
    available: () => budget > 0,
    whenAvailable: (fn) => {
      const refill = (): void => { budget += 64 * 1024; if (budget > 0) fn(); else setTimeout(refill, 40) }
      setTimeout(refill, 40)
    }
  }
  const chunk = await fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 0, expectedLength: MIB, limit, replyTimeoutMs: DEADLINE_MS, minBytesPerSecond: 1_000_000_000 })
  assert.ok(chunk.equals(data))
})
