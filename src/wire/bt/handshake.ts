/**
 * The BitTorrent handshake (BEP 3): `\x13BitTorrent protocol`, 8 reserved bytes, info hash, peer id — 68 bytes.
 * Reserved bits say which extensions a peer speaks: BEP 10 (extension protocol), BEP 6 (fast), BEP 5 (DHT).
 */
import { ProtocolError } from '../../errors.js'

export const PROTOCOL = Buffer.from('\x13BitTorrent protocol', 'latin1')
export const HANDSHAKE_LENGTH = 68

export interface Extensions {
  /** BEP 10: reserved[5] & 0x10. */
  extended: boolean
  /** BEP 6: reserved[7] & 0x04. */
  fast: boolean
  /** BEP 5: reserved[7] & 0x01. */
  dht: boolean
}

export interface Handshake {
  infoHash: Buffer
  peerId: Buffer
  extensions: Extensions
}

export function encodeHandshake (h: Handshake): Buffer {
  const out = Buffer.alloc(HANDSHAKE_LENGTH)
  PROTOCOL.copy(out, 0)
  if (h.extensions.extended) out[25] = (out[25] ?? 0) | 0x10
  if (h.extensions.fast) out[27] = (out[27] ?? 0) | 0x04
  if (h.extensions.dht) out[27] = (out[27] ?? 0) | 0x01
  copyExact(h.infoHash, out, 28, 'info hash')
  copyExact(h.peerId, out, 48, 'peer id')
  return out
}

/** Parse a complete 68-byte handshake; throws ERR_HANDSHAKE on anything else. */
export function decodeHandshake (data: Uint8Array): Handshake {
  if (data.length < HANDSHAKE_LENGTH) throw new ProtocolError('ERR_HANDSHAKE', `handshake of ${data.length} bytes, expected ${HANDSHAKE_LENGTH}`)
  const buf = Buffer.from(data.buffer, data.byteOffset, HANDSHAKE_LENGTH)
  if (!buf.subarray(0, 20).equals(PROTOCOL)) throw new ProtocolError('ERR_HANDSHAKE', 'not a BitTorrent handshake')
  const r5 = buf[25] ?? 0
  const r7 = buf[27] ?? 0
  return {
    infoHash: Buffer.from(buf.subarray(28, 48)),
    peerId: Buffer.from(buf.subarray(48, 68)),
    extensions: { extended: (r5 & 0x10) !== 0, fast: (r7 & 0x04) !== 0, dht: (r7 & 0x01) !== 0 }
  }
}

function copyExact (value: Buffer, out: Buffer, at: number, what: string): void {
  if (value.length !== 20) throw new ProtocolError('ERR_HANDSHAKE', `${what} must be 20 bytes, got ${value.length}`)
  value.copy(out, at)
}
