/**
 * BitTorrent peer messages (BEP 3, BEP 6 fast extension, BEP 10 extended) as a discriminated union, and their
 * encoders. Every message after the handshake is `<4-byte length><1-byte id><payload>`; length 0 is a keep-alive.
 */

export const MSG = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  // BEP 6
  suggest: 0x0d,
  haveAll: 0x0e,
  haveNone: 0x0f,
  reject: 0x10,
  allowedFast: 0x11,
  // BEP 10
  extended: 20
} as const

/** BEP 3: blocks are 16 KiB; larger requests are refused by most clients, and by us. */
export const BLOCK_SIZE = 16 * 1024
/** Largest block we accept in a `piece` message: BEP 3's 16 KiB with room for clients that send 32 KiB. */
export const MAX_BLOCK_BYTES = 128 * 1024
/** Largest extended message (BEP 10): a 16 KiB ut_metadata piece plus its dictionary fits many times. */
export const MAX_EXTENDED_BYTES = 1024 * 1024

export type Message =
  | { type: 'keepAlive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'notInterested' }
  | { type: 'have', index: number }
  | { type: 'bitfield', bitfield: Buffer }
  | { type: 'request', index: number, begin: number, length: number }
  | { type: 'cancel', index: number, begin: number, length: number }
  | { type: 'port', port: number }
  | { type: 'suggest', index: number }
  | { type: 'haveAll' }
  | { type: 'haveNone' }
  | { type: 'reject', index: number, begin: number, length: number }
  | { type: 'allowedFast', index: number }
  | { type: 'extended', id: number, payload: Buffer }

export type MessageType = Message['type']

const KEEP_ALIVE = Buffer.alloc(4)

function bare (id: number): Buffer {
  const out = Buffer.allocUnsafe(5)
  out.writeUInt32BE(1, 0)
  out[4] = id
  return out
}

function withIndex (id: number, index: number): Buffer {
  const out = Buffer.allocUnsafe(9)
  out.writeUInt32BE(5, 0)
  out[4] = id
  out.writeUInt32BE(index, 5)
  return out
}

function blockRef (id: number, index: number, begin: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(17)
  out.writeUInt32BE(13, 0)
  out[4] = id
  out.writeUInt32BE(index, 5)
  out.writeUInt32BE(begin, 9)
  out.writeUInt32BE(length, 13)
  return out
}

const CHOKE = bare(MSG.choke)
const UNCHOKE = bare(MSG.unchoke)
const INTERESTED = bare(MSG.interested)
const NOT_INTERESTED = bare(MSG.notInterested)
const HAVE_ALL = bare(MSG.haveAll)
const HAVE_NONE = bare(MSG.haveNone)

/** Encoders. The fixed messages are shared constant buffers: callers must not modify what they get. */
export const encode = {
  keepAlive: (): Buffer => KEEP_ALIVE,
  choke: (): Buffer => CHOKE,
  unchoke: (): Buffer => UNCHOKE,
  interested: (): Buffer => INTERESTED,
  notInterested: (): Buffer => NOT_INTERESTED,
  haveAll: (): Buffer => HAVE_ALL,
  haveNone: (): Buffer => HAVE_NONE,
  have: (index: number): Buffer => withIndex(MSG.have, index),
  /** Several haves in one buffer. */
  haves (indexes: readonly number[]): Buffer {
    const out = Buffer.allocUnsafe(9 * indexes.length)
    indexes.forEach((index, i) => {
      out.writeUInt32BE(5, i * 9)
      out[i * 9 + 4] = MSG.have
      out.writeUInt32BE(index, i * 9 + 5)
    })
    return out
  },
  suggest: (index: number): Buffer => withIndex(MSG.suggest, index),
  allowedFast: (index: number): Buffer => withIndex(MSG.allowedFast, index),
  request: (index: number, begin: number, length: number): Buffer => blockRef(MSG.request, index, begin, length),
  /** Several requests in one buffer (one write for a whole batch). */
  requests (blocks: ReadonlyArray<{ index: number, begin: number, length: number }>): Buffer {
    const out = Buffer.allocUnsafe(17 * blocks.length)
    let at = 0
    for (const b of blocks) {
      out.writeUInt32BE(13, at)
      out[at + 4] = MSG.request
      out.writeUInt32BE(b.index, at + 5)
      out.writeUInt32BE(b.begin, at + 9)
      out.writeUInt32BE(b.length, at + 13)
      at += 17
    }
    return out
  },
  cancel: (index: number, begin: number, length: number): Buffer => blockRef(MSG.cancel, index, begin, length),
  reject: (index: number, begin: number, length: number): Buffer => blockRef(MSG.reject, index, begin, length),
  bitfield (bitfield: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(5 + bitfield.length)
    out.writeUInt32BE(1 + bitfield.length, 0)
    out[4] = MSG.bitfield
    out.set(bitfield, 5)
    return out
  },
  port (port: number): Buffer {
    const out = Buffer.allocUnsafe(7)
    out.writeUInt32BE(3, 0)
    out[4] = MSG.port
    out.writeUInt16BE(port, 5)
    return out
  },
  extended (id: number, payload: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(6 + payload.length)
    out.writeUInt32BE(2 + payload.length, 0)
    out[4] = MSG.extended
    out[5] = id
    out.set(payload, 6)
    return out
  },
  /**
   * The 13-byte header of a `piece` message carrying `length` bytes, written at the start of `target`, so the block
   * can be read from disk right behind it and sent as one buffer (PERFORMANCE.md, lesson 5).
   */
  pieceHeader (target: Buffer, index: number, begin: number, length: number): void {
    target.writeUInt32BE(9 + length, 0)
    target[4] = MSG.piece
    target.writeUInt32BE(index, 5)
    target.writeUInt32BE(begin, 9)
  },
  /** A whole `piece` message (header and block copied into one buffer): for tests and small blocks. */
  piece (index: number, begin: number, block: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(13 + block.length)
    encode.pieceHeader(out, index, begin, block.length)
    out.set(block, 13)
    return out
  }
}

/** The encoded bytes of any non-piece message. */
export function encodeMessage (m: Message): Buffer {
  switch (m.type) {
    case 'keepAlive': return encode.keepAlive()
    case 'choke': return encode.choke()
    case 'unchoke': return encode.unchoke()
    case 'interested': return encode.interested()
    case 'notInterested': return encode.notInterested()
    case 'haveAll': return encode.haveAll()
    case 'haveNone': return encode.haveNone()
    case 'have': return encode.have(m.index)
    case 'suggest': return encode.suggest(m.index)
    case 'allowedFast': return encode.allowedFast(m.index)
    case 'request': return encode.request(m.index, m.begin, m.length)
    case 'cancel': return encode.cancel(m.index, m.begin, m.length)
    case 'reject': return encode.reject(m.index, m.begin, m.length)
    case 'bitfield': return encode.bitfield(m.bitfield)
    case 'port': return encode.port(m.port)
    case 'extended': return encode.extended(m.id, m.payload)
  }
}
