/**
 * The messages of the UDP tracker protocol (BEP 15), both directions, in one place: the client encodes requests and
 * decodes replies, the tracker reads requests and writes replies. All integers are big endian.
 *
 * The tracker's hot path reads and writes in place through `readAnnounce` (into a reused object) and the
 * `write*` functions (into a buffer it allocates once per reply); `decodeRequest`/`encodeReply` wrap the same code
 * for tests and tools. Lengths are checked before any field is read: `decodeRequest`/`decodeReply` throw
 * ProtocolError (`ERR_UDP_TRACKER_PACKET`) with the reason.
 */
import { ProtocolError } from '../errors.js'
import { COMPACT_PEER6_BYTES, COMPACT_PEER_BYTES, formatIPv6, parseIPv4, parseIPv6, type PeerAddress } from './compact.js'

/** BEP 15: the magic constant 0x41727101980 that opens a connect request, as its two 32-bit halves. */
export const PROTOCOL_ID_HIGH = 0x417
export const PROTOCOL_ID_LOW = 0x27101980

export const ACTION_CONNECT = 0
export const ACTION_ANNOUNCE = 1
export const ACTION_SCRAPE = 2
export const ACTION_ERROR = 3

/** BEP 15 announce events. libtorrent also sends 4 (`paused`, BEP 21), a regular announce to a tracker. */
export const EVENT_NONE = 0
export const EVENT_COMPLETED = 1
export const EVENT_STARTED = 2
export const EVENT_STOPPED = 3
export const EVENT_PAUSED = 4

/** Bytes of a connection id (64 bits). */
export const CONNECTION_ID_BYTES = 8
/** A connect request; also the header of every request (connection id, action, transaction id). */
export const CONNECT_REQUEST_BYTES = 16
export const CONNECT_REPLY_BYTES = 16
/** An announce request without BEP 41 options (which may follow; we ignore them). */
export const ANNOUNCE_REQUEST_BYTES = 98
/** Announce reply header (action, transaction id, interval, leechers, seeders); peers follow. */
export const ANNOUNCE_REPLY_HEADER_BYTES = 20
export const SCRAPE_REQUEST_HEADER_BYTES = 16
export const INFO_HASH_BYTES = 20
/** Scrape reply header (action, transaction id); 12 bytes per info hash follow. */
export const SCRAPE_REPLY_HEADER_BYTES = 8
export const SCRAPE_ENTRY_BYTES = 12
/** Error reply header (action, transaction id); the message follows. */
export const ERROR_REPLY_HEADER_BYTES = 8
/**
 * BEP 15: "up to about 74 torrents can be scraped at once": 16 + 74 × 20 = 1,496 bytes, a request that still fits
 * one Ethernet frame (1,500-byte MTU minus 28 bytes of IPv4 and UDP headers is 1,472: 73 hashes; 74 is the number
 * the BEP and opentracker use).
 */
export const SCRAPE_MAX_HASHES = 74

// Field offsets of an announce request (BEP 15, "IPv4 announce request"; the IPv6 form is the same).
const A_INFO_HASH = 16
const A_PEER_ID = 36
const A_DOWNLOADED = 56
const A_LEFT = 64
const A_UPLOADED = 72
const A_EVENT = 80
const A_IP = 84
const A_KEY = 88
const A_NUM_WANT = 92
const A_PORT = 96

const TWO_32 = 2 ** 32

/** The fields of an announce request, as the tracker needs them. */
export interface UdpAnnounceFields {
  transactionId: number
  /** 40 lower-case hex. */
  infoHash: string
  /** The 20 bytes as a latin1 string (one character per byte), as the swarms keep it. */
  peerId: string
  downloaded: number
  left: number
  uploaded: number
  /** The raw event number (EVENT_*). */
  event: number
  /** The `IP address` field, unsigned; 0 = the packet's source (the only value a tracker should honour). */
  ip: number
  key: number
  /** Signed: -1 (or any negative) asks for the tracker's default. */
  numWant: number
  port: number
}

