/**
 * Compact peer lists: BEP 23 (`peers`, 6 bytes per IPv4 peer: address then port, network byte order) and
 * BEP 7 (`peers6`, 18 bytes per IPv6 peer). Also the IP literal parsing both sides need, without a URL or
 * regular expression on the way: the tracker calls these once per announce.
 */

/** An endpoint as trackers list it. */
export interface PeerAddress {
  ip: string
  port: number
}

/** Bytes of one compact IPv4 peer (BEP 23). */
export const COMPACT_PEER_BYTES = 6
/** Bytes of one compact IPv6 peer (BEP 7). */
export const COMPACT_PEER6_BYTES = 18

/** A dotted-quad IPv4 literal as an unsigned 32-bit number, or -1 when `text` is not one (no leading zeros). */
export function parseIPv4 (text: string): number {
  const length = text.length
  if (length < 7 || length > 15) return -1
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x2e) { // '.'
      if (digits === 0 || ++dots > 3) return -1
      value = value * 256 + octet
      octet = 0
      digits = 0
    } else {
      const d = c - 0x30
      if (d < 0 || d > 9 || (digits === 1 && octet === 0)) return -1
      octet = octet * 10 + d
      if (++digits > 3 || octet > 255) return -1
    }
  }
  if (dots !== 3 || digits === 0) return -1
  return value * 256 + octet
}

/** The dotted-quad text of an unsigned 32-bit IPv4 address. */
export function formatIPv4 (value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`
}

/**
 * Writes the 16 bytes of an IPv6 literal (`::` compression and a trailing dotted IPv4 allowed, no zone id)
 * into `out` at `offset`. Returns false, having written an unspecified part, when `text` is not one.
 */
export function parseIPv6 (text: string, out: Uint8Array, offset = 0): boolean {
  if (text.length < 2 || text.length > 45) return false
  const groups: number[] = []
  let gap = -1 // index in groups where '::' stands
  let i = 0
  if (text.startsWith('::')) {
    gap = 0
    i = 2
  }
  while (i < text.length) {
    let end = text.indexOf(':', i)
    if (end === -1) end = text.length
    const part = text.slice(i, end)
    if (part.includes('.')) {
      if (end !== text.length || groups.length > 6) return false
      const v4 = parseIPv4(part)
      if (v4 < 0) return false
      groups.push(v4 >>> 16, v4 & 0xffff)
    } else {
      if (part.length === 0 || part.length > 4 || !/^[0-9a-fA-F]+$/.test(part)) return false
      groups.push(parseInt(part, 16))
    }
    if (end === text.length) break
    if (text.charCodeAt(end + 1) === 0x3a) { // '::'
      if (gap !== -1) return false
      gap = groups.length
      i = end + 2
      if (i === text.length) break
    } else {
      i = end + 1
      if (i === text.length) return false // a trailing single ':'
    }
  }
  if (gap === -1 ? groups.length !== 8 : groups.length > 7) return false
  const zeros = 8 - groups.length
  let g = 0
  for (let k = 0; k < 8; k++) {
    const word = gap !== -1 && k >= gap && k < gap + zeros ? 0 : groups[g++] as number
    out[offset + 2 * k] = word >> 8
    out[offset + 2 * k + 1] = word & 0xff
  }
  return true
}

/**
 * The RFC 5952 text of 16 IPv6 bytes at `offset` (lower case, the longest run of two or more zero groups as
 * `::`). An IPv4-mapped address (`::ffff:a.b.c.d`) is given as its IPv4.
 */
export function formatIPv6 (bytes: Uint8Array, offset = 0): string {
  const words: number[] = []
  for (let k = 0; k < 8; k++) words.push(((bytes[offset + 2 * k] as number) << 8) | (bytes[offset + 2 * k + 1] as number))
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return formatIPv4(((words[6] as number) * 65536) + (words[7] as number))
  }
  let bestStart = -1
  let bestLength = 1
  for (let k = 0; k < 8;) {
    if (words[k] !== 0) {
      k++
      continue
    }
    let j = k
    while (j < 8 && words[j] === 0) j++
    if (j - k > bestLength) {
      bestStart = k
      bestLength = j - k
    }
    k = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/** The peers of a compact `peers` string (BEP 23). Returns undefined when its length is not a multiple of 6. */
export function decodeCompactPeers (bytes: Uint8Array): PeerAddress[] | undefined {
  if (bytes.length % COMPACT_PEER_BYTES !== 0) return undefined
  const peers: PeerAddress[] = []
  for (let o = 0; o < bytes.length; o += COMPACT_PEER_BYTES) {
    const ip = `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`
    peers.push({ ip, port: ((bytes[o + 4] as number) << 8) | (bytes[o + 5] as number) })
  }
  return peers
}

/** The peers of a compact `peers6` string (BEP 7). Returns undefined when its length is not a multiple of 18. */
export function decodeCompactPeers6 (bytes: Uint8Array): PeerAddress[] | undefined {
  if (bytes.length % COMPACT_PEER6_BYTES !== 0) return undefined
  const peers: PeerAddress[] = []
  for (let o = 0; o < bytes.length; o += COMPACT_PEER6_BYTES) {
    peers.push({ ip: formatIPv6(bytes, o), port: ((bytes[o + 16] as number) << 8) | (bytes[o + 17] as number) })
  }
  return peers
}

/**
 * Compact strings of a list of peers: IPv4 ones in `peers` (6 bytes each), IPv6 ones in `peers6` (18 bytes
 * each). Throws TypeError for an address that is neither literal or a port outside 0..65535.
 */
export function encodeCompactPeers (peers: readonly PeerAddress[]): { peers: Buffer, peers6: Buffer } {
  let v4 = 0
  for (const p of peers) if (parseIPv4(p.ip) >= 0) v4++
  const out4 = Buffer.alloc(v4 * COMPACT_PEER_BYTES)
  const out6 = Buffer.alloc((peers.length - v4) * COMPACT_PEER6_BYTES)
  let o4 = 0
  let o6 = 0
  for (const p of peers) {
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) throw new TypeError(`Invalid port ${p.port}`)
    const a = parseIPv4(p.ip)
    if (a >= 0) {
      out4.writeUInt32BE(a, o4)
      out4.writeUInt16BE(p.port, o4 + 4)
      o4 += COMPACT_PEER_BYTES
    } else {
      if (!parseIPv6(p.ip, out6, o6)) throw new TypeError(`Not an IP address: ${p.ip}`)
      out6.writeUInt16BE(p.port, o6 + 16)
      o6 += COMPACT_PEER6_BYTES
    }
  }
  return { peers: out4, peers6: out6 }
}
