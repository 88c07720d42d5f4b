/**
 * Serve one `GET_CHUNK` request on a connection whose request bytes have been read, in one dialect, then close.
 * The reply has a deadline (a base plus its size at a minimum rate) on top of the idle timeout, so a client that
 * reads, or sends, a byte now and then cannot keep the connection.
 */
import type { Socket } from 'node:net'
import { chunkCount, chunkRange, DIALECT_CHUNK_SIZE, type LegacyDialect } from '../../content/index.js'
import { LEGACY_SEND_IDLE_TIMEOUT_MS, LEGACY_SEND_MIN_BYTES_PER_S, LEGACY_SEND_TIMEOUT_MS } from '../../constants.js'
import { Deadline, type Throttle } from './client.js'
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

/** The reply's deadline: `timeoutMs` plus its size at `minBytesPerSecond` (defaults: LEGACY_SEND_TIMEOUT_MS, LEGACY_SEND_MIN_BYTES_PER_S). */
export interface ReplyTiming {
  timeoutMs?: number
  minBytesPerSecond?: number
}

/** Under an upload limit, a chunk goes out in slices of this size, each when the budget allows. */
const THROTTLED_SLICE_BYTES = 64 * 1024

export async function serveChunkRequest (socket: Socket, request: Uint8Array, source: ChunkSource, dialect: LegacyDialect, limit?: Throttle, timing: ReplyTiming = {}): Promise<LegacyOutcome> {
  socket.setTimeout(LEGACY_SEND_IDLE_TIMEOUT_MS, () => socket.destroy())
  const deadline = new Deadline(timing.timeoutMs ?? LEGACY_SEND_TIMEOUT_MS, () => { socket.destroy() })
  socket.once('close', () => { deadline.clear() })
  const allowFor = (bytes: number): void => { deadline.extend(bytes * 1000 / (timing.minBytesPerSecond ?? LEGACY_SEND_MIN_BYTES_PER_S)) }
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
  if (socket.destroyed) { releaseBuffer(out); deadline.clear(); return 'served' }
  if (dialect === 'published') {
    out.writeUInt32BE(length, 0)
    allowFor(out.length)
    if (limit?.limited === true) sendThrottled(socket, out, limit, deadline)
    else socket.end(out, () => { releaseBuffer(out) })
  } else {
    const text = Buffer.from(out.toString('base64'))
    releaseBuffer(out)
    allowFor(text.length)
    if (limit?.limited === true) sendThrottled(socket, text, limit, deadline)
    else socket.end(text)
  }
  return 'served'
}

/**
 * Send `data` and end the socket, a slice at a time as the limit's budget allows; the buffer goes back to the pool.
 * While it waits for budget, neither the deadline nor the idle timeout runs: the wait is ours, not the client's.
 */
function sendThrottled (socket: Socket, data: Buffer, limit: Throttle, deadline: Deadline): void {
  let pos = 0
  const step = (): void => {
    if (!socket.destroyed) {
      deadline.resume()
      socket.setTimeout(LEGACY_SEND_IDLE_TIMEOUT_MS)
    }
    while (pos < data.length) {
      if (socket.destroyed) { releaseBuffer(data); return }
      if (!limit.available()) {
        deadline.pause()
        socket.setTimeout(0)
        limit.whenAvailable(step)
        return
      }
      const end = Math.min(data.length, pos + THROTTLED_SLICE_BYTES)
      limit.charge(end - pos)
      socket.write(data.subarray(pos, end))
      pos = end
    }
    socket.end(() => { releaseBuffer(data) })
  }
  step()
}
