/**
 * A torrent's connections before its metadata (a magnet): its candidates are dialled and the peers that connect to us
 * for its info hash accepted, as they will be once it downloads; over them ut_metadata (BEP 9) fetches the info
 * dictionary. What each peer says meanwhile (its bitfield, haves, choke and interest, its extended handshake) is kept,
 * and when the metadata has come every open connection is handed over, live, to the Transfer (`Transfer.adopt`),
 * which replays it: no connection is made twice. Bounded like a transfer: connections (MAX_PEERS_PER_TRANSFER),
 * deadlines per phase (connect, handshake, idle), and what a peer may make us keep before we know the piece count.
 */
import type { Socket } from 'node:net'
import { encode, encodeExtendedHandshake, EXTENDED_HANDSHAKE_ID, PeerWire, tcpTransport, type Handshake, type Message, type MovedSocket, type PeerWireHandler, type Transport, decodeExtendedHandshake } from '../wire/index.js'
import { CandidateList, isLocalHost, peerKey, type PeerSource } from './candidates.js'
import { ExtensionRegistry, type ExtensionPeer } from './extensions.js'
import { UtMetadata } from './ut-metadata.js'

/** Connections at once (as a transfer's). */
const MAX_CONNECTIONS = 80
const CONNECT_TIMEOUT_MS = 10_000
/**
 * A bitfield sent before we know the piece count is kept up to this (two million pieces: 512 GiB of 256 KiB
 * pieces); a larger one costs the connection. 80 connections hold at most 20 MiB of them.
 */
export const MAX_EARLY_BITFIELD_BYTES = 256 * 1024
/** Haves a peer may send before the metadata (one per piece it gets meanwhile); past it, the connection closes. */
export const MAX_EARLY_HAVES = 100_000

/** What a peer told us before the metadata, replayed to its PeerSession after the hand-over. */
export interface EarlyState {
  extendedHandshake: Message | undefined
  /** The last of bitfield / haveAll / haveNone. */
  announce: Message | undefined
  haves: number[]
  unchoked: boolean
  interested: boolean
}

/** A live connection handed to a Transfer. */
export interface AdoptedWire {
  wire: PeerWire
  host: string
  port: number
  early: EarlyState
  /** Point the wire's events at the new owner. */
  retarget: (handler: PeerWireHandler) => void
  /** Where the socket's reads go from now on (the transfer charges its download limit there). */
  setReader: (reader: (data: Uint8Array) => void) => void
  /** The candidate key it was dialled as (outbound only). */
  dialKey: string | undefined
}

export interface MetadataSwarmOptions {
  infoHash: Buffer
  peerId: Buffer
  listenPort: number
  candidates?: CandidateList
  transport?: Transport
  now?: () => number
  /** The info dictionary, its SHA-1 checked against the info hash. */
  onMetadata: (raw: Buffer) => void
  onLog?: (message: string) => void
}

interface Conn {
  wire: PeerWire
  host: string
  port: number
  key: string
  dialKey: string | undefined
  early: EarlyState
  target: PeerWireHandler
  reader: (data: Uint8Array) => void
  peer: EarlyPeer | undefined
}

/** The extension side of a connection before its PeerSession exists. */
class EarlyPeer implements ExtensionPeer {
  readonly id: string
  extensions: Record<string, number> = {}
  readonly #wire: PeerWire

  constructor (id: string, wire: PeerWire) {
    this.id = id
    this.#wire = wire
  }

  sendExtended (name: string, payload: Uint8Array): boolean {
    const id = this.extensions[name]
    if (id === undefined || id === 0) return false
    this.#wire.write(encode.extended(id, payload))
    return true
  }

  hasRoom (): boolean {
    return this.#wire.hasRoom()
  }

  close (reason: string): void {
    this.#wire.close(reason)
  }
}

export class MetadataSwarm {
  readonly candidates: CandidateList
  readonly extensions: ExtensionRegistry
  readonly #o: MetadataSwarmOptions
  readonly #now: () => number
  readonly #conns = new Set<Conn>()
  readonly #dialing = new Map<string, Socket>()
  readonly #connected = new Set<string>()
  #closed = false
  #handedOver = false
  /** Dials that failed or never completed a handshake, and handshakes completed (what a download's watch reports). */
  dialsFailed = 0
  everConnected = 0

