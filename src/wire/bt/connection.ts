/**
 * One BitTorrent connection: handshake, then messages, over a connected socket. Knows bytes, not swarms: it tells
 * its owner what arrived and sends what it is told, with backpressure (`write()` returns false → wait for
 * `onDrain`). Idle and keep-alive timing is driven by the owner's tick (`tick(now)`), so one timer serves many
 * connections.
 */
import type { Socket } from 'node:net'
import { ProtocolError } from '../../errors.js'
import { MessageDecoder, type WireHandler } from './decoder.js'
import { decodeHandshake, encodeHandshake, HANDSHAKE_LENGTH, type Extensions, type Handshake } from './handshake.js'
import { encode } from './messages.js'

/** Handshake must complete within this after the connection is up. */
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** BEP 3: peers send a keep-alive every two minutes; a connection silent for longer than this is dropped. */
export const IDLE_TIMEOUT_MS = 150_000
/** We send a keep-alive after this long without sending anything. */
export const KEEPALIVE_INTERVAL_MS = 60_000
/**
 * Our output a peer may leave unread (`socket.writableLength`) before we stop reading from it until the socket
 * drains. Without it a peer that never reads makes us queue a reject for each 17-byte request and up to 16 KiB for
 * each 31-byte ut_metadata request, as fast as it can send them (64 MiB of requests took a seed from 105 MB to 760 MB
 * in 3 s). An honest peer never comes near it: piece uploads stop at the socket's high-water mark (16 KiB) and wait
 * for 'drain', and everything else we send is small. 1 MiB is 64 metadata pieces.
 */
export const MAX_UNSENT_BYTES = 1024 * 1024

/** Why reading from a peer is paused: its unread output (MAX_UNSENT_BYTES), or the owner (a download rate limit). */
const HELD_BY_OUTPUT = 1
const HELD_BY_OWNER = 2

export interface PeerWireHandler extends WireHandler {
  /**
   * The remote handshake arrived. For an inbound connection, return our answer's info hash (the torrent it asked
   * for) or undefined to refuse; for an outbound one, return undefined to refuse (e.g. it is ourselves).
   */
  onHandshake: (remote: Handshake) => { accept: true } | { accept: false, reason: string }
  /** Both handshakes are exchanged; send the first messages (bitfield, extended handshake) now. */
  onReady: () => void
  onDrain: () => void
  /** A batch of bytes from one socket read has been handled: a good moment to send what it calls for, at once. */
  onReceived: () => void
  onClose: (reason: string) => void
}

export interface PeerWireOptions {
  socket: Socket
  /** Our handshake (for inbound connections sent after the remote's arrives, for outbound at once). */
  local: { infoHash: Buffer | undefined, peerId: Buffer, extensions: Extensions }
  direction: 'in' | 'out'
  maxBitfieldBytes: number
  now: () => number
}

export class PeerWire {
  readonly socket: Socket
  readonly direction: 'in' | 'out'
  remote: Handshake | undefined
  bytesIn = 0
  bytesOut = 0
  lastReceivedAt: number
  lastSentAt: number
  readonly #opened: number
  readonly #handler: PeerWireHandler
  readonly #decoder: MessageDecoder
  readonly #local: PeerWireOptions['local']
  readonly #now: () => number
  #handshake: Buffer | undefined = Buffer.alloc(HANDSHAKE_LENGTH)
  #handshakeHave = 0
  #closed = false
  /** HELD_BY_* bits: reading is paused while any is set. */
  #held = 0