export type UdpTrackerRequest =
  | { type: 'connect', transactionId: number }
  | ({ type: 'announce', connectionId: Buffer } & UdpAnnounceFields)
  | { type: 'scrape', connectionId: Buffer, transactionId: number, infoHashes: string[] }

/** One swarm's counts in a scrape reply, in BEP 15's order. */
export interface UdpScrapeEntry {
  seeders: number
  completed: number
  leechers: number
}

export type UdpTrackerReply =
  | { type: 'connect', transactionId: number, connectionId: Buffer }
  | { type: 'announce', transactionId: number, interval: number, leechers: number, seeders: number, peers: PeerAddress[] }
  | { type: 'scrape', transactionId: number, entries: UdpScrapeEntry[] }
  | { type: 'error', transactionId: number, message: string }

function packetError (message: string): ProtocolError {
  return new ProtocolError('ERR_UDP_TRACKER_PACKET', message)
}

/** An unsigned 64-bit field as a number: exact up to 2^53, approximate (but never 0 or negative) above. */
function readUint64 (packet: Uint8Array, offset: number): number {
  const view = packet as Buffer
  return view.readUInt32BE(offset) * TWO_32 + view.readUInt32BE(offset + 4)
}

function writeUint64 (out: Buffer, value: number, offset: number): void {
  out.writeUInt32BE(Math.floor(value / TWO_32) >>> 0, offset)
  out.writeUInt32BE(value % TWO_32, offset + 4)
}

/** Whether a connect request carries BEP 15's protocol id (its first 8 bytes). */
export function hasProtocolId (packet: Buffer): boolean {
  return packet.readUInt32BE(0) === PROTOCOL_ID_HIGH && packet.readUInt32BE(4) === PROTOCOL_ID_LOW
}

/** Reads an announce request into `into` (reused by the tracker). The caller has checked the length (≥ 98). */
export function readAnnounce (packet: Buffer, into: UdpAnnounceFields): void {
  into.transactionId = packet.readUInt32BE(12)
  into.infoHash = packet.toString('hex', A_INFO_HASH, A_INFO_HASH + INFO_HASH_BYTES)
  into.peerId = packet.toString('latin1', A_PEER_ID, A_PEER_ID + 20)
  into.downloaded = readUint64(packet, A_DOWNLOADED)
  into.left = readUint64(packet, A_LEFT)
  into.uploaded = readUint64(packet, A_UPLOADED)
  into.event = packet.readUInt32BE(A_EVENT)
  into.ip = packet.readUInt32BE(A_IP)
  into.key = packet.readUInt32BE(A_KEY)
  into.numWant = packet.readInt32BE(A_NUM_WANT)
  into.port = packet.readUInt16BE(A_PORT)
}

/** A request as an object; throws ProtocolError for a packet no BEP 15 tracker would accept. For tests and tools. */
export function decodeRequest (packet: Buffer): UdpTrackerRequest {
  if (packet.length < CONNECT_REQUEST_BYTES) throw packetError(`request of ${packet.length} bytes (at least ${CONNECT_REQUEST_BYTES})`)
  const action = packet.readUInt32BE(8)
  const transactionId = packet.readUInt32BE(12)
  switch (action) {
    case ACTION_CONNECT:
      if (!hasProtocolId(packet)) throw packetError('connect request without the protocol id')
      return { type: 'connect', transactionId }
    case ACTION_ANNOUNCE: {
      if (packet.length < ANNOUNCE_REQUEST_BYTES) throw packetError(`announce request of ${packet.length} bytes (at least ${ANNOUNCE_REQUEST_BYTES})`)
      const fields = {} as UdpAnnounceFields
      readAnnounce(packet, fields)
      return { type: 'announce', connectionId: Buffer.from(packet.subarray(0, CONNECTION_ID_BYTES)), ...fields }
    }
    case ACTION_SCRAPE: {
      const n = scrapeHashCount(packet.length)
      if (n <= 0) throw packetError(`scrape request of ${packet.length} bytes (16 + 20 per info hash)`)
      const infoHashes: string[] = []
      for (let i = 0; i < n; i++) {
        const o = SCRAPE_REQUEST_HEADER_BYTES + i * INFO_HASH_BYTES
        infoHashes.push(packet.toString('hex', o, o + INFO_HASH_BYTES))
      }
      return { type: 'scrape', connectionId: Buffer.from(packet.subarray(0, CONNECTION_ID_BYTES)), transactionId, infoHashes }
    }
    default:
      throw packetError(`unknown action ${action}`)
  }
}

