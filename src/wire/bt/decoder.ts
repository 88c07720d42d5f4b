/**
 * Streaming decoder of BitTorrent messages, for bytes read into a reused buffer (`onread`).
 *
 * Every declared length is checked against its cap before a byte of payload is buffered. Small messages are
 * gathered in a 13-byte scratch buffer; a bitfield or extended message in a buffer of exactly its (capped) size;
 * a `piece` payload is never buffered here: its bytes are handed to `onBlockData` as they arrive, to be copied
 * once, straight into the piece they belong to (PERFORMANCE.md, lesson 1). The slices passed to the handler are
 * valid only during the call.
 */
import { ProtocolError } from '../../errors.js'
import { MAX_BLOCK_BYTES, MAX_EXTENDED_BYTES, MSG, type Message } from './messages.js'

export interface WireHandler {
  /** Every message except `piece`. */
  onMessage: (message: Message) => void
  /** A `piece` message starts: `length` bytes of block `begin` of piece `index` follow. */
  onBlockStart: (index: number, begin: number, length: number) => void
  /** `data` holds block bytes from `offset` within the block. Copy them before returning. */
  onBlockData: (data: Uint8Array, offset: number) => void
  /** The block announced by the last onBlockStart is complete. */
  onBlockEnd: () => void
}

export interface DecoderLimits {
  /** Bytes of a bitfield: ceil(pieces / 8) for the torrent; a longer one is an error. */
  maxBitfieldBytes: number
}

const enum Phase { Length, Id, Header, Payload, Block, Skip }

/** Exact payload length (after the id byte) of each fixed-size message. */
const FIXED: ReadonlyMap<number, number> = new Map([
  [MSG.choke, 0], [MSG.unchoke, 0], [MSG.interested, 0], [MSG.notInterested, 0],
  [MSG.have, 4], [MSG.request, 12], [MSG.cancel, 12], [MSG.port, 2],
  [MSG.suggest, 4], [MSG.haveAll, 0], [MSG.haveNone, 0], [MSG.reject, 12], [MSG.allowedFast, 4]
])

export class MessageDecoder {
  readonly #handler: WireHandler
  readonly #limits: DecoderLimits
  readonly #scratch = Buffer.alloc(13)
  #phase: Phase = Phase.Length
  #have = 0
  #length = 0
  #id = 0
  #payload: Buffer | undefined
  #remaining = 0
  #blockOffset = 0
  #stopped = false

  constructor (handler: WireHandler, limits: DecoderLimits) {
    this.#handler = handler
    this.#limits = limits
  }

  /** Change the bitfield cap (once the torrent's piece count is known, e.g. after fetching metadata). */
  setMaxBitfieldBytes (bytes: number): void {
    this.#limits.maxBitfieldBytes = bytes
  }

  /** True between messages: no partial message is pending. */
  get idle (): boolean {
    return this.#phase === Phase.Length && this.#have === 0
  }

  /**
   * Hand nothing more to the handler, not even the rest of the read being decoded: a connection closed by one of its
   * messages (a protocol error, a ban) must not have the messages after it applied to a peer that is gone.
   */
  stop (): void {
    this.#stopped = true
  }

