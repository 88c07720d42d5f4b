/**
 * Serve one `GET_CHUNK` request on a connection whose request bytes have been read, in one dialect, then close.
 */
import type { Socket } from 'node:net'
import { chunkCount, chunkRange, DIALECT_CHUNK_SIZE, type LegacyDialect } from '../../content/index.js'
import { LEGACY_SEND_IDLE_TIMEOUT_MS } from '../../constants.js'
import type { Throttle } from './client.js'
import { LEGACY_ERRORS, parseChunkRequest } from './codec.js'

/** What the chunk server needs from the files it shares. */
export interface ChunkSource {
  size (fileHash: string): number | undefined
  readInto (fileHash: string, offset: number, length: number, target: Uint8Array, targetOffset: number): Promise<void>
}

const POOL_BUFFER_BYTES = 4 + 1024 * 1024
const POOL_MAX = 16
const pool: Buffer[] = []

/** A buffer of `size` bytes: pooled when it fits a published-dialect chunk, else new. */
function takeBuffer (size: number): Buffer {
  if (size > POOL_BUFFER_BYTES) return Buffer.allocUnsafe(size)
  return (pool.pop() ?? Buffer.allocUnsafe(POOL_BUFFER_BYTES)).subarray(0, size)
}

function releaseBuffer (buf: Buffer): void {
  if (buf.buffer.byteLength !== POOL_BUFFER_BYTES || pool.length >= POOL_MAX) return
  pool.push(Buffer.from(buf.buffer, buf.byteOffset, POOL_BUFFER_BYTES))
}

export type LegacyOutcome = 'served' | 'not-found' | 'out-of-range' | 'bad-request' | 'invalid' | 'io-error'

/** Under an upload limit, a chunk goes out in slices of this size, each when the budget allows. */
const THROTTLED_SLICE_BYTES = 64 * 1024

export async function serveChunkRequest (socket: Socket, request: Uint8Array, source: ChunkSource, dialect: LegacyDialect, limit?: Throttle): Promise<LegacyOutcome> {
  socket.setTimeout(LEGACY_SEND_IDLE_TIMEOUT_MS, () => socket.destroy())
  const parsed = parseChunkRequest(request)
  if (parsed.type === 'invalid') {
    socket.end()
    return 'invalid'
  }
  if (parsed.type === 'bad-id') {
    socket.end(LEGACY_ERRORS.serverError)
    return 'bad-request'
  }
  const size = source.size(parsed.fileHash)
  if (size === undefined) {
    socket.end(LEGACY_ERRORS.fileNotFound)
    return 'not-found'
  }
  const chunkSize = DIALECT_CHUNK_SIZE[dialect]
  if (parsed.chunkId >= chunkCount(size, chunkSize)) {
    socket.end(LEGACY_ERRORS.outOfRange)
    return 'out-of-range'
  }
  const { offset, length } = chunkRange(parsed.chunkId, size, chunkSize)
  // Seed side kept simple (PERFORMANCE.md, lesson 5): the chunk is read right behind its header and sent as one write.
  // Buffers come from a small pool and go back once the socket is done with them: fresh memory costs page faults
  // that, on this kind of machine, cost more than the copy itself (PERFORMANCE.md, lesson 1).
  const headerLength = dialect === 'published' ? 4 : 0
  const out = takeBuffer(headerLength + length)
  try {
    await source.readInto(parsed.fileHash, offset, length, out, headerLength)
  } catch {
    releaseBuffer(out)
    if (!socket.destroyed) socket.end(LEGACY_ERRORS.serverError)
    return 'io-error'
  }
  if (socket.destroyed) { releaseBuffer(out); return 'served' }
  if (dialect === 'published') {
    out.writeUInt32BE(length, 0)
    if (limit?.limited === true) sendThrottled(socket, out, limit)
    else socket.end(out, () => { releaseBuffer(out) })
  } else {
    const text = Buffer.from(out.toString('base64'))
    releaseBuffer(out)
    if (limit?.limited === true) sendThrottled(socket, text, limit)
    else socket.end(text)
  }
  return 'served'
}

/** Send `data` and end the socket, a slice at a time as the limit's budget allows; the buffer goes back to the pool. */
function sendThrottled (socket: Socket, data: Buffer, limit: Throttle): void {
  let pos = 0
  const step = (): void => {
    while (pos < data.length) {
      if (socket.destroyed) { releaseBuffer(data); return }
      if (!limit.available()) { limit.whenAvailable(step); return }
      const end = Math.min(data.length, pos + THROTTLED_SLICE_BYTES)
      limit.charge(end - pos)
      socket.write(data.subarray(pos, end))
      pos = end
    }
    socket.end(() => { releaseBuffer(data) })
  }
  step()
}
