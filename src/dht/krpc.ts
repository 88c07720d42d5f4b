/**
 * KRPC (BEP 5) messages as a discriminated union, encoded and decoded here and nowhere else, with the BEP 32
 * (IPv6: `nodes6`, `want`, 18-byte values), BEP 42 (`ip` in replies) and BEP 43 (`ro`) fields.
 *
 * Decoding never throws: it answers `{ ok: false }` with a reason, and with `errorCode` (BEP 5: 203 protocol error,
 * 204 method unknown) when the packet was a query whose transaction id we can echo — the only case where BEP 5 wants
 * an error reply. Unknown keys are ignored everywhere (forward compatibility); wrong types, oversize values and
 * lists longer than we read are refused or cut to their bound, each named in constants.ts.
 */
import { bdecode, bencode, isBDict, type BDict, type BEncodable, type BValue } from '../content/bencode.js'
import { formatIPv6, parseIPv4, parseIPv6, type PeerAddress } from '../discovery/compact.js'
import {
  DHT_CLIENT_VERSION, DHT_ID_BYTES, DHT_MAX_NODES_PER_REPLY, DHT_MAX_PACKET_BYTES, DHT_MAX_TID_BYTES,
  DHT_MAX_TOKEN_BYTES, DHT_MAX_VALUES_READ
} from './constants.js'
import type { NodeId } from './node-id.js'

export type { PeerAddress }

/** A DHT node: its id and UDP endpoint. */
export interface Contact {
  id: NodeId
  host: string
  port: number
}

/** BEP 32 `want`: which node lists a find_node or get_peers reply should carry. */
export type Want = 'n4' | 'n6'

interface QueryCommon {
  y: 'q'
  t: Buffer
  /** The querying node's id (BEP 5: every query has one). */
  id: NodeId
  /** BEP 43: a read-only node (it must not be added to routing tables). */
  ro?: boolean
  /** The sender's client version, when given. */
  v?: Buffer
}

export interface PingQuery extends QueryCommon { q: 'ping' }
export interface FindNodeQuery extends QueryCommon { q: 'find_node', target: NodeId, want?: Want[] }
export interface GetPeersQuery extends QueryCommon { q: 'get_peers', infoHash: Buffer, want?: Want[] }
export interface AnnouncePeerQuery extends QueryCommon {
  q: 'announce_peer'
  infoHash: Buffer
  /** The TCP port announced; ignored when `impliedPort` (then the packet's source port is the peer's port). */
  port: number
  impliedPort: boolean
  token: Buffer
}
export type KrpcQuery = PingQuery | FindNodeQuery | GetPeersQuery | AnnouncePeerQuery
export type QueryMethod = KrpcQuery['q']

export interface KrpcResponse {
  y: 'r'
  t: Buffer
  id: NodeId
  nodes?: Contact[]
  nodes6?: Contact[]
  values?: PeerAddress[]
  token?: Buffer
  /** BEP 42: the address the responder saw us at. */
  ip?: PeerAddress
  v?: Buffer
}

export interface KrpcError {
  y: 'e'
  t: Buffer
  code: number
  message: string
  v?: Buffer
}

export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcError

/** BEP 5 error codes. */
export const KRPC_GENERIC_ERROR = 201
export const KRPC_SERVER_ERROR = 202
export const KRPC_PROTOCOL_ERROR = 203
export const KRPC_METHOD_UNKNOWN = 204

export type DecodeResult =
  | { ok: true, message: KrpcMessage }
  | {
    ok: false
    reason: string
    /** The transaction id, when the packet had a usable one. */
    t?: Buffer
    /** The message type, when the packet had one. */
    y?: 'q' | 'r' | 'e'
    /** Set when BEP 5 wants an error reply (a query whose `t` we can echo). */
    errorCode?: typeof KRPC_PROTOCOL_ERROR | typeof KRPC_METHOD_UNKNOWN
  }

/** Compact node info (BEP 5): 20-byte id, 4-byte IPv4, 2-byte port; BEP 32 `nodes6`: 20 + 16 + 2. */
export const COMPACT_NODE_BYTES = 26
export const COMPACT_NODE6_BYTES = 38

