/**
 * BEP 11 peer exchange (`ut_pex`) as an extension: every connected peer that speaks it is told, at most once a
 * minute, which peers we are connected to now (`added`, with flags) and which of those it was told of have gone
 * (`dropped`); what peers tell us becomes candidates tagged `pex`. A private torrent (BEP 27) has no PEX: its
 * registry never holds this extension.
 *
 * Bounded both ways. Sent: at most MAX_PEX_INITIAL contacts in a peer's first message and MAX_PEX_CHANGES added and
 * dropped in each later one (BEP 11: 50). Received: a message larger than MAX_PEX_MESSAGE_BYTES, or sooner than
 * MIN_PEX_GAP_MS after the peer's last, is ignored; of one message at most MAX_PEX_ACCEPTED contacts are taken, one
 * per IP address (BEP 11's advice against a single source filling the list; loopback addresses, where peers differ
 * by port only, excepted), each a routable unicast address with a non-zero port. Malformed bencode or compact
 * strings of the wrong length cost the connection (a ProtocolError), as a bad ut_metadata message does.
 */
import { isIP } from 'node:net'
import { bdecode, bencode, bget, isBDict } from '../content/index.js'
import { decodeCompactPeers, decodeCompactPeers6, encodeCompactPeers, type PeerAddress } from '../discovery/compact.js'
import { ProtocolError } from '../errors.js'
import type { ExtendedHandshake } from '../wire/index.js'
import { isLocalHost } from './candidates.js'
import type { ExtensionPeer, PeerExtension } from './extensions.js'

export const UT_PEX = 'ut_pex'
/** BEP 11: no more than one message a minute to a peer. */
export const PEX_INTERVAL_MS = 60_000
/** The first message goes this soon after the handshakes, once there is anyone to tell of. */
export const PEX_FIRST_DELAY_MS = 5_000
export const MAX_PEX_INITIAL = 200
export const MAX_PEX_CHANGES = 50
export const MAX_PEX_MESSAGE_BYTES = 16 * 1024
/** A peer's messages closer together than this are ignored (BEP 11 says a minute; some slack for timers). */
export const MIN_PEX_GAP_MS = 45_000
export const MAX_PEX_ACCEPTED = 50

/** BEP 11 flags. */
export const PEX_SEED = 0x02
export const PEX_REACHABLE = 0x10

/** A peer we are connected to, as others could dial it. */
export interface PexContact {
  /** `host:port` of its listening address (candidates.ts peerKey). */
  key: string
  host: string
  port: number
  flags: number
  /** The connection's own id (ExtensionPeer.id): a peer is not told of itself. */
  connection: string
}

export interface PexMessage {
  added: Array<PeerAddress & { flags: number }>
  dropped: PeerAddress[]
}

export function encodePexMessage (message: { added: ReadonlyArray<Omit<PexContact, 'connection' | 'key'>>, dropped: ReadonlyArray<Omit<PexContact, 'connection' | 'key' | 'flags'>> }): Buffer {
  const v4 = (c: { host: string }): boolean => isIP(c.host) === 4
  const added4 = message.added.filter(v4)
  const added6 = message.added.filter(c => !v4(c))
  const added = encodeCompactPeers(message.added.map(c => ({ ip: c.host, port: c.port })))
  const dropped = encodeCompactPeers(message.dropped.map(c => ({ ip: c.host, port: c.port })))
  return bencode({
    added: added.peers,
    'added.f': Buffer.from(added4.map(c => c.flags)),
    added6: added.peers6,
    'added6.f': Buffer.from(added6.map(c => c.flags)),
    dropped: dropped.peers,
    dropped6: dropped.peers6
  })
}

/** A ut_pex payload; throws ProtocolError when it is no dictionary or a compact string has the wrong length. */
export function decodePexMessage (payload: Uint8Array): PexMessage {
  let value
  try {
    value = bdecode(payload, { strict: false }).value
  } catch (err) {
    throw new ProtocolError('ERR_BAD_PEX', `ut_pex message: ${(err as Error).message}`)
  }
  if (!isBDict(value)) throw new ProtocolError('ERR_BAD_PEX', 'ut_pex message is not a dictionary')
  const peers = (key: string, six: boolean): PeerAddress[] => {
    const bytes = bget.bytes(value, key)
    if (bytes === undefined) return []
    const out = six ? decodeCompactPeers6(bytes) : decodeCompactPeers(bytes)
    if (out === undefined) throw new ProtocolError('ERR_BAD_PEX', `ut_pex ${key} is not a whole number of ${six ? 18 : 6}-byte contacts`)
    return out
  }
  const withFlags = (list: PeerAddress[], key: string): Array<PeerAddress & { flags: number }> => {
    const flags = bget.bytes(value, key)
    return list.map((p, i) => ({ ...p, flags: flags?.[i] ?? 0 }))
  }
  return {
    added: [...withFlags(peers('added', false), 'added.f'), ...withFlags(peers('added6', true), 'added6.f')],
    dropped: [...peers('dropped', false), ...peers('dropped6', true)]
  }
}