  constructor (options: MetadataSwarmOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.candidates = options.candidates ?? new CandidateList()
    this.extensions = new ExtensionRegistry([new UtMetadata({
      metadata: () => undefined,
      fetch: {
        infoHash: options.infoHash,
        onMetadata: (raw) => { if (!this.#closed) options.onMetadata(raw) },
        ...(options.onLog === undefined ? {} : { onLog: options.onLog })
      }
    })])
  }

  /** Connections open (handshaken or not) and being dialled. */
  get connections (): number {
    return this.#conns.size + this.#dialing.size
  }

  /** Handshaken connections, and dials in progress. */
  get peers (): number {
    return this.#connected.size
  }

  get dialing (): number {
    return this.#dialing.size
  }

  /** What the announcer reports while the metadata is fetched. */
  readonly uploaded = 0
  readonly downloaded = 0
  readonly verifiedBytes = 0
  readonly complete = false
  get infoHash (): Buffer { return this.#o.infoHash }

  addPeers (list: ReadonlyArray<{ host: string, port: number }>, source: PeerSource = 'tracker'): void {
    if (this.#closed) return
    for (const { host, port } of list) {
      if (port === this.#o.listenPort && isLocalHost(host)) continue
      this.candidates.add(peerKey(host, port), host, port, source)
    }
    this.#connectMore()
  }

  /** An inbound connection whose handshake named this info hash (from the session's listener). */
  attachInbound (socket: Socket, initial: Uint8Array, reads?: MovedSocket): void {
    const host = (socket.remoteAddress ?? '?').replace(/^::ffff:/, '')
    const port = socket.remotePort ?? 0
    if (this.#closed || this.connections >= MAX_CONNECTIONS) { socket.destroy(); return }
    const conn = this.#open(socket, 'in', host, port, undefined)
    if (reads !== undefined) reads.onRead((data) => { conn.reader(data) })
    else socket.on('data', (data: Buffer) => { conn.reader(data) })
    conn.reader(initial)
  }

  /** Deadlines and keep-alives, and dials while there is room: every tick of the session. */
  tick (): void {
    if (this.#closed) return
    const now = this.#now()
    for (const c of this.#conns) c.wire.tick(now)
    this.#connectMore()
  }

  /**
   * The handshaken connections, live, for the Transfer to adopt (the rest are closed); the swarm is done after it.
   */
  handOver (): AdoptedWire[] {
    this.#handedOver = true
    const out: AdoptedWire[] = []
    for (const c of [...this.#conns]) {
      if (c.wire.closed) continue
      if (!c.wire.handshaken) { c.wire.close('metadata arrived before its handshake'); continue }
      this.#conns.delete(c)
      out.push({
        wire: c.wire,
        host: c.host,
        port: c.port,
        early: c.early,
        dialKey: c.dialKey,
        retarget: (handler) => { c.target = handler },
        setReader: (reader) => { c.reader = reader }
      })
    }
    this.close()
    return out
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const socket of this.#dialing.values()) socket.destroy()
    this.#dialing.clear()
    for (const c of [...this.#conns]) c.wire.close('torrent stopped')
  }

  #connectMore (): void {
    if (this.#closed || this.connections >= MAX_CONNECTIONS) return
    for (const c of this.candidates.ready(this.#now(), (c) => this.#connected.has(c.key))) {
      this.#dial(c.host, c.port, c.key)
      if (this.connections >= MAX_CONNECTIONS) return
    }
  }

  #dial (host: string, port: number, key: string): void {
    let conn: Conn | undefined
    const socket = (this.#o.transport ?? tcpTransport).dial(host, port, (data) => { conn?.reader(data) })
    this.#dialing.set(key, socket)
    this.candidates.busy(key)
    const notConnected = (): void => {
      clearTimeout(timer)
      if (this.#dialing.get(key) !== socket) return
      this.#dialing.delete(key)
      if (!this.#closed) { this.dialsFailed++; this.candidates.failed(key, this.#now()); this.#connectMore() }
    }
    const timer = setTimeout(() => { notConnected(); socket.destroy() }, CONNECT_TIMEOUT_MS)
    socket.once('connect', () => {
      clearTimeout(timer)
      this.#dialing.delete(key)
      if (this.#closed) { socket.destroy(); return }
      conn = this.#open(socket, 'out', host, port, key)
    })
    socket.once('error', () => { if (conn === undefined) notConnected() })
    socket.once('close', () => { if (conn === undefined) notConnected() })
  }

  #open (socket: Socket, direction: 'in' | 'out', host: string, port: number, dialKey: string | undefined): Conn {
    const key = peerKey(host, port)
    const early: EarlyState = { extendedHandshake: undefined, announce: undefined, haves: [], unchoked: false, interested: false }
    const ref: { conn?: Conn } = {}
    // The wire's events go to `conn.target`: this swarm's handler now, the transfer's after the hand-over.
    const forward: PeerWireHandler = {
      onHandshake: (remote) => (ref.conn as Conn).target.onHandshake(remote),
      onReady: () => { ref.conn?.target.onReady() },
      onMessage: (m) => { ref.conn?.target.onMessage(m) },
      onBlockStart: (i, b, l) => { ref.conn?.target.onBlockStart(i, b, l) },
      onBlockData: (d, o) => { ref.conn?.target.onBlockData(d, o) },
      onBlockEnd: () => { ref.conn?.target.onBlockEnd() },
      onDrain: () => { ref.conn?.target.onDrain() },
      onReceived: () => { ref.conn?.target.onReceived() },
      onClose: (reason) => { ref.conn?.target.onClose(reason) }
    }
    const wire = new PeerWire({
      socket,
      direction,
      local: { infoHash: this.#o.infoHash, peerId: this.#o.peerId, extensions: { extended: true, fast: true, dht: false } },
      maxBitfieldBytes: MAX_EARLY_BITFIELD_BYTES,
      now: this.#now
    }, forward)
    const c: Conn = { wire, host, port, key, dialKey, early, reader: (data) => { wire.receive(data) }, peer: undefined, target: forward }
    c.target = this.#handler(c)
    ref.conn = c
    this.#conns.add(c)
    return c
  }

  /** Before the metadata: handshakes, the extended handshake, ut_metadata; the rest is kept for the transfer. */
  #handler (c: Conn): PeerWireHandler {
    return {
      onHandshake: (remote: Handshake) => {
        if (!remote.infoHash.equals(this.#o.infoHash)) return { accept: false, reason: 'handshake for another torrent' }
        if (remote.peerId.equals(this.#o.peerId)) return { accept: false, reason: 'connected to ourselves' }
        if (this.#connected.has(c.key)) return { accept: false, reason: 'already connected' }
        this.#connected.add(c.key)
        this.everConnected++
        if (c.dialKey !== undefined) this.candidates.connected(c.dialKey)
        c.peer = new EarlyPeer(c.key, c.wire)
        return { accept: true }
      },
      onReady: () => {
        // BEP 6: we have nothing yet. BEP 10: our extensions, without a metadata_size.
        if (c.wire.remote?.extensions.fast === true) c.wire.write(encode.haveNone())
        if (c.wire.remote?.extensions.extended === true) {
          c.wire.write(encode.extended(EXTENDED_HANDSHAKE_ID, encodeExtendedHandshake(this.extensions.handshake({ v: 'p2pshare 0.1.0', p: this.#o.listenPort }))))
        }
      },
      onMessage: (m) => { this.#early(c, m) },
      onBlockStart: () => {},
      onBlockData: () => {},
      onBlockEnd: () => {},
      onDrain: () => { if (c.peer !== undefined) this.extensions.onDrain(c.peer) },
      onReceived: () => {},
      onClose: (reason) => {
        this.#conns.delete(c)
        if (c.peer !== undefined) { this.#connected.delete(c.key); this.extensions.onClose(c.peer) }
        if (c.dialKey !== undefined && !this.#closed) {
          if (c.peer !== undefined) this.candidates.ended(c.dialKey, this.#now())
          else { this.dialsFailed++; this.candidates.failed(c.dialKey, this.#now()) }
        }
        if (!this.#handedOver) this.#o.onLog?.(`${c.key}: closed: ${reason}`)
        this.#connectMore()
      }
    }
  }

  #early (c: Conn, m: Message): void {
    const e = c.early
    switch (m.type) {
      case 'extended':
        if (m.id === EXTENDED_HANDSHAKE_ID) {
          const h = decodeExtendedHandshake(m.payload)
          e.extendedHandshake = { type: 'extended', id: m.id, payload: Buffer.from(m.payload) }
          if (c.peer !== undefined) { c.peer.extensions = h.m; this.extensions.onHandshake(c.peer, h) }
        } else if (c.peer !== undefined) {
          this.extensions.onMessage(c.peer, m.id, m.payload)
        }
        return
      case 'bitfield':
        e.announce = { type: 'bitfield', bitfield: Buffer.from(m.bitfield) }
        e.haves.length = 0
        return
      case 'haveAll':
      case 'haveNone':
        e.announce = m
        e.haves.length = 0
        return
      case 'have':
        if (e.haves.length >= MAX_EARLY_HAVES) { c.wire.close(`more than ${MAX_EARLY_HAVES} haves before the metadata`); return }
        e.haves.push(m.index)
        return
      case 'choke': e.unchoked = false; return
      case 'unchoke': e.unchoked = true; return
      case 'interested': e.interested = true; return
      case 'notInterested': e.interested = false; return
      // Requests for what we do not have yet, and the rest: nothing to answer before the metadata.
      default:
    }
  }
}