const METHODS: ReadonlySet<string> = new Set(['ping', 'find_node', 'get_peers', 'announce_peer'])

function copy (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes)
}

function bytesOf (d: BDict, key: string): Uint8Array | undefined {
  const v = d[key]
  return v instanceof Uint8Array ? v : undefined
}

function latin1 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** The address and port of a 6- or 18-byte compact peer at `offset`. */
function readPeer (bytes: Uint8Array, offset: number, length: 6 | 18): PeerAddress {
  const ip = length === 6
    ? `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`
    : formatIPv6(bytes, offset)
  const p = offset + length - 2
  return { ip, port: ((bytes[p] as number) << 8) | (bytes[p + 1] as number) }
}

/** Contacts of a compact `nodes` (IPv4) or `nodes6` string; undefined when its length is no multiple of the entry size. */
export function decodeNodes (bytes: Uint8Array, family: 4 | 6, max = DHT_MAX_NODES_PER_REPLY): Contact[] | undefined {
  const size = family === 4 ? COMPACT_NODE_BYTES : COMPACT_NODE6_BYTES
  if (bytes.length % size !== 0) return undefined
  const out: Contact[] = []
  for (let o = 0; o < bytes.length && out.length < max; o += size) {
    const { ip, port } = readPeer(bytes, o + DHT_ID_BYTES, family === 4 ? 6 : 18)
    if (port === 0) continue // unreachable: skip the entry, keep the rest
    out.push({ id: copy(bytes.subarray(o, o + DHT_ID_BYTES)), host: ip, port })
  }
  return out
}

/** The compact string of the contacts of one family (the others are left out). */
export function encodeNodes (contacts: readonly Contact[], family: 4 | 6): Buffer {
  const parts: Buffer[] = []
  for (const c of contacts) {
    const peer = encodePeer(c.host, c.port)
    if (peer === undefined || (peer.length === 6) !== (family === 4)) continue
    parts.push(Buffer.from(c.id), peer)
  }
  return Buffer.concat(parts)
}

/** A compact peer (6 bytes IPv4, 18 IPv6; an IPv4-mapped IPv6 address as IPv4); undefined for no IP literal or bad port. */
export function encodePeer (ip: string, port: number): Buffer | undefined {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined
  const v4 = parseIPv4(ip)
  if (v4 >= 0) {
    const out = Buffer.alloc(6)
    out.writeUInt32BE(v4)
    out.writeUInt16BE(port, 4)
    return out
  }
  const out = Buffer.alloc(18)
  if (!parseIPv6(ip, out)) return undefined
  if (out.readUInt32BE(0) === 0 && out.readUInt32BE(4) === 0 && out.readUInt32BE(8) === 0xffff) {
    const mapped = Buffer.alloc(6)
    out.copy(mapped, 0, 12, 16)
    mapped.writeUInt16BE(port, 4)
    return mapped
  }
  out.writeUInt16BE(port, 16)
  return out
}

export function decodePeer (bytes: Uint8Array): PeerAddress | undefined {
  if (bytes.length !== 6 && bytes.length !== 18) return undefined
  return readPeer(bytes, 0, bytes.length)
}

function decodeWant (value: BValue | undefined): Want[] | undefined {
  if (!Array.isArray(value)) return undefined
  const out: Want[] = []
  for (const item of value.slice(0, 8)) { // BEP 32: unknown strings are silently ignored
    if (!(item instanceof Uint8Array) || item.length !== 2) continue
    const s = latin1(item)
    if ((s === 'n4' || s === 'n6') && !out.includes(s)) out.push(s)
  }
  return out
}