/** An address worth dialling: unicast, not unspecified, not multicast or broadcast, with a port. */
function dialable (p: PeerAddress): boolean {
  if (!Number.isInteger(p.port) || p.port <= 0 || p.port > 65535) return false
  if (isIP(p.ip) === 4) {
    const first = Number(p.ip.split('.')[0])
    return p.ip !== '0.0.0.0' && p.ip !== '255.255.255.255' && !(first >= 224 && first <= 239)
  }
  return isIP(p.ip) === 6 && p.ip !== '::' && !p.ip.toLowerCase().startsWith('ff')
}

export interface UtPexOptions {
  /** The peers we are connected to now, as others could dial them (their listening address and flags). */
  contacts: () => Iterable<PexContact>
  /** Contacts a peer told us of (already bounded and filtered), to become candidates. */
  onPeers: (peers: Array<{ host: string, port: number }>, from: ExtensionPeer) => void
  now?: () => number
  onLog?: (message: string) => void
}

interface PeerState {
  /** What this peer was told is connected, and not since dropped. */
  readonly told: Map<string, PexContact>
  sentAny: boolean
  nextSend: number
  lastReceived: number
  ignored: number
}

export class UtPex implements PeerExtension {
  readonly name = UT_PEX
  readonly #o: UtPexOptions
  readonly #now: () => number
  readonly #peers = new Map<ExtensionPeer, PeerState>()
  /** The listening port each peer's extended handshake gave (`p`): how an inbound peer can be dialled. */
  readonly #listenPorts = new WeakMap<ExtensionPeer, number>()

  constructor (options: UtPexOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** The peer's listening port, from its extended handshake (undefined when it gave none). */
  listenPortOf (peer: ExtensionPeer): number | undefined {
    return this.#listenPorts.get(peer)
  }

  onHandshake (peer: ExtensionPeer, remote: ExtendedHandshake): void {
    const p = remote.p
    if (p !== undefined && Number.isInteger(p) && p > 0 && p <= 65535) this.#listenPorts.set(peer, p)
    if ((peer.extensions[UT_PEX] ?? 0) === 0) { this.#peers.delete(peer); return }
    if (!this.#peers.has(peer)) this.#peers.set(peer, { told: new Map(), sentAny: false, nextSend: this.#now() + PEX_FIRST_DELAY_MS, lastReceived: -Infinity, ignored: 0 })
  }

  onMessage (peer: ExtensionPeer, payload: Uint8Array): void {
    const state = this.#peers.get(peer)
    const now = this.#now()
    if (state !== undefined) {
      if (payload.length > MAX_PEX_MESSAGE_BYTES || now - state.lastReceived < MIN_PEX_GAP_MS) {
        if (state.ignored++ === 0) this.#o.onLog?.(`${peer.id}: ut_pex message ignored (${payload.length > MAX_PEX_MESSAGE_BYTES ? `${payload.length} bytes` : 'less than a minute after its last'})`)
        return
      }
      state.lastReceived = now
    } else if (payload.length > MAX_PEX_MESSAGE_BYTES) {
      return
    }
    const message = decodePexMessage(payload)
    const seenIps = new Set<string>()
    const accepted: Array<{ host: string, port: number }> = []
    for (const p of message.added) {
      if (accepted.length >= MAX_PEX_ACCEPTED) break
      if (!dialable(p)) continue
      if (!isLocalHost(p.ip)) {
        if (seenIps.has(p.ip)) continue
        seenIps.add(p.ip)
      }
      accepted.push({ host: p.ip, port: p.port })
    }
    if (accepted.length > 0) this.#o.onPeers(accepted, peer)
  }

  onClose (peer: ExtensionPeer): void {
    this.#peers.delete(peer)
  }

  /** Send what each peer is due (from the transfer's tick): changes since its last message, at most once a minute. */
  tick (): void {
    if (this.#peers.size === 0) return
    const now = this.#now()
    let current: Map<string, PexContact> | undefined
    for (const [peer, state] of this.#peers) {
      if (now < state.nextSend || !peer.hasRoom()) continue
      current ??= new Map([...this.#o.contacts()].map(c => [c.key, c]))
      const added: PexContact[] = []
      for (const [key, c] of current) {
        if (added.length >= (state.sentAny ? MAX_PEX_CHANGES : MAX_PEX_INITIAL)) break
        if (c.connection !== peer.id && !state.told.has(key)) added.push(c)
      }
      const dropped: PexContact[] = []
      for (const [key, c] of state.told) {
        if (dropped.length >= MAX_PEX_CHANGES) break
        if (!current.has(key)) dropped.push(c)
      }
      // Nothing to say: asked again at the next tick, so a new peer is told of soon after it comes.
      if (added.length === 0 && dropped.length === 0) continue
      if (!peer.sendExtended(UT_PEX, encodePexMessage({ added, dropped }))) { this.#peers.delete(peer); continue }
      for (const c of added) state.told.set(c.key, c)
      for (const c of dropped) state.told.delete(c.key)
      state.sentAny = true
      state.nextSend = now + PEX_INTERVAL_MS
    }
  }
}
