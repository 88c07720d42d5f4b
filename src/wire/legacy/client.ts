/**
 * Fetch one chunk with the seed's protocol. The dialect is told from the first reply byte: a length prefix of a
 * chunk up to 16 MiB starts with 0x00, base64 text and `ERROR:` never do.
 *
 * Published-dialect bytes are read into one module-wide buffer (`onread`) and copied once, straight into the chunk
 * buffer: no allocation per socket read (PERFORMANCE.md, lesson 1). Safe because every callback copies what it
 * needs before returning, and callbacks never interleave on one thread.
 */
import { connect, type Socket } from 'node:net'
import { LEGACY_CONNECT_TIMEOUT_MS, LEGACY_FETCH_MIN_BYTES_PER_S, LEGACY_FETCH_TIMEOUT_MS, LEGACY_IDLE_TIMEOUT_MS, LEGACY_MAX_CHUNK_BYTES } from '../../constants.js'
import { AbortError, P2PError, ProtocolError, systemErrorCode } from '../../errors.js'
import { decodeBase64Reply, encodeChunkRequest, peerErrorReply } from './codec.js'

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

export interface FetchChunkOptions {
  host: string
  port: number
  fileHash: string
  chunkId: number
  /** The chunk's length from the file size and the peer's chunk size; any other length is a failure. */
  expectedLength: number
  /** Where to put the bytes; a new buffer of `expectedLength` when absent. */
  target?: Buffer
  connectTimeoutMs?: number
  idleTimeoutMs?: number
  /**
   * The whole reply's deadline from the connect: this plus the reply's size at `minBytesPerSecond` (defaults
   * LEGACY_FETCH_TIMEOUT_MS, LEGACY_FETCH_MIN_BYTES_PER_S): a peer trickling a byte now and then fails the chunk.
   */
  replyTimeoutMs?: number
  minBytesPerSecond?: number
  signal?: AbortSignal
  /** A download rate limit shared with other transfers: past its budget the socket is not read until it refills. */
  limit?: Throttle
}

/** The part of a rate limiter (swarm/rate-limiter.ts) a socket needs. */
export interface Throttle {
  readonly limited: boolean
  charge: (bytes: number) => void
  available: () => boolean
  whenAvailable: (fn: () => void) => void
}

export class PeerError extends P2PError {}

/**
 * A deadline for a whole reply that can be moved out, and paused while our own rate limit holds the transfer back (that
 * wait is not the other side's doing). Time is the wall clock: `node:test` mock timers move both.
 */
export class Deadline {
  #left: number
  #since = 0
  #timer: NodeJS.Timeout | undefined
  #done = false
  readonly #expire: () => void

  constructor (ms: number, expire: () => void) {
    this.#left = ms
    this.#expire = expire
    this.resume()
  }

  extend (ms: number): void {
    this.pause()
    this.#left += ms
    this.resume()
  }