/** Decode one datagram. Never throws. */
export function decodeMessage (packet: Uint8Array): DecodeResult {
  if (packet.length > DHT_MAX_PACKET_BYTES) return { ok: false, reason: `packet of ${packet.length} bytes` }
  let value: BValue
  try {
    value = bdecode(packet).value
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  }
  if (!isBDict(value)) return { ok: false, reason: 'not a dictionary' }
  const tBytes = bytesOf(value, 't')
  if (tBytes === undefined || tBytes.length === 0 || tBytes.length > DHT_MAX_TID_BYTES) return { ok: false, reason: 'bad transaction id' }
  const t = copy(tBytes)
  const yBytes = bytesOf(value, 'y')
  const y = yBytes !== undefined && yBytes.length === 1 ? latin1(yBytes) : undefined
  const vBytes = bytesOf(value, 'v')
  const v = vBytes !== undefined && vBytes.length <= 16 ? { v: copy(vBytes) } : {}
  if (y === 'q') return decodeQuery(value, t, v)
  if (y === 'r') return decodeResponse(value, t, v)
  if (y === 'e') return decodeError(value, t, v)
  return { ok: false, reason: 'bad message type', t }
}

function decodeQuery (msg: BDict, t: Buffer, v: { v?: Buffer }): DecodeResult {
  const bad = (reason: string): DecodeResult => ({ ok: false, reason, t, y: 'q', errorCode: KRPC_PROTOCOL_ERROR })
  const qBytes = bytesOf(msg, 'q')
  if (qBytes === undefined || qBytes.length > 64) return bad('bad method name')
  const q = latin1(qBytes)
  if (!METHODS.has(q)) return { ok: false, reason: `unknown method "${q.slice(0, 32)}"`, t, y: 'q', errorCode: KRPC_METHOD_UNKNOWN }
  const a = msg.a
  if (!isBDict(a)) return bad('no arguments')
  const id = bytesOf(a, 'id')
  if (id === undefined || id.length !== DHT_ID_BYTES) return bad('bad node id')
  const ro = typeof msg.ro === 'number' && msg.ro !== 0 ? { ro: true } : {}
  const common = { y: 'q' as const, t, id: copy(id), ...ro, ...v }
  switch (q) {
    case 'ping':
      return { ok: true, message: { ...common, q } }
    case 'find_node': {
      const target = bytesOf(a, 'target')
      if (target === undefined || target.length !== DHT_ID_BYTES) return bad('bad target')
      const want = decodeWant(a.want)
      return { ok: true, message: { ...common, q, target: copy(target), ...(want === undefined ? {} : { want }) } }
    }
    case 'get_peers': {
      const infoHash = bytesOf(a, 'info_hash')
      if (infoHash === undefined || infoHash.length !== DHT_ID_BYTES) return bad('bad info_hash')
      const want = decodeWant(a.want)
      return { ok: true, message: { ...common, q, infoHash: copy(infoHash), ...(want === undefined ? {} : { want }) } }
    }
    default: { // announce_peer
      const infoHash = bytesOf(a, 'info_hash')
      if (infoHash === undefined || infoHash.length !== DHT_ID_BYTES) return bad('bad info_hash')
      const token = bytesOf(a, 'token')
      if (token === undefined || token.length === 0 || token.length > DHT_MAX_TOKEN_BYTES) return bad('bad token')
      const implied = a.implied_port
      if (implied !== undefined && typeof implied !== 'number') return bad('bad implied_port')
      const impliedPort = implied !== undefined && implied !== 0
      const port = a.port
      if (port === undefined ? !impliedPort : (typeof port !== 'number' || port < 0 || port > 65535)) return bad('bad port')
      return { ok: true, message: { ...common, q: 'announce_peer', infoHash: copy(infoHash), port: typeof port === 'number' ? port : 0, impliedPort, token: copy(token) } }
    }
  }
}

