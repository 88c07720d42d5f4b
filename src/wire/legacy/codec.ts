/**
 * The seed's chunk protocol (ORIGINAL-PYTHON.md), one request per TCP connection:
 *
 *   client → server  `GET_CHUNK <40-hex sha1> <decimal chunk id>`  (no newline; whitespace-split)
 *   server → client  published dialect: 4-byte big-endian length + raw bytes, then close
 *                    README dialect:    base64 text of the chunk, then close
 *                    errors:            bare ASCII `ERROR: ...`, then close
 */
import { ProtocolError } from '../../errors.js'

export const REQUEST_VERB = 'GET_CHUNK'

export const LEGACY_ERRORS = {
  fileNotFound: 'ERROR: File not found',
  outOfRange: 'ERROR: Chunk out of range',
  serverError: 'ERROR: Server error'
} as const

export type LegacyRequest =
  | { type: 'request', fileHash: string, chunkId: number }
  /** Three tokens, but the id is no non-negative integer: answered with `ERROR: Server error`. */
  | { type: 'bad-id', fileHash: string }
  /** Not `GET_CHUNK <hash> <id>`: the connection is closed without a reply, as the Python server does. */
  | { type: 'invalid' }

export function encodeChunkRequest (fileHash: string, chunkId: number): Buffer {
  return Buffer.from(`${REQUEST_VERB} ${fileHash} ${chunkId}`, 'latin1')
}

/** Parse a complete request. Whitespace around and between tokens is tolerated (`\r\n`, extra spaces). */
export function parseChunkRequest (data: Uint8Array): LegacyRequest {
  const tokens = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1').split(/\s+/).filter(t => t !== '')
  if (tokens.length !== 3 || tokens[0] !== REQUEST_VERB) return { type: 'invalid' }
  const fileHash = (tokens[1] ?? '').toLowerCase()
  const id = tokens[2] ?? ''
  // Python's int() accepts an optional sign and digits; anything else, or a negative id, is a server error.
  if (!/^\+?\d{1,15}$/.test(id)) return { type: 'bad-id', fileHash }
  return { type: 'request', fileHash, chunkId: Number(id) }
}

/**
 * True once `data` holds a whole request: three tokens followed by whitespace, or three tokens and no more bytes to
 * come. Used to decide whether to wait for more bytes from a client whose request arrived split.
 */
export function looksComplete (data: Uint8Array): boolean {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
  return text.trim().split(/\s+/).length >= 3
}

export function encodePublishedHeader (length: number): Buffer {
  const header = Buffer.allocUnsafe(4)
  header.writeUInt32BE(length, 0)
  return header
}

/** Turn an `ERROR: ...` reply into a ProtocolError carrying the peer's message. */
export function peerErrorReply (reply: Uint8Array): ProtocolError | undefined {
  if (reply.length < 6) return undefined
  const text = Buffer.from(reply.buffer, reply.byteOffset, Math.min(reply.byteLength, 200)).toString('latin1')
  if (!text.startsWith('ERROR:')) return undefined
  return new ProtocolError('ERR_PEER_REFUSED', `peer replied "${text.trim()}"`)
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Decode a README-dialect reply: the base64 text of exactly `expectedLength` bytes. */
export function decodeBase64Reply (reply: Uint8Array, expectedLength: number): Buffer {
  const text = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength).toString('latin1').trim()
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw new ProtocolError('ERR_BAD_REPLY', 'reply is neither a length-prefixed chunk nor base64')
  const data = Buffer.from(text, 'base64')
  if (data.length !== expectedLength) throw new ProtocolError('ERR_BAD_LENGTH', `chunk has ${data.length} bytes, expected ${expectedLength}`)
  return data
}