/** The number of info hashes in a scrape request of `length` bytes, or -1 unless it is 16 + 20n with n ≥ 1. */
export function scrapeHashCount (length: number): number {
  const body = length - SCRAPE_REQUEST_HEADER_BYTES
  if (body < INFO_HASH_BYTES || body % INFO_HASH_BYTES !== 0) return -1
  return body / INFO_HASH_BYTES
}

function header (bytes: number, connectionId: Uint8Array | undefined, action: number, transactionId: number): Buffer {
  const out = Buffer.alloc(bytes)
  if (connectionId === undefined) {
    out.writeUInt32BE(PROTOCOL_ID_HIGH, 0)
    out.writeUInt32BE(PROTOCOL_ID_LOW, 4)
  } else {
    if (connectionId.length !== CONNECTION_ID_BYTES) throw new TypeError(`A connection id is ${CONNECTION_ID_BYTES} bytes (got ${connectionId.length})`)
    out.set(connectionId, 0)
  }
  out.writeUInt32BE(action, 8)
  out.writeUInt32BE(transactionId >>> 0, 12)
  return out
}

/** The bytes of a request. An announce's `infoHash` is 40 hex, its `peerId` 20 bytes as latin1. */
export function encodeRequest (request: UdpTrackerRequest): Buffer {
  switch (request.type) {
    case 'connect':
      return header(CONNECT_REQUEST_BYTES, undefined, ACTION_CONNECT, request.transactionId)
    case 'announce': {
      const out = header(ANNOUNCE_REQUEST_BYTES, request.connectionId, ACTION_ANNOUNCE, request.transactionId)
      if (out.write(request.infoHash, A_INFO_HASH, 'hex') !== INFO_HASH_BYTES) throw new TypeError('An info hash is 40 hexadecimal characters')
      if (request.peerId.length !== 20) throw new TypeError('A peer id is 20 bytes')
      out.write(request.peerId, A_PEER_ID, 'latin1')
      writeUint64(out, request.downloaded, A_DOWNLOADED)
      writeUint64(out, request.left, A_LEFT)
      writeUint64(out, request.uploaded, A_UPLOADED)
      out.writeUInt32BE(request.event >>> 0, A_EVENT)
      out.writeUInt32BE(request.ip >>> 0, A_IP)
      out.writeUInt32BE(request.key >>> 0, A_KEY)
      out.writeInt32BE(request.numWant | 0, A_NUM_WANT)
      out.writeUInt16BE(request.port, A_PORT)
      return out
    }
    case 'scrape': {
      const n = request.infoHashes.length
      const out = header(SCRAPE_REQUEST_HEADER_BYTES + n * INFO_HASH_BYTES, request.connectionId, ACTION_SCRAPE, request.transactionId)
      for (let i = 0; i < n; i++) {
        const o = SCRAPE_REQUEST_HEADER_BYTES + i * INFO_HASH_BYTES
        if (out.write(request.infoHashes[i] as string, o, 'hex') !== INFO_HASH_BYTES) throw new TypeError('An info hash is 40 hexadecimal characters')
      }
      return out
    }
  }
}

/** Writes a connect reply (16 bytes) at the start of `out`; the connection id is written by the caller at 8. */
export function writeConnectReplyHeader (out: Buffer, transactionId: number): void {
  out.writeUInt32BE(ACTION_CONNECT, 0)
  out.writeUInt32BE(transactionId, 4)
}