  pause (): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#left -= Date.now() - this.#since
  }

  resume (): void {
    if (this.#timer !== undefined || this.#done) return
    this.#since = Date.now()
    this.#timer = setTimeout(() => { this.#done = true; this.#expire() }, Math.max(0, this.#left))
    // The socket keeps the process alive while it is open; the deadline alone must not.
    this.#timer.unref()
  }

  clear (): void {
    this.#done = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}

export async function fetchChunk (options: FetchChunkOptions): Promise<Buffer> {
  const { expectedLength } = options
  if (expectedLength > LEGACY_MAX_CHUNK_BYTES) throw new ProtocolError('ERR_FRAME_TOO_LARGE', `chunk of ${expectedLength} bytes is above the ${LEGACY_MAX_CHUNK_BYTES}-byte cap`)
  if (options.signal?.aborted === true) throw new AbortError()
  const target = options.target ?? Buffer.allocUnsafe(expectedLength)
  // Base64 text of the chunk, or an error line: bounded by what a correct reply can be.
  const textCap = Math.ceil(expectedLength / 3) * 4 + 256

  return await new Promise<Buffer>((resolve, reject) => {
    let mode: 'start' | 'binary' | 'text' = 'start'
    let header = 0
    let headerBytes = 0
    let received = 0
    let text: Buffer[] = []
    let textLength = 0
    let settled = false
    let connected = false
    let replyDeadline: Deadline | undefined

    const finish = (err: Error | undefined, value?: Buffer): void => {
      if (settled) return
      settled = true
      clearTimeout(connectTimer)
      replyDeadline?.clear()
      options.signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      if (err !== undefined) reject(err)
      else resolve(value ?? target)
    }
    const onAbort = (): void => { finish(new AbortError()) }

    const limit = options.limit?.limited === true ? options.limit : undefined
    const onData = (nread: number, buf: Buffer): boolean => {
      if (settled) return false
      if (limit !== undefined) {
        limit.charge(nread)
        if (!limit.available()) {
          socket.pause()
          replyDeadline?.pause()
          limit.whenAvailable(() => {
            if (settled) return
            replyDeadline?.resume()
            socket.resume()
          })
        }
      }
      let pos = 0
      if (mode === 'start') {
        mode = buf[0] === 0 ? 'binary' : 'text'
      }
      if (mode === 'binary') {
        while (headerBytes < 4 && pos < nread) {
          header = header * 256 + (buf[pos++] ?? 0)
          headerBytes++
        }
        if (headerBytes < 4) return true
        if (header !== expectedLength) {
          finish(new ProtocolError('ERR_BAD_LENGTH', `peer announced ${header} bytes, expected ${expectedLength}`))
          return false
        }
        const take = Math.min(nread - pos, expectedLength - received)
        buf.copy(target, received, pos, pos + take)
        received += take
        if (nread - pos > take) {
          finish(new ProtocolError('ERR_BAD_LENGTH', 'peer sent bytes past the chunk'))
          return false
        }
        if (received === expectedLength) finish(undefined, target)
        return true
      }
      textLength += nread
      if (textLength > textCap) {
        finish(new ProtocolError('ERR_FRAME_TOO_LARGE', `reply longer than the ${textCap} bytes a ${expectedLength}-byte chunk needs`))
        return false
      }
      text.push(Buffer.from(buf.subarray(0, nread)))
      return true
    }

    const onEnd = (): void => {
      if (settled) return
      if (mode === 'binary' || mode === 'start') {
        // An empty reply for an empty chunk is impossible (an empty file has no chunks), so both are short reads.
        if (expectedLength === 0 && headerBytes === 4) { finish(undefined, target); return }
        finish(new ProtocolError('ERR_SHORT_CHUNK', `connection closed after ${received} of ${expectedLength} bytes`))
        return
      }
      const reply = Buffer.concat(text, textLength)
      text = []
      const refused = peerErrorReply(reply)
      if (refused !== undefined) { finish(refused); return }
      try {
        const data = decodeBase64Reply(reply, expectedLength)
        data.copy(target, 0)
        finish(undefined, target)
      } catch (err) {
        finish(err as Error)
      }
    }

    const socket: Socket = connect({
      host: options.host,
      port: options.port,
      onread: { buffer: READ_BUFFER, callback: onData }
    })
    const connectTimer = setTimeout(() => {
      if (!connected) finish(new PeerError('ERR_PEER_TIMEOUT', `no connection within ${options.connectTimeoutMs ?? LEGACY_CONNECT_TIMEOUT_MS} ms`))
    }, options.connectTimeoutMs ?? LEGACY_CONNECT_TIMEOUT_MS)
    socket.setTimeout(options.idleTimeoutMs ?? LEGACY_IDLE_TIMEOUT_MS, () => {
      finish(new PeerError('ERR_PEER_TIMEOUT', `peer stalled: nothing for ${options.idleTimeoutMs ?? LEGACY_IDLE_TIMEOUT_MS} ms`))
    })
    socket.once('connect', () => {
      connected = true
      clearTimeout(connectTimer)
      // Base64 is the longer reply: 4 bytes for every 3.
      const replyMs = (options.replyTimeoutMs ?? LEGACY_FETCH_TIMEOUT_MS) + Math.ceil(expectedLength / 3) * 4 * 1000 / (options.minBytesPerSecond ?? LEGACY_FETCH_MIN_BYTES_PER_S)
      replyDeadline = new Deadline(replyMs, () => {
        finish(new PeerError('ERR_PEER_TIMEOUT', `peer too slow: no whole chunk within ${Math.round(replyMs)} ms`))
      })
      socket.write(encodeChunkRequest(options.fileHash, options.chunkId))
    })
    socket.once('end', onEnd)
    socket.once('close', () => { if (!settled) onEnd() })
    socket.once('error', (err) => {
      finish(new PeerError('ERR_PEER_UNREACHABLE', `${options.host}:${options.port}: ${systemErrorCode(err) ?? err.message}`, { cause: err }))
    })
    options.signal?.addEventListener('abort', onAbort, { once: true })
  })
}
