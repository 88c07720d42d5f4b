/**
 * Node ids and the XOR metric (BEP 5), and the BEP 42 rule tying a node id to its IP address.
 *
 * Ids are 20-byte Buffers. Distances are never materialised as numbers: two ids are compared by their XOR with
 * the target byte by byte, and a bucket is named by the length of the prefix an id shares with ours.
 */
import { randomBytes } from 'node:crypto'
import { parseIPv4, parseIPv6 } from '../discovery/compact.js'
import { DHT_ID_BYTES } from './constants.js'

export type NodeId = Buffer

/** A fresh random node id (BEP 5: "chosen at random from the same 160-bit space as BitTorrent infohashes"). */
export function randomNodeId (): NodeId {
  return randomBytes(DHT_ID_BYTES)
}

export function isNodeId (value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === DHT_ID_BYTES
}

/** -1, 0 or 1 as `a` is closer to, as close as, or farther from `target` than `b` (BEP 5: distance is a XOR b). */
export function compareDistance (target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < DHT_ID_BYTES; i++) {
    const t = target[i] as number
    const da = (a[i] as number) ^ t
    const db = (b[i] as number) ^ t
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

/** How many leading bits `a` and `b` share (160 when equal). */
export function commonPrefixBits (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < DHT_ID_BYTES; i++) {
    const x = (a[i] as number) ^ (b[i] as number)
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return DHT_ID_BYTES * 8
}

/** A random id sharing exactly `bits` leading bits with `id` (bits < 160): a target inside bucket number `bits`. */
export function randomIdAtPrefix (id: Uint8Array, bits: number): NodeId {
  const out = randomBytes(DHT_ID_BYTES)
  const whole = bits >>> 3
  for (let i = 0; i < whole; i++) out[i] = id[i] as number
  if (whole < DHT_ID_BYTES) {
    const rest = bits & 7
    const keep = (0xff00 >>> rest) & 0xff // the top `rest` bits
    const flip = 0x80 >>> rest // the first differing bit
    const own = id[whole] as number
    out[whole] = ((own & keep) | ((own & flip) ^ flip) | ((out[whole] as number) & (flip - 1))) & 0xff
  }
  return out
}

// CRC32C (Castagnoli), reflected polynomial 0x82f63b78: BEP 42 chose it over zlib's CRC32.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

export function crc32c (bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const b of bytes) crc = (CRC32C_TABLE[(crc ^ b) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

const V4_MASK = [0x03, 0x0f, 0x3f, 0xff]
const V6_MASK = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff]

/** The bytes of an IP literal: 4 for IPv4 (an IPv4-mapped IPv6 address counts as IPv4), 16 for IPv6; undefined if neither. */
export function ipBytes (ip: string): Buffer | undefined {
  const v4 = parseIPv4(ip)
  if (v4 >= 0) {
    const out = Buffer.alloc(4)
    out.writeUInt32BE(v4)
    return out
  }
  const out = Buffer.alloc(16)
  if (!parseIPv6(ip, out)) return undefined
  if (out.readUInt32BE(0) === 0 && out.readUInt32BE(4) === 0 && out.readUInt32BE(8) === 0xffff) return out.subarray(12)
  return out
}

/** BEP 42: crc32c of the masked IP (4 bytes, or the high 8 of an IPv6 address) with r in its top 3 bits. */
function bep42Crc (ip: Uint8Array, r: number): number {
  const v4 = ip.length === 4
  const mask = v4 ? V4_MASK : V6_MASK
  const input = Buffer.alloc(mask.length)
  for (let i = 0; i < mask.length; i++) input[i] = (ip[i] as number) & (mask[i] as number)
  input[0] = (input[0] as number) | ((r & 7) << 5)
  return crc32c(input)
}

/**
 * A node id valid for `ip` under BEP 42: its first 21 bits from crc32c of the masked address, its last byte the
 * random `rand` whose low 3 bits went into the hash, the rest random. Undefined when `ip` is not an IP literal.
 */
export function bep42NodeId (ip: string, rand = randomBytes(1)[0] as number): NodeId | undefined {
  const bytes = ipBytes(ip)
  if (bytes === undefined) return undefined
  const crc = bep42Crc(bytes, rand & 7)
  const id = randomBytes(DHT_ID_BYTES)
  id[0] = (crc >>> 24) & 0xff
  id[1] = (crc >>> 16) & 0xff
  id[2] = ((crc >>> 8) & 0xf8) | ((id[2] as number) & 0x07)
  id[19] = rand & 0xff
  return id
}

/** Whether `id` obeys BEP 42 for `ip` (its first 21 bits match the hash of the address and its last byte's r). */
export function isBep42Compliant (id: Uint8Array, ip: string): boolean {
  const bytes = ipBytes(ip)
  if (bytes === undefined || id.length !== DHT_ID_BYTES) return false
  const crc = bep42Crc(bytes, (id[19] as number) & 7)
  return id[0] === ((crc >>> 24) & 0xff) && id[1] === ((crc >>> 16) & 0xff) && ((id[2] as number) & 0xf8) === ((crc >>> 8) & 0xf8)
}

/**
 * BEP 42's exempt addresses: 10/8, 172.16/12, 192.168/16, 169.254/16, 127/8 (and, as libtorrent does, their IPv6
 * counterparts ::1, fe80::/10, fc00::/7). Nodes there are never held to the id rule.
 */
export function isLocalAddress (ip: string): boolean {
  const bytes = ipBytes(ip)
  if (bytes === undefined) return false
  const a = bytes[0] as number
  const b = bytes[1] as number
  if (bytes.length === 4) {
    return a === 10 || a === 127 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168) || (a === 169 && b === 254)
  }
  if (a === 0xfe && (b & 0xc0) === 0x80) return true
  if ((a & 0xfe) === 0xfc) return true
  for (let i = 0; i < 15; i++) if (bytes[i] !== 0) return false
  return bytes[15] === 1
}