/** Writes an announce reply's 20-byte header at the start of `out`; the peers follow at 20. */
export function writeAnnounceReplyHeader (out: Buffer, transactionId: number, interval: number, leechers: number, seeders: number): void {
  out.writeUInt32BE(ACTION_ANNOUNCE, 0)
  out.writeUInt32BE(transactionId, 4)
  out.writeUInt32BE(interval, 8)
  out.writeUInt32BE(leechers, 12)
  out.writeUInt32BE(seeders, 16)
}

/** Writes a scrape reply's 8-byte header at the start of `out`. */
export function writeScrapeReplyHeader (out: Buffer, transactionId: number): void {
  out.writeUInt32BE(ACTION_SCRAPE, 0)
  out.writeUInt32BE(transactionId, 4)
}

/** Writes the counts of the `index`-th info hash of a scrape reply (seeders, completed, leechers). */
export function writeScrapeEntry (out: Buffer, index: number, seeders: number, completed: number, leechers: number): void {
  const o = SCRAPE_REPLY_HEADER_BYTES + index * SCRAPE_ENTRY_BYTES
  out.writeUInt32BE(seeders, o)
  out.writeUInt32BE(completed, o + 4)
  out.writeUInt32BE(leechers, o + 8)
}

/** An error reply: action 3, the transaction id, the message as UTF-8 (no terminator, as opentracker and libtorrent). */
export function encodeErrorReply (transactionId: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8')
  const out = Buffer.allocUnsafe(ERROR_REPLY_HEADER_BYTES + text.length)
  out.writeUInt32BE(ACTION_ERROR, 0)
  out.writeUInt32BE(transactionId >>> 0, 4)
  text.copy(out, ERROR_REPLY_HEADER_BYTES)
  return out
}

/**
 * The bytes of a reply. `ipv6` chooses the announce reply's peer form (BEP 15: the family of the packet's address);
 * peers of the other family are left out.
 */
export function encodeReply (reply: UdpTrackerReply, ipv6 = false): Buffer {
  switch (reply.type) {
    case 'connect': {
      const out = Buffer.alloc(CONNECT_REPLY_BYTES)
      writeConnectReplyHeader(out, reply.transactionId >>> 0)
      if (reply.connectionId.length !== CONNECTION_ID_BYTES) throw new TypeError(`A connection id is ${CONNECTION_ID_BYTES} bytes`)
      out.set(reply.connectionId, 8)
      return out
    }
    case 'announce': {
      const stride = ipv6 ? COMPACT_PEER6_BYTES : COMPACT_PEER_BYTES
      const peers = reply.peers.filter((p) => (parseIPv4(p.ip) < 0) === ipv6)
      const out = Buffer.alloc(ANNOUNCE_REPLY_HEADER_BYTES + peers.length * stride)
      writeAnnounceReplyHeader(out, reply.transactionId >>> 0, reply.interval, reply.leechers, reply.seeders)
      let o = ANNOUNCE_REPLY_HEADER_BYTES
      for (const p of peers) {
        if (ipv6) {
          if (!parseIPv6(p.ip, out, o)) throw new TypeError(`Not an IPv6 address: ${p.ip}`)
        } else {
          const v4 = parseIPv4(p.ip)
          if (v4 < 0) throw new TypeError(`Not an IPv4 address: ${p.ip}`)
          out.writeUInt32BE(v4, o)
        }
        out.writeUInt16BE(p.port, o + stride - 2)
        o += stride
      }
      return out
    }
    case 'scrape': {
      const out = Buffer.alloc(SCRAPE_REPLY_HEADER_BYTES + reply.entries.length * SCRAPE_ENTRY_BYTES)
      writeScrapeReplyHeader(out, reply.transactionId >>> 0)
      reply.entries.forEach((e, i) => { writeScrapeEntry(out, i, e.seeders, e.completed, e.leechers) })
      return out
    }
    case 'error':
      return encodeErrorReply(reply.transactionId, reply.message)
  }
}