function decodeResponse (msg: BDict, t: Buffer, v: { v?: Buffer }): DecodeResult {
  const bad = (reason: string): DecodeResult => ({ ok: false, reason, t, y: 'r' })
  const r = msg.r
  if (!isBDict(r)) return bad('no reply dictionary')
  const id = bytesOf(r, 'id')
  if (id === undefined || id.length !== DHT_ID_BYTES) return bad('bad node id')
  const out: KrpcResponse = { y: 'r', t, id: copy(id), ...v }
  if (r.nodes !== undefined) {
    const raw = bytesOf(r, 'nodes')
    const nodes = raw === undefined ? undefined : decodeNodes(raw, 4)
    if (nodes === undefined) return bad('bad nodes')
    out.nodes = nodes
  }
  if (r.nodes6 !== undefined) {
    const raw = bytesOf(r, 'nodes6')
    const nodes6 = raw === undefined ? undefined : decodeNodes(raw, 6)
    if (nodes6 === undefined) return bad('bad nodes6')
    out.nodes6 = nodes6
  }
  if (r.values !== undefined) {
    if (!Array.isArray(r.values)) return bad('bad values')
    const values: PeerAddress[] = []
    // BEP 32: a hybrid list of 6- and 18-byte entries is legal; entries of other sizes are skipped.
    for (const item of r.values) {
      if (values.length >= DHT_MAX_VALUES_READ) break
      if (!(item instanceof Uint8Array)) continue
      const peer = decodePeer(item)
      if (peer !== undefined && peer.port !== 0) values.push(peer)
    }
    out.values = values
  }
  if (r.token !== undefined) {
    const token = bytesOf(r, 'token')
    if (token === undefined || token.length === 0 || token.length > DHT_MAX_TOKEN_BYTES) return bad('bad token')
    out.token = copy(token)
  }
  const ip = bytesOf(msg, 'ip')
  const seen = ip === undefined ? undefined : decodePeer(ip)
  if (seen !== undefined) out.ip = seen
  return { ok: true, message: out }
}

function decodeError (msg: BDict, t: Buffer, v: { v?: Buffer }): DecodeResult {
  const e = msg.e
  if (!Array.isArray(e)) return { ok: false, reason: 'bad error list', t, y: 'e' }
  const code = typeof e[0] === 'number' ? e[0] : KRPC_GENERIC_ERROR
  const text = e[1] instanceof Uint8Array ? Buffer.from(e[1].subarray(0, 200)).toString('utf8') : ''
  return { ok: true, message: { y: 'e', t, code, message: text, ...v } }
}

export interface EncodeOptions {
  /** Our `v`; default DHT_CLIENT_VERSION; null leaves it out. */
  version?: Uint8Array | null
}

/** The bencoded datagram of a message. `nodes`/`nodes6` are written from contacts of the matching family only. */
export function encodeMessage (message: KrpcMessage, options: EncodeOptions = {}): Buffer {
  const v = message.v ?? (options.version === null ? undefined : options.version ?? DHT_CLIENT_VERSION)
  if (message.y === 'q') {
    const a: Record<string, BEncodable | undefined> = { id: message.id }
    switch (message.q) {
      case 'ping': break
      case 'find_node':
        a.target = message.target
        if (message.want !== undefined) a.want = message.want
        break
      case 'get_peers':
        a.info_hash = message.infoHash
        if (message.want !== undefined) a.want = message.want
        break
      case 'announce_peer':
        a.info_hash = message.infoHash
        a.port = message.port
        a.token = message.token
        if (message.impliedPort) a.implied_port = 1
        break
    }
    return bencode({ t: message.t, y: 'q', q: message.q, a, v, ro: message.ro === true ? 1 : undefined })
  }
  if (message.y === 'r') {
    const r: Record<string, BEncodable | undefined> = { id: message.id }
    if (message.nodes !== undefined) r.nodes = encodeNodes(message.nodes, 4)
    if (message.nodes6 !== undefined) r.nodes6 = encodeNodes(message.nodes6, 6)
    if (message.values !== undefined) {
      const values: Buffer[] = []
      for (const p of message.values) {
        const b = encodePeer(p.ip, p.port)
        if (b !== undefined) values.push(b)
      }
      r.values = values
    }
    if (message.token !== undefined) r.token = message.token
    const ip = message.ip === undefined ? undefined : encodePeer(message.ip.ip, message.ip.port)
    return bencode({ t: message.t, y: 'r', r, ip, v })
  }
  return bencode({ t: message.t, y: 'e', e: [message.code, message.message], v })
}
