/**
 * BEP 10 extension protocol: the extended handshake (message id 0 inside `extended`), and BEP 9 ut_metadata
 * messages (a bencoded dictionary, followed by the raw metadata piece for `data`).
 */
import { bdecode, bencode, bget, isBDict, type BDict } from '../../content/index.js'
import { ProtocolError } from '../../errors.js'

/** BEP 10: extended message id 0 is the handshake. */
export const EXTENDED_HANDSHAKE_ID = 0
/** BEP 9: metadata travels in 16 KiB pieces. */
export const METADATA_PIECE_SIZE = 16 * 1024
/** Largest metadata (info dictionary) we accept: 100k files or 1 GiB of 20-byte piece hashes fits well within. */
export const MAX_METADATA_BYTES = 8 * 1024 * 1024
/**
 * Names and ids of the extensions we offer, in every extended handshake. Not ut_pex: we do not implement peer
 * exchange (BEP 11), so offering it only invited peers to send messages we drop. When PEX is added, it must be offered
 * (and PEX messages sent or read) only for torrents whose info dictionary is not private: BEP 27, a private torrent's
 * peers come from its trackers alone.
 */
export const OUR_EXTENSIONS = { ut_metadata: 1 } as const

export interface ExtendedHandshake {
  /** Extension name → the id the sender wants to receive it under (0: disabled). */
  m: Record<string, number>
  /** Client name and version. */
  v?: string
  /** The sender's listen port. */
  p?: number
  /** Requests the sender keeps queued (BEP 10 `reqq`). */
  reqq?: number
  /** BEP 9: size of the info dictionary. */
  metadataSize?: number
  /** The receiver's address as the sender sees it (compact 4 or 16 bytes). */
  yourip?: Buffer
}

export function encodeExtendedHandshake (h: ExtendedHandshake): Buffer {
  return bencode({
    m: h.m,
    v: h.v,
    p: h.p,
    reqq: h.reqq,
    metadata_size: h.metadataSize,
    yourip: h.yourip
  })
}

export function decodeExtendedHandshake (payload: Uint8Array): ExtendedHandshake {
  const dict = decodeDict(payload, 'extended handshake')
  const mDict = bget.dict(dict, 'm')
  const m: Record<string, number> = {}
  if (mDict !== undefined) {
    for (const [name, id] of Object.entries(mDict)) {
      // BEP 10: ids are single bytes; 0 disables the extension.
      if (typeof id === 'number' && id >= 0 && id <= 255) m[name] = id
    }
  }
  const out: ExtendedHandshake = { m }
  const v = bget.string(dict, 'v')
  if (v !== undefined) out.v = v.slice(0, 64)
  const p = bget.int(dict, 'p')
  if (p !== undefined && p > 0 && p <= 65535) out.p = p
  const reqq = bget.int(dict, 'reqq')
  if (reqq !== undefined && reqq > 0) out.reqq = reqq
  const size = bget.int(dict, 'metadata_size')
  if (size !== undefined) {
    if (size <= 0 || size > MAX_METADATA_BYTES) throw new ProtocolError('ERR_BAD_METADATA', `metadata_size ${size} outside 1..${MAX_METADATA_BYTES}`)
    out.metadataSize = size
  }
  const yourip = bget.bytes(dict, 'yourip')
  if (yourip !== undefined && (yourip.length === 4 || yourip.length === 16)) out.yourip = Buffer.from(yourip)
  return out
}

export type MetadataMessage =
  | { type: 'request', piece: number }
  | { type: 'data', piece: number, totalSize: number, data: Buffer }
  | { type: 'reject', piece: number }

export function encodeMetadataMessage (m: MetadataMessage): Buffer {
  switch (m.type) {
    case 'request': return bencode({ msg_type: 0, piece: m.piece })
    case 'reject': return bencode({ msg_type: 2, piece: m.piece })
    case 'data': return Buffer.concat([bencode({ msg_type: 1, piece: m.piece, total_size: m.totalSize }), m.data])
  }
}

export function decodeMetadataMessage (payload: Uint8Array): MetadataMessage {
  let decoded
  try {
    decoded = bdecode(payload, { strict: false })
  } catch (err) {
    throw new ProtocolError('ERR_BAD_METADATA', `ut_metadata message: ${(err as Error).message}`)
  }
  if (!isBDict(decoded.value)) throw new ProtocolError('ERR_BAD_METADATA', 'ut_metadata message is not a dictionary')
  const dict = decoded.value
  const type = bget.int(dict, 'msg_type')
  const piece = bget.int(dict, 'piece')
  if (piece === undefined || piece < 0 || piece >= Math.ceil(MAX_METADATA_BYTES / METADATA_PIECE_SIZE)) {
    throw new ProtocolError('ERR_BAD_METADATA', 'ut_metadata message without a valid piece number')
  }
  const rest = payload.length - decoded.length
  if (type === 0 || type === 2) {
    if (rest !== 0) throw new ProtocolError('ERR_BAD_METADATA', 'bytes after a ut_metadata request or reject')
    return { type: type === 0 ? 'request' : 'reject', piece }
  }
  if (type === 1) {
    const totalSize = bget.int(dict, 'total_size')
    if (totalSize === undefined || totalSize <= 0 || totalSize > MAX_METADATA_BYTES) {
      throw new ProtocolError('ERR_BAD_METADATA', `ut_metadata total_size ${String(totalSize)} outside 1..${MAX_METADATA_BYTES}`)
    }
    const data = Buffer.from(payload.subarray(decoded.length))
    if (data.length > METADATA_PIECE_SIZE) throw new ProtocolError('ERR_BAD_METADATA', `ut_metadata piece of ${data.length} bytes (cap ${METADATA_PIECE_SIZE})`)
    return { type: 'data', piece, totalSize, data }
  }
  throw new ProtocolError('ERR_BAD_METADATA', `unknown ut_metadata msg_type ${String(type)}`)
}

function decodeDict (payload: Uint8Array, what: string): BDict {
  let value
  try {
    value = bdecode(payload).value
  } catch (err) {
    throw new ProtocolError('ERR_BAD_EXTENDED', `${what}: ${(err as Error).message}`)
  }
  if (!isBDict(value)) throw new ProtocolError('ERR_BAD_EXTENDED', `${what} is not a dictionary`)
  return value
}