/** Longest error message a client keeps: a tracker's text is one line for a human, not a payload. */
export const MAX_ERROR_MESSAGE_BYTES = 1024

export interface DecodeReplyOptions {
  /** The tracker's address is IPv6: announce peers are 18 bytes each (BEP 15), else 6. */
  ipv6: boolean
  /** Peers taken from an announce reply at most (the rest are ignored). */
  maxPeers: number
}

/**
 * A reply as an object; throws ProtocolError for one that breaks BEP 15's layout (too short for its action, peers
 * that are not a whole number of entries, an unknown action). An error reply's message is decoded as UTF-8, cut at
 * MAX_ERROR_MESSAGE_BYTES, control characters turned into spaces.
 */
export function decodeReply (packet: Buffer, options: DecodeReplyOptions): UdpTrackerReply {
  if (packet.length < 8) throw packetError(`reply of ${packet.length} bytes (at least 8)`)
  const action = packet.readUInt32BE(0)
  const transactionId = packet.readUInt32BE(4)
  switch (action) {
    case ACTION_CONNECT:
      if (packet.length < CONNECT_REPLY_BYTES) throw packetError(`connect reply of ${packet.length} bytes (at least ${CONNECT_REPLY_BYTES})`)
      return { type: 'connect', transactionId, connectionId: Buffer.from(packet.subarray(8, 16)) }
    case ACTION_ANNOUNCE: {
      if (packet.length < ANNOUNCE_REPLY_HEADER_BYTES) throw packetError(`announce reply of ${packet.length} bytes (at least ${ANNOUNCE_REPLY_HEADER_BYTES})`)
      const stride = options.ipv6 ? COMPACT_PEER6_BYTES : COMPACT_PEER_BYTES
      const body = packet.length - ANNOUNCE_REPLY_HEADER_BYTES
      if (body % stride !== 0) throw packetError(`announce reply with ${body} bytes of peers, not a multiple of ${stride}`)
      const count = Math.min(body / stride, options.maxPeers)
      const peers: PeerAddress[] = []
      for (let i = 0, o = ANNOUNCE_REPLY_HEADER_BYTES; i < count; i++, o += stride) {
        const ip = options.ipv6 ? formatIPv6(packet, o) : `${packet[o]}.${packet[o + 1]}.${packet[o + 2]}.${packet[o + 3]}`
        peers.push({ ip, port: packet.readUInt16BE(o + stride - 2) })
      }
      return {
        type: 'announce',
        transactionId,
        interval: packet.readUInt32BE(8),
        leechers: packet.readUInt32BE(12),
        seeders: packet.readUInt32BE(16),
        peers
      }
    }
    case ACTION_SCRAPE: {
      const count = Math.floor((packet.length - SCRAPE_REPLY_HEADER_BYTES) / SCRAPE_ENTRY_BYTES)
      const entries: UdpScrapeEntry[] = []
      for (let i = 0, o = SCRAPE_REPLY_HEADER_BYTES; i < count; i++, o += SCRAPE_ENTRY_BYTES) {
        entries.push({ seeders: packet.readUInt32BE(o), completed: packet.readUInt32BE(o + 4), leechers: packet.readUInt32BE(o + 8) })
      }
      return { type: 'scrape', transactionId, entries }
    }
    case ACTION_ERROR: {
      const end = Math.min(packet.length, ERROR_REPLY_HEADER_BYTES + MAX_ERROR_MESSAGE_BYTES)
      // eslint-disable-next-line no-control-regex
      const message = packet.toString('utf8', ERROR_REPLY_HEADER_BYTES, end).replace(/[\x00-\x1f\x7f]+/g, ' ').trim()
      return { type: 'error', transactionId, message }
    }
    default:
      throw packetError(`reply with unknown action ${action}`)
  }
}
