/**
 * Our chunk server and chunk client over real sockets on 127.0.0.1: both dialects, every error reply, and the bounds
 * that keep a silent or flooding client from tying the server up.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'
import { PeerListener } from '../../src/node/index.js'
import { fetchChunk, type ChunkSource } from '../../src/wire/index.js'
import type { LegacyDialect } from '../../src/content/index.js'

const MIB = 1024 * 1024
const HASH = 'ab'.repeat(20)

function memorySource (data: Buffer): ChunkSource {
  return {
    size: (h) => h === HASH ? data.length : undefined,
    readInto: async (_h, offset, length, target, at) => { data.copy(target, at, offset, offset + length) }
  }
}

async function serve (t: TestContext, data: Buffer, dialect: LegacyDialect, extra: Partial<ConstructorParameters<typeof PeerListener>[0]> = {}): Promise<{ port: number, listener: PeerListener }> {
  const listener = new PeerListener({ host: '127.0.0.1', port: 0, source: memorySource(data), dialect, ...extra })
  const { port } = await listener.listen()
  t.after(async () => { await listener.close() })
  return { port, listener }
}

/** Send raw bytes, read everything until the server closes. */
async function raw (port: number, request: string | Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port }, () => { socket.write(request) })
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no close from server')) }, timeoutMs)
    socket.on('data', (d) => chunks.push(d))
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)) })
    socket.on('error', () => {})
  })
}

test('published dialect: 4-byte length prefix, raw bytes, short last chunk', async (t) => {
  const data = randomBytes(2 * MIB + 5)
  const { port } = await serve(t, data, 'published')
  const reply = await raw(port, `GET_CHUNK ${HASH} 2`)
  assert.equal(reply.readUInt32BE(0), 5)
  assert.deepEqual(reply.subarray(4), data.subarray(2 * MIB))
  const chunk = await fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 1, expectedLength: MIB })
  assert.deepEqual(chunk, data.subarray(MIB, 2 * MIB))
})

test('README dialect: base64 text of a 1 KiB chunk, decoded by the same client', async (t) => {
  const data = randomBytes(2049)
  const { port } = await serve(t, data, 'readme')
  const reply = await raw(port, `GET_CHUNK ${HASH} 1`)
  assert.equal(reply.toString(), data.subarray(1024, 2048).toString('base64'))
  const last = await fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 2, expectedLength: 1 })
  assert.deepEqual(last, data.subarray(2048))
})

test('error replies are bare ASCII, exactly as the Python server sends them', async (t) => {
  const { port } = await serve(t, randomBytes(10), 'published')
  assert.equal((await raw(port, `GET_CHUNK ${'cd'.repeat(20)} 0`)).toString(), 'ERROR: File not found')
  assert.equal((await raw(port, `GET_CHUNK ${HASH} 1`)).toString(), 'ERROR: Chunk out of range')
  assert.equal((await raw(port, `GET_CHUNK ${HASH} -1`)).toString(), 'ERROR: Server error')
  assert.equal((await raw(port, `GET_CHUNK ${HASH} x`)).toString(), 'ERROR: Server error')
  assert.equal((await raw(port, 'GET_CHUNK onlytwo')).length, 0, 'malformed request: closed without a reply')
  assert.equal((await raw(port, 'HELLO WORLD')).length, 0)
  await assert.rejects(fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 5, expectedLength: 10 }), { code: 'ERR_PEER_REFUSED', message: /Chunk out of range/ })
})

test('a request split across TCP segments is still answered', async (t) => {
  const data = randomBytes(100)
  const { port } = await serve(t, data, 'published')
  const reply = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write('GET_CHU')
      setTimeout(() => socket.write(`NK ${HASH} 0`), 50)
    })
    socket.on('data', (d) => chunks.push(d))
    socket.on('close', () => resolve(Buffer.concat(chunks)))
  })
  assert.deepEqual(reply.subarray(4), data)
})

test('the client rejects a peer that lies about the length or sends garbage', async (t) => {
  const { createServer } = await import('node:net')
  const replies: Buffer[] = [
    Buffer.from([0, 0, 0, 9, 1, 2, 3]), // announces 9 bytes, expected 3
    Buffer.from([0, 0, 0, 3, 1, 2]), // short
    Buffer.from('not base64 at all!'),
    Buffer.from([0, 0, 0, 3, 1, 2, 3, 4]) // extra bytes past the chunk
  ]
  const codes = ['ERR_BAD_LENGTH', 'ERR_SHORT_CHUNK', 'ERR_BAD_REPLY', 'ERR_BAD_LENGTH']
  let next = 0
  const server = createServer((s) => { s.once('data', () => { s.end(replies[next++] ?? Buffer.alloc(0)) }) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const port = (server.address() as { port: number }).port
  for (const code of codes) {
    await assert.rejects(fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 0, expectedLength: 3 }), { code })
  }
})

test('the client gives up on a silent peer after its idle timeout, and on a closed port at once', async (t) => {
  const { createServer } = await import('node:net')
  const server = createServer(() => { /* accept, never answer */ })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const port = (server.address() as { port: number }).port
  await assert.rejects(fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 0, expectedLength: 3, idleTimeoutMs: 200 }), { code: 'ERR_PEER_TIMEOUT' })
  server.close()
  await assert.rejects(fetchChunk({ host: '127.0.0.1', port, fileHash: HASH, chunkId: 0, expectedLength: 3 }), { code: 'ERR_PEER_UNREACHABLE' })
})

test('a silent client is dropped after the request timeout', async (t) => {
  const { port, listener } = await serve(t, randomBytes(10), 'published', { requestTimeoutMs: 150 })
  const closed = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, 3_000)
    socket.on('close', () => { clearTimeout(timer); resolve(true) })
    socket.on('error', () => {})
  })
  assert.equal(closed, true)
  for (let i = 0; i < 50 && listener.stats.open > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.equal(listener.stats.open, 0)
})

test('connections per address are capped: the extra ones are refused while the others still get served', async (t) => {
  const data = randomBytes(10)
  const { port, listener } = await serve(t, data, 'published', { maxConnectionsPerIp: 2, requestTimeoutMs: 2_000 })
  const idle = [connect({ host: '127.0.0.1', port }), connect({ host: '127.0.0.1', port })]
  for (const s of idle) s.on('error', () => {})
  t.after(() => { for (const s of idle) s.destroy() })
  await new Promise(resolve => setTimeout(resolve, 100))
  const refused = await raw(port, `GET_CHUNK ${HASH} 0`)
  assert.equal(refused.length, 0, 'third connection closed without a reply')
  assert.ok(listener.stats.refused >= 1)
  for (const s of idle) s.destroy()
  await new Promise(resolve => setTimeout(resolve, 100))
  const served = await raw(port, `GET_CHUNK ${HASH} 0`)
  assert.deepEqual(served.subarray(4), data)
})

test('a client flooding bytes without a valid request is cut off', async (t) => {
  const { port } = await serve(t, randomBytes(10), 'published')
  const reply = await raw(port, Buffer.alloc(64 * 1024, 0x41))
  assert.equal(reply.length, 0)
})