  push (data: Uint8Array): void {
    let pos = 0
    const end = data.length
    while (pos < end && !this.#stopped) {
      switch (this.#phase) {
        case Phase.Length: {
          const take = Math.min(4 - this.#have, end - pos)
          for (let i = 0; i < take; i++) this.#scratch[this.#have++] = data[pos++] ?? 0
          if (this.#have < 4) return
          this.#length = this.#scratch.readUInt32BE(0)
          this.#have = 0
          if (this.#length === 0) {
            this.#handler.onMessage({ type: 'keepAlive' })
          } else {
            this.#phase = Phase.Id
          }
          break
        }
        case Phase.Id: {
          this.#id = data[pos++] ?? 0
          this.#begin()
          break
        }
        case Phase.Header: {
          // The 8 bytes of index and begin of a piece message, or the whole payload of a fixed-size one.
          const need = this.#remaining
          const take = Math.min(need - this.#have, end - pos)
          for (let i = 0; i < take; i++) this.#scratch[this.#have++] = data[pos++] ?? 0
          if (this.#have < need) return
          this.#have = 0
          if (this.#id === MSG.piece) {
            const blockLength = this.#length - 9
            this.#handler.onBlockStart(this.#scratch.readUInt32BE(0), this.#scratch.readUInt32BE(4), blockLength)
            this.#remaining = blockLength
            this.#blockOffset = 0
            this.#phase = Phase.Block
            if (blockLength === 0) this.#endBlock()
          } else {
            this.#emitFixed()
            this.#phase = Phase.Length
          }
          break
        }
        case Phase.Block: {
          const take = Math.min(this.#remaining, end - pos)
          this.#handler.onBlockData(data.subarray(pos, pos + take), this.#blockOffset)
          pos += take
          this.#blockOffset += take
          this.#remaining -= take
          if (this.#remaining === 0) this.#endBlock()
          break
        }
        case Phase.Payload: {
          const payload = this.#payload as Buffer
          const take = Math.min(payload.length - this.#have, end - pos)
          payload.set(data.subarray(pos, pos + take), this.#have)
          this.#have += take
          pos += take
          if (this.#have < payload.length) return
          this.#have = 0
          this.#payload = undefined
          this.#phase = Phase.Length
          if (this.#id === MSG.bitfield) this.#handler.onMessage({ type: 'bitfield', bitfield: payload })
          else this.#handler.onMessage({ type: 'extended', id: payload[0] ?? 0, payload: payload.subarray(1) })
          break
        }
        case Phase.Skip: {
          const take = Math.min(this.#remaining, end - pos)
          pos += take
          this.#remaining -= take
          if (this.#remaining === 0) this.#phase = Phase.Length
          break
        }
      }
    }
  }

  /** Decide, from the id and declared length, how the payload is read — before reading any of it. */
  #begin (): void {
    const id = this.#id
    const payloadLength = this.#length - 1
    const fixed = FIXED.get(id)
    if (fixed !== undefined) {
      if (payloadLength !== fixed) throw new ProtocolError('ERR_BAD_MESSAGE', `message ${id} has ${payloadLength} payload bytes, expected ${fixed}`)
      if (fixed === 0) {
        this.#emitFixed()
        this.#phase = Phase.Length
      } else {
        this.#remaining = fixed
        this.#phase = Phase.Header
      }
      return
    }
    if (id === MSG.piece) {
      if (payloadLength < 8 || payloadLength - 8 > MAX_BLOCK_BYTES) {
        throw new ProtocolError('ERR_FRAME_TOO_LARGE', `piece message of ${payloadLength - 8} block bytes (cap ${MAX_BLOCK_BYTES})`)
      }
      this.#remaining = 8
      this.#phase = Phase.Header
      return
    }
    if (id === MSG.bitfield || id === MSG.extended) {
      const cap = id === MSG.bitfield ? this.#limits.maxBitfieldBytes : MAX_EXTENDED_BYTES
      if (payloadLength > cap || (id === MSG.extended && payloadLength < 1)) {
        throw new ProtocolError('ERR_FRAME_TOO_LARGE', `${id === MSG.bitfield ? 'bitfield' : 'extended message'} of ${payloadLength} bytes (cap ${cap})`)
      }
      if (payloadLength === 0) {
        this.#phase = Phase.Length
        this.#handler.onMessage({ type: 'bitfield', bitfield: Buffer.alloc(0) })
        return
      }
      this.#payload = Buffer.allocUnsafe(payloadLength)
      this.#phase = Phase.Payload
      return
    }
    // BEP 3: unknown messages are ignored; their length is still capped.
    if (payloadLength > MAX_EXTENDED_BYTES) throw new ProtocolError('ERR_FRAME_TOO_LARGE', `unknown message ${id} of ${payloadLength} bytes`)
    this.#remaining = payloadLength
    this.#phase = payloadLength === 0 ? Phase.Length : Phase.Skip
  }

  #endBlock (): void {
    this.#phase = Phase.Length
    this.#handler.onBlockEnd()
  }

  #emitFixed (): void {
    const s = this.#scratch
    const h = this.#handler
    switch (this.#id) {
      case MSG.choke: h.onMessage({ type: 'choke' }); break
      case MSG.unchoke: h.onMessage({ type: 'unchoke' }); break
      case MSG.interested: h.onMessage({ type: 'interested' }); break
      case MSG.notInterested: h.onMessage({ type: 'notInterested' }); break
      case MSG.haveAll: h.onMessage({ type: 'haveAll' }); break
      case MSG.haveNone: h.onMessage({ type: 'haveNone' }); break
      case MSG.have: h.onMessage({ type: 'have', index: s.readUInt32BE(0) }); break
      case MSG.suggest: h.onMessage({ type: 'suggest', index: s.readUInt32BE(0) }); break
      case MSG.allowedFast: h.onMessage({ type: 'allowedFast', index: s.readUInt32BE(0) }); break
      case MSG.port: h.onMessage({ type: 'port', port: s.readUInt16BE(0) }); break
      case MSG.request: h.onMessage({ type: 'request', index: s.readUInt32BE(0), begin: s.readUInt32BE(4), length: s.readUInt32BE(8) }); break
      case MSG.cancel: h.onMessage({ type: 'cancel', index: s.readUInt32BE(0), begin: s.readUInt32BE(4), length: s.readUInt32BE(8) }); break
      case MSG.reject: h.onMessage({ type: 'reject', index: s.readUInt32BE(0), begin: s.readUInt32BE(4), length: s.readUInt32BE(8) }); break
    }
  }
}