  constructor (options: PeerWireOptions, handler: PeerWireHandler) {
    this.socket = options.socket
    this.direction = options.direction
    this.#handler = handler
    this.#local = options.local
    this.#now = options.now
    this.#opened = this.lastReceivedAt = this.lastSentAt = options.now()
    this.#decoder = new MessageDecoder(handler, { maxBitfieldBytes: options.maxBitfieldBytes })
    this.socket.setNoDelay(true)
    this.socket.on('drain', () => {
      if (this.#closed) return
      this.#release(HELD_BY_OUTPUT)
      handler.onDrain()
    })
    this.socket.on('error', (err) => { this.close(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`) })
    this.socket.on('close', () => { this.close('connection closed by peer') })
    if (this.direction === 'out') this.#sendHandshake()
  }

  get closed (): boolean {
    return this.#closed
  }

  get handshaken (): boolean {
    return this.#handshake === undefined
  }

  /** Bytes from the socket (from `onread` or `'data'`). Only valid during the call. */
  receive (data: Uint8Array): void {
    if (this.#closed) return
    this.bytesIn += data.length
    this.lastReceivedAt = this.#now()
    try {
      let rest = data
      if (this.#handshake !== undefined) {
        const take = Math.min(HANDSHAKE_LENGTH - this.#handshakeHave, rest.length)
        this.#handshake.set(rest.subarray(0, take), this.#handshakeHave)
        this.#handshakeHave += take
        rest = rest.subarray(take)
        // Fail fast on a wrong protocol string rather than waiting for 68 bytes.
        if (this.#handshake[0] !== 19) throw new ProtocolError('ERR_HANDSHAKE', 'not a BitTorrent handshake')
        if (this.#handshakeHave < HANDSHAKE_LENGTH) return
        const remote = decodeHandshake(this.#handshake)
        this.#handshake = undefined
        this.remote = remote
        const verdict = this.#handler.onHandshake(remote)
        if (!verdict.accept) { this.close(verdict.reason); return }
        if (this.direction === 'in') this.#sendHandshake(remote.infoHash)
        this.#handler.onReady()
      }
      if (rest.length > 0 && !this.#closed) this.#decoder.push(rest)
      if (!this.#closed) this.#handler.onReceived()
      // What this read called for is queued: past the bound, read no more from the peer until it takes our output.
      if (!this.#closed) this.hasRoom()
    } catch (err) {
      this.close(err instanceof ProtocolError ? `protocol error: ${err.message}` : `error: ${String(err)}`)
    }
  }

  /** Let the decoder accept a bitfield of this many bytes (after metadata arrives). */
  setMaxBitfieldBytes (bytes: number): void {
    this.#decoder.setMaxBitfieldBytes(bytes)
  }

  /** Send bytes; false means the socket's buffer is full: wait for onDrain before sending much more. */
  /** `done` runs once the socket no longer needs `data` (written, or failed). */
  write (data: Uint8Array, done?: () => void): boolean {
    if (this.#closed) { done?.(); return false }
    this.bytesOut += data.length
    this.lastSentAt = this.#now()
    return done === undefined ? this.socket.write(data) : this.socket.write(data, () => { done() })
  }

  get writable (): boolean {
    return !this.#closed && !this.socket.writableNeedDrain
  }

  /**
   * Room for output that may wait or be dropped (a reply the peer's own messages call for: a reject, a metadata
   * piece; more requests)? Not while the peer leaves more than MAX_UNSENT_BYTES of our output unread: then reading
   * from it is paused until the socket drains, so it cannot ask for more meanwhile, and the caller defers or drops.
   */
  hasRoom (): boolean {
    if (this.socket.writableLength <= MAX_UNSENT_BYTES) return true
    this.#hold(HELD_BY_OUTPUT)
    return false
  }

  /** Stop reading from the peer (for the owner: a download rate limit), until `resumeReading`. */
  pauseReading (): void {
    this.#hold(HELD_BY_OWNER)
  }

  resumeReading (): void {
    this.#release(HELD_BY_OWNER)
  }

  /** Works for sockets reading with `onread` (outbound, and inbound moved to a user buffer) as for 'data' events. */
  #hold (why: number): void {
    if (this.#held === 0 && !this.#closed) this.socket.pause()
    this.#held |= why
  }

  #release (why: number): void {
    if ((this.#held & why) === 0) return
    this.#held &= ~why
    if (this.#held === 0 && !this.#closed) this.socket.resume()
  }

  /**
   * Timeouts and keep-alives; called about once a second by the owner, for every connection from its creation: the
   * handshake deadline (HANDSHAKE_TIMEOUT_MS from the connect or hand-over, however the bytes trickle in) runs only here.
   */
  tick (now: number): void {
    if (this.#closed) return
    if (!this.handshaken && now - this.#opened > HANDSHAKE_TIMEOUT_MS) { this.close('handshake timeout'); return }
    if (now - this.lastReceivedAt > IDLE_TIMEOUT_MS) { this.close('idle timeout'); return }
    if (this.handshaken && now - this.lastSentAt > KEEPALIVE_INTERVAL_MS) this.write(encode.keepAlive())
  }

  close (reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#decoder.stop()
    this.socket.destroy()
    this.#handler.onClose(reason)
  }

  #sendHandshake (infoHash?: Buffer): void {
    const hash = infoHash ?? this.#local.infoHash
    if (hash === undefined) throw new Error('PeerWire: no info hash to send')
    this.write(encodeHandshake({ infoHash: hash, peerId: this.#local.peerId, extensions: this.#local.extensions }))
  }
}
