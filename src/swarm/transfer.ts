/**
 * One torrent among many peers: connections in and out, rarest-first picking with an endgame, per-piece SHA-1
 * checks, one positional write per verified piece, serving verified pieces to others while downloading, choking
 * (tit-for-tat with an optimistic slot; by upload rate when seeding), snubbing of stalled peers, and peer
 * reputation (a peer whose blocks fail the check is identified, also when several peers filled the piece, and
 * banned after a few strikes).
 */
import { createHash } from 'node:crypto'
import type { Socket } from 'node:net'
import { bdecode, Bitfield, isBDict } from '../content/index.js'
import type { PieceStorage } from '../storage/index.js'
import { BLOCK_SIZE, encode, MAX_BLOCK_BYTES, PeerWire, tcpTransport, type Handshake, type Message, type MovedSocket, type PeerWireHandler, type Transport } from '../wire/index.js'
import type { AdoptedWire } from './metadata-swarm.js'
import type { LegacyPeer } from '../discovery/index.js'
import { LegacySource, type LegacySourceOptions, type RegionHost } from './legacy-source.js'
import { blockKey, PeerSession, REQUEST_TIMEOUT_MS, type TransferContext } from './peer-session.js'
import { CandidateList, isLocalHost, peerKey, type PeerSource } from './candidates.js'
import type { Peer } from './peer.js'
import { TypedEmitter, type EventMap } from './emitter.js'
import { ExtensionRegistry } from './extensions.js'
import { UtMetadata } from './ut-metadata.js'
import { PEX_REACHABLE, PEX_SEED, UtPex, type PexContact } from './ut-pex.js'
import { PiecePicker, type BlockRef } from './picker.js'
import type { Limit } from './rate-limiter.js'

/** Connections per transfer. */
export const MAX_PEERS_PER_TRANSFER = 80
/** Peers we upload to at once (plus one optimistic slot). */
export const UPLOAD_SLOTS = 4
/** Rechoke every 10 s, rotate the optimistic unchoke every 30 s (BEP 3 practice, as mainstream clients). */
export const RECHOKE_INTERVAL_MS = 10_000
export const OPTIMISTIC_INTERVAL_MS = 30_000
/** Strikes (pieces that failed their check because of a peer's blocks) before the peer is banned. */
export const BAN_STRIKES = 3
/**
 * Failed pieces filled by several peers remembered (a SHA-1 digest of each block and who sent it) until a good copy
 * names the peers whose blocks differ. 20 + 8 bytes a block: 64 pieces of 16 MiB are 1.8 MiB. Past it the oldest is
 * forgotten (see #verify).
 */
export const MAX_FAILED_PIECES = 64
/** Verified pieces waiting for the disk, at most; past it no new blocks are requested until writes catch up. */
export const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024
/** Spare piece buffers kept for reuse, in bytes (at least 4 buffers). */
const SPARE_PIECE_BYTES = 8 * 1024 * 1024
/**
 * Under a rate limit, a connection waiting for budget resumes once this much has built up: blocks then go out (or
 * are read) four at a time instead of one per timer, which measured as thousands of tiny reads and wake-ups a
 * second in a capped swarm.
 */
const LIMITED_BURST_BYTES = 64 * 1024
/** Haves wait at most this long, so that pieces verified close together share a write to each peer. */
const HAVE_DELAY_MS = 20
/** Timers, rate estimates and request pipelines are revisited this often (a new peer's rate is known in 0.25 s). */
export const TICK_MS = 250
/** Connect timeout for outbound connections (then HANDSHAKE_TIMEOUT_MS for the handshake, IDLE_TIMEOUT_MS after). */
export const CONNECT_TIMEOUT_MS = 10_000

/**
 * What a transfer tells whoever follows it (`transfer.events.on(...)`). `progress` is throttled: at most once a tick
 * (250 ms) while something changed, and at once when a peer comes or goes or the transfer completes, never once per
 * block.
 */
export interface TransferEventMap extends EventMap {
  progress: [Transfer]
  pieceVerified: [index: number]
  pieceFailed: [index: number, peers: string[]]
  banned: [peer: string, reason: string]
  /** A peer's handshake was accepted; `source`: where we learned of it (`incoming`: it connected to us). */
  peer: [peer: string, source: PeerSource]
  complete: []
  log: [message: string]
}

/** The same events as options, for a caller with one listener each (each is added to `events`). */
export interface TransferEvents {
  onProgress?: (t: Transfer) => void
  onPieceVerified?: (index: number) => void
  onPieceFailed?: (index: number, peers: string[]) => void
  onBanned?: (peer: string, reason: string) => void
  onComplete?: () => void
  onLog?: (message: string) => void
}

export interface TransferOptions extends TransferEvents {
  infoHash: Buffer
  /** 20-byte SHA-1 of each piece, concatenated. */
  pieceHashes: Buffer
  pieceLength: number
  totalLength: number
  store: PieceStorage
  /** Pieces already verified on disk. */
  have?: Bitfield
  peerId: Buffer
  listenPort: number
  /** The raw info dictionary, to serve through ut_metadata (BEP 9). */
  metadata?: Buffer
  sequential?: boolean
  /** Keep serving once complete. */
  seed?: boolean
  maxPeers?: number
  now?: () => number
  /** How outbound connections are made (default: TCP). */
  transport?: Transport
  /** Global limits shared by every transfer of the process (`-u`, `-d`). */
  uploadLimit?: Limit
  downloadLimit?: Limit
  /** BEP 27: the info dictionary's `private` flag. Peers come from trackers (and by hand) only: no DHT, no PEX. */
  private?: boolean
  /** BEP 11 peer exchange (ut_pex) with peers that speak it (default on; never for a private torrent). */
  pex?: boolean
  /** The candidate list to use (a magnet's, filled while its metadata was fetched); default a new one. */
  candidates?: CandidateList
}

/** Where a private torrent may take peers from (BEP 27): its trackers, and the peers that connect or are given by hand. */
const PRIVATE_SOURCES: ReadonlySet<PeerSource> = new Set(['tracker', 'catalogue', 'manual', 'incoming'])


interface ActiveBuffer {
  data: Buffer
  /** Which peer delivered each block. */
  blockPeers: Array<Peer | undefined>
}

export class Transfer implements TransferContext, RegionHost {
  readonly infoHash: Buffer
  readonly pieceCount: number
  readonly listenPort: number
  readonly pieceLength: number
  readonly totalLength: number
  readonly picker: PiecePicker
  readonly peers = new Map<string, PeerSession>()
  /** Legacy peers this download also fetches from (a name or hash download with Python peers in the swarm). */
  readonly legacySources = new Set<LegacySource>()
  readonly banned = new Map<string, string>()
  readonly #bannedIds = new Set<string>()
  downloaded = 0
  /** Of `downloaded`, the bytes legacy peers sent with GET_CHUNK. */
  downloadedWithGetChunk = 0
  uploaded = 0
  /** Keep serving once complete (a seed, or `download --seed`); may be turned on while downloading. */
  seeding: boolean
  hashFailures = 0
  /** Outbound connections that failed or were dropped before their handshake completed. */
  dialsFailed = 0
  /** Every event of this transfer, for any number of listeners. */
  readonly events = new TypedEmitter<TransferEventMap>()
  readonly #o: TransferOptions
  readonly #now: () => number
  /** Something `progress` reports changed since it was last emitted. */
  #progressDue = false
  readonly #buffers = new Map<number, ActiveBuffer>()
  /** Failed pieces of several contributors, oldest first: each block's digest and who sent it. */
  readonly #failed = new Map<number, { digests: Buffer, blockPeers: Array<Peer | undefined> }>()
  readonly #pool: Buffer[] = []
  /** Outbound sockets still connecting, by peer key: destroyed on close(). */
  readonly #dialing = new Map<string, Socket>()
  /** Every connection, in and out, handshaken or not: ticked for its timeouts, counted against maxPeers, closed on close(). */
  readonly #wires = new Set<PeerWire>()
  /** Outbound connections by the peer key dialled, handshaken or not, until they close. */
  readonly #outbound = new Map<string, PeerWire>()
  readonly #pex: UtPex | undefined
  /** BEP 27: peers from trackers (and by hand) only, no peer exchange. */
  readonly isPrivate: boolean
  /** Peers we could dial, by source, with their failures and back-off; dialled whenever there is room. */
  readonly candidates: CandidateList
  /** BEP 10 extensions of this torrent's connections: ut_metadata serves the info dictionary. */
  readonly extensions: ExtensionRegistry
  /** Every peer (BitTorrent after its handshake, or legacy) this transfer has worked with. */
  readonly #met = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #haveTimer: NodeJS.Timeout | undefined
  #pendingWriteBytes = 0
  /** Piece writes under way: `flushed()` waits for them. */
  readonly #writes = new Set<Promise<void>>()
  #lastRechoke = 0
  #lastOptimistic = 0
  #optimistic: PeerSession | undefined
  #closed = false
  #completeResolve: () => void = () => {}
  #completeReject: (err: Error) => void = () => {}
  /** Set when the transfer stopped on a local error. */
  error: Error | undefined
  readonly completed: Promise<void>

  constructor (options: TransferOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.infoHash = options.infoHash
    this.pieceCount = Math.ceil(options.totalLength / options.pieceLength)
    this.listenPort = options.listenPort
    this.pieceLength = options.pieceLength
    this.totalLength = options.totalLength
    if (options.pieceHashes.length !== this.pieceCount * 20) throw new Error(`Transfer: ${options.pieceHashes.length / 20} piece hashes for ${this.pieceCount} pieces`)
    this.picker = new PiecePicker(options.have ?? new Bitfield(this.pieceCount), options.pieceLength, options.totalLength, { sequential: options.sequential ?? false })
    this.seeding = options.seed === true
    this.candidates = options.candidates ?? new CandidateList()
    this.extensions = new ExtensionRegistry([new UtMetadata({ metadata: () => this.#o.metadata })])
    // BEP 27: a private torrent's peers come from its tracker only; no peer exchange.
    // The flag as given, or as the info dictionary it serves says (a caller that forgot it still keeps BEP 27).
    this.isPrivate = options.private ?? (options.metadata !== undefined && infoIsPrivate(options.metadata))
    if (!this.isPrivate && options.pex !== false) {
      this.#pex = new UtPex({ contacts: () => this.#pexContacts(), onPeers: (peers) => { this.addPeers(peers, 'pex') }, now: this.#now, onLog: (m) => { this.events.emit('log', m) } })
      this.extensions.register(this.#pex)
    }
    const { onProgress, onPieceVerified, onPieceFailed, onBanned, onComplete, onLog } = options
    if (onProgress !== undefined) this.events.on('progress', onProgress)
    if (onPieceVerified !== undefined) this.events.on('pieceVerified', onPieceVerified)
    if (onPieceFailed !== undefined) this.events.on('pieceFailed', onPieceFailed)
    if (onBanned !== undefined) this.events.on('banned', onBanned)
    if (onComplete !== undefined) this.events.on('complete', onComplete)
    if (onLog !== undefined) this.events.on('log', onLog)
    this.completed = new Promise((resolve, reject) => { this.#completeResolve = resolve; this.#completeReject = reject })
    this.completed.catch(() => {})
    if (this.picker.complete) this.#completeResolve()
  }

  get have (): Bitfield {
    return this.picker.have
  }

  get complete (): boolean {
    return this.picker.complete
  }

  /** Bytes verified on disk. */
  get verifiedBytes (): number {
    const n = this.have.count
    if (n === 0) return 0
    const lastFull = this.have.has(this.pieceCount - 1)
    return (lastFull ? (n - 1) * this.#o.pieceLength + this.picker.pieceSize(this.pieceCount - 1) : n * this.#o.pieceLength)
  }

  /**
   * Starts the transfer's clock: a timer of its own every TICK_MS, or none with `{ timer: false }` when its owner (a
   * session holding many torrents) calls `tick()` from one timer for all of them.
   */
  start (options: { timer?: boolean } = {}): void {
    if (options.timer === false) return
    this.#timer = setInterval(() => { this.tick() }, TICK_MS)
    this.#timer.unref()
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    clearTimeout(this.#haveTimer)
    // Every connection, also those still connecting or waiting for a handshake: nothing is left to keep the process.
    for (const socket of this.#dialing.values()) socket.destroy()
    this.#dialing.clear()
    for (const wire of [...this.#wires]) wire.close('transfer closed')
    for (const source of this.legacySources) source.stop('transfer closed')
  }

  /** Resolves once every piece write under way has ended (after `close()`: before its store may be closed). */
  async flushed (): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes])
  }

  /** Outbound connections being set up: connecting, or connected and waiting for the peer's handshake. */
  get dialing (): number {
    let waiting = 0
    for (const wire of this.#outbound.values()) if (!wire.handshaken) waiting++
    return this.#dialing.size + waiting
  }

  /** Open connections, in and out, handshaken or not, and sockets still connecting. */
  get connections (): number {
    return this.#wires.size + this.#dialing.size
  }

  /** How many distinct peers this transfer has worked with (connected BitTorrent peers, legacy peers). */
  get everConnected (): number {
    return this.#met.size
  }

  /** Stop with an error, for whoever waits on `completed` (a download that has no peer left). */
  fail (err: Error): void {
    if (this.#closed) return
    this.#fatal(err)
  }

  /** Nothing more to fetch: complete, or closed. */
  get ended (): boolean {
    return this.#closed || this.complete
  }

  metadataSize (): number | undefined {
    return this.#o.metadata?.length
  }

  metadata (): Buffer | undefined {
    return this.#o.metadata
  }

  /**
   * Offer peers (from a tracker, a lookup, a magnet, or by hand) as candidates; they are dialled while there is room
   * for connections, the rest wait their turn (CandidateList: back-off after failures, bounded). Ourselves and
   * banned peers are skipped.
   */
  addPeers (list: Array<{ host: string, port: number }>, source: PeerSource = 'tracker'): void {
    if (this.#closed) return
    if (this.isPrivate && !PRIVATE_SOURCES.has(source)) return
    for (const { host, port } of list) {
      if (port === this.listenPort && isLocalHost(host)) continue
      if (this.#isBanned(host, port)) continue
      this.candidates.add(peerKey(host, port), host, port, source)
    }
    this.#connectMore()
  }

  /** Dial candidates while there is room for connections (and something to fetch or a seed to be). */
  #connectMore (): void {
    if (this.#closed || (this.complete && !this.seeding)) return
    const max = this.#o.maxPeers ?? MAX_PEERS_PER_TRANSFER
    if (this.connections >= max) return
    for (const c of this.candidates.ready(this.#now(), (c) => this.peers.has(c.key) || this.#isBanned(c.host, c.port))) {
      this.#dial(c.host, c.port, c.key)
      if (this.connections >= max) return
    }
  }

  /**
   * Also fetch from legacy peers with GET_CHUNK (single-file torrents only: the legacy protocol serves one file, and
   * `fileHash` names it). A peer whose chunks do not line up with the pieces is skipped, with a log line.
   */
  addLegacyPeers (list: readonly LegacyPeer[], options: LegacySourceOptions): void {
    for (const peer of list) {
      if (this.#closed || this.#isBanned(peer.ip, peer.port)) continue
      let source: LegacySource
      try {
        source = new LegacySource(this, peer, { ...options, ...(this.#o.downloadLimit === undefined ? {} : { limit: this.#o.downloadLimit }) })
      } catch (err) {
        this.events.emit('log', `legacy peer ${peer.ip}:${peer.port} skipped: ${(err as Error).message}`)
        continue
      }
      this.legacySources.add(source)
      this.#met.add(source.id)
      this.#emitProgress()
      void source.run().then(() => {
        this.legacySources.delete(source)
        if (source.stopReason !== '' && !this.ended) this.#log(source, `dropped: ${source.stopReason}`)
        this.#emitProgress()
      })
    }
  }

  // ---- RegionHost (legacy sources) ----

  claimRegion (first: number, last: number): number[] {
    if (this.#pendingWriteBytes > MAX_PENDING_WRITE_BYTES) return []
    return this.picker.claimPieces(first, last)
  }

  deliverRegion (source: LegacySource, first: number, claimed: readonly number[], data: Buffer): void {
    for (const [k, index] of claimed.entries()) {
      // Banned by an earlier piece of this region: its data counts no more, and the rest go back to the others.
      if (source.stopped) { this.releaseRegion(claimed.slice(k)); return }
      const base = (index - first) * this.pieceLength
      const size = this.picker.pieceSize(index)
      for (let begin = 0; begin < size; begin += BLOCK_SIZE) {
        const length = Math.min(BLOCK_SIZE, size - begin)
        const target = this.blockTarget(source, index, begin, length)
        if (target === undefined) continue
        data.copy(target, 0, base + begin, base + begin + length)
        this.blockReceived(source, index, begin, length)
      }
    }
  }

  releaseRegion (claimed: readonly number[]): void {
    for (const index of claimed) {
      const size = this.picker.pieceSize(index)
      for (let begin = 0; begin < size; begin += BLOCK_SIZE) this.picker.requestDropped(index, begin)
    }
    for (const peer of this.peers.values()) peer.fillRequests(this.#now())
  }

  /** An inbound connection whose handshake named this torrent; `initial` holds the bytes already read. */
  attachInbound (socket: Socket, initial: Uint8Array, reads?: MovedSocket): void {
    const host = (socket.remoteAddress ?? '?').replace(/^::ffff:/, '')
    const port = socket.remotePort ?? 0
    if (this.#closed || this.connections >= (this.#o.maxPeers ?? MAX_PEERS_PER_TRANSFER) || this.#isBanned(host, port)) {
      socket.destroy()
      return
    }
    // Tracked (and so ticked: HANDSHAKE_TIMEOUT_MS) from here, before its handshake is whole.
    const wire = this.#wire(socket, 'in', host, port)
    if (reads !== undefined) reads.onRead((data) => { this.#received(wire, data) })
    else socket.on('data', (data: Buffer) => { this.#received(wire, data) })
    this.#received(wire, initial)
  }

  // ---- TransferContext ----

  pick (peer: PeerSession, max: number, out: BlockRef[]): void {
    const has = peer.has
    if (has === undefined || this.#pendingWriteBytes > MAX_PENDING_WRITE_BYTES) return
    this.picker.pick(has, max, out, (index, begin) => peer.requests.has(blockKey(index, begin)),
      has === 'all' ? (index) => this.#unchokedPeerHas(index) : undefined)
  }

  /** Does a peer that is not a seed, and lets us download, have this piece? */
  #unchokedPeerHas (index: number): boolean {
    for (const p of this.peers.values()) {
      const has = p.has
      if (!p.peerChoking && has !== undefined && has !== 'all' && has.has(index)) return true
    }
    return false
  }

  requestDropped (_peer: PeerSession, block: BlockRef): void {
    this.picker.requestDropped(block.index, block.begin)
  }

  blockTarget (peer: Peer, index: number, begin: number, length: number): Buffer | undefined {
    if (index >= this.pieceCount || begin % BLOCK_SIZE !== 0 || length !== Math.min(BLOCK_SIZE, this.picker.pieceSize(index) - begin)) {
      this.#log(peer, `unexpected block ${index}:${begin}+${length}`)
      return undefined
    }
    if (!this.picker.wants(index, begin)) return undefined
    let active = this.#buffers.get(index)
    if (active === undefined) {
      active = { data: this.#takeBuffer(), blockPeers: [] }
      this.#buffers.set(index, active)
    }
    return active.data.subarray(begin, begin + length)
  }

  blockReceived (peer: Peer, index: number, begin: number, length: number): void {
    const { status, pieceDone } = this.picker.blockReceived(index, begin)
    if (status !== 'new') return
    this.downloaded += length
    if (peer.protocol === 'get-chunk') this.downloadedWithGetChunk += length
    const active = this.#buffers.get(index)
    if (active !== undefined) active.blockPeers[begin / BLOCK_SIZE] = peer
    // Endgame: whoever else was asked for this block need not send it.
    const key = blockKey(index, begin)
    for (const other of this.peers.values()) {
      if (other === peer) continue
      other.abandonBlock(index, begin)
      if (other.requests.has(key)) other.cancel({ index, begin, length })
    }
    if (pieceDone) this.#verify(index)
    // Reported at the next tick with whatever else arrives meanwhile: an event per block cost the hot path a call
    // into every listener 65,536 times per GiB.
    this.#progressDue = true
  }

  peerBitfieldChanged (peer: PeerSession, added: number | 'all' | Bitfield, replaced?: Bitfield | 'all'): void {
    if (replaced !== undefined) this.picker.removePeer(replaced)
    if (typeof added === 'number') this.picker.peerHas(added)
    else this.picker.addPeer(added)
    // Two seeds have nothing to give each other (libtorrent's close_redundant_connections): the place goes to a leecher.
    if (this.complete && peer.has === 'all') { peer.wire.close('both complete'); return }
    peer.updateInterest()
    peer.fillRequests(this.#now())
  }

  serve (peer: PeerSession, block: BlockRef): void {
    if (block.index >= this.pieceCount || !this.have.has(block.index) || block.length === 0 || block.length > MAX_BLOCK_BYTES ||
        block.begin + block.length > this.picker.pieceSize(block.index)) {
      peer.reject(block)
      return
    }
    // Sent once the socket read that brought the request is handled (onReceived): the blocks of a whole batch of
    // requests then go out corked together, rather than one write system call per block.
    peer.uploadQueue.push(block)
  }

  wantsUnchoke (peer: PeerSession): void {
    const unchoked = [...this.peers.values()].filter(p => !p.amChoking).length
    if (unchoked < UPLOAD_SLOTS + 1) peer.unchoke()
  }

  closed (peer: PeerSession, reason: string): void {
    if (this.peers.get(peer.id) !== peer) return
    this.peers.delete(peer.id)
    this.extensions.onClose(peer)
    peer.dropRequests()
    if (peer.has !== undefined) this.picker.removePeer(peer.has)
    if (this.#optimistic === peer) this.#optimistic = undefined
    this.#log(peer, `closed: ${reason}`)
    this.#emitProgress()
  }

  log (peer: PeerSession, message: string): void {
    this.#log(peer, message)
  }

  logLine (message: string): void {
    this.events.emit('log', message)
  }

  // ---- internals ----

  #dial (host: string, port: number, id: string): void {
    let wire: PeerWire | undefined
    const socket = (this.#o.transport ?? tcpTransport).dial(host, port, (data) => { if (wire !== undefined) this.#received(wire, data) })
    this.#dialing.set(id, socket)
    this.candidates.busy(id)
    // Until 'connect' the socket is ours alone; after it, the wire handles errors and closing (and its own timeouts).
    const notConnected = (): void => {
      clearTimeout(timer)
      if (this.#dialing.get(id) !== socket) return
      this.#dialing.delete(id)
      if (!this.#closed) { this.#dialFailed(id); this.#connectMore() }
    }
    const timer = setTimeout(() => { notConnected(); socket.destroy() }, CONNECT_TIMEOUT_MS)
    socket.once('connect', () => {
      clearTimeout(timer)
      this.#dialing.delete(id)
      if (this.#closed) { socket.destroy(); return }
      wire = this.#wire(socket, 'out', host, port)
      this.#outbound.set(id, wire)
    })
    socket.once('error', () => { if (wire === undefined) notConnected() })
    socket.once('close', () => { if (wire === undefined) notConnected() })
  }

  /** A dial failed (or ended before its handshake): the candidate backs off, or is given up on (CandidateList). */
  #dialFailed (id: string): void {
    this.dialsFailed++
    this.candidates.failed(id, this.#now())
  }

  /**
   * A connection closed: it no longer counts, and an outbound one (`id`: the peer key dialled) that never got to be a
   * peer (no handshake in time, a refused one, closed before it) is a failed dial.
   */
  #untrack (wire: PeerWire, session: PeerSession | undefined, id: string): void {
    this.#wires.delete(wire)
    if (wire.direction !== 'out' || this.#outbound.get(id) !== wire) return
    this.#outbound.delete(id)
    if (this.#closed) return
    if (session !== undefined && this.peers.get(session.id) === session) this.candidates.ended(id, this.#now())
    else this.#dialFailed(id)
  }

  #wire (socket: Socket, direction: 'in' | 'out', host: string, port: number): PeerWire {
    const ref: { wire?: PeerWire } = {}
    const handler = this.#handler(() => ref.wire as PeerWire, direction, host, port)
    const wire = new PeerWire({
      socket,
      direction,
      local: { infoHash: this.infoHash, peerId: this.#o.peerId, extensions: { extended: true, fast: true, dht: false } },
      maxBitfieldBytes: Math.ceil(this.pieceCount / 8),
      now: this.#now
    }, handler)
    ref.wire = wire
    this.#wires.add(wire)
    return wire
  }

  /** The events of one connection, for its PeerSession once its handshake is accepted. */
  #handler (wireOf: () => PeerWire, direction: 'in' | 'out', host: string, port: number, adopted = false): PeerWireHandler {
    let session: PeerSession | undefined
    return {
      onHandshake: (remote: Handshake) => {
        if (!remote.infoHash.equals(this.infoHash)) return { accept: false, reason: 'handshake for another torrent' }
        if (remote.peerId.equals(this.#o.peerId)) return { accept: false, reason: 'connected to ourselves' }
        if (this.#bannedIds.has(remote.peerId.toString('hex'))) return { accept: false, reason: 'banned peer id' }
        // The listener address an inbound peer dials from is ephemeral; keep it as its identity for this connection.
        session = new PeerSession(wireOf(), host, port, this, this.#now())
        const existing = this.peers.get(session.id)
        if (existing !== undefined) return { accept: false, reason: 'already connected' }
        this.peers.set(session.id, session)
        this.#met.add(session.id)
        this.#progressDue = true
        if (direction === 'out') this.candidates.connected(session.id)
        this.events.emit('peer', session.id, this.peerSource(session))
        return { accept: true }
      },
      onReady: () => { session?.start({ announced: adopted }) },
      onMessage: (m) => { session?.onMessage(m) },
      onBlockStart: (i, b, l) => { session?.onBlockStart(i, b, l) },
      onBlockData: (d, o) => { session?.onBlockData(d, o) },
      onBlockEnd: () => { session?.onBlockEnd() },
      onDrain: () => {
        if (session === undefined) return
        session.drained()
        this.#pumpUploads(session)
      },
      // Once per socket read: the requests it calls for go out in one write, the blocks it asked for corked together.
      onReceived: () => {
        if (session === undefined) return
        session.flushHaves()
        session.fillRequests(this.#now())
        this.#pumpUploads(session)
      },
      onClose: (reason) => {
        this.#untrack(wireOf(), session, peerKey(host, port))
        if (session !== undefined) this.closed(session, reason)
        // A connection's room goes to the next candidate.
        this.#connectMore()
      }
    }
  }

  /**
   * Take over a connection opened before the metadata (MetadataSwarm): its handshake is accepted again here, our
   * bitfield and extended handshake (now with metadata_size) go out, and what the peer said meanwhile is replayed.
   */
  adopt (a: AdoptedWire): void {
    const { wire } = a
    const remote = wire.remote
    if (this.#closed || wire.closed || remote === undefined || this.connections >= (this.#o.maxPeers ?? MAX_PEERS_PER_TRANSFER) || this.#isBanned(a.host, a.port)) {
      wire.close('not taken over by the transfer')
      return
    }
    const handler = this.#handler(() => wire, wire.direction, a.host, a.port, true)
    a.retarget(handler)
    a.setReader((data) => { this.#received(wire, data) })
    this.#wires.add(wire)
    if (wire.direction === 'out' && a.dialKey !== undefined) {
      this.#outbound.set(a.dialKey, wire)
      this.candidates.busy(a.dialKey)
    }
    wire.setMaxBitfieldBytes(Math.ceil(this.pieceCount / 8))
    const verdict = handler.onHandshake(remote)
    if (!verdict.accept) { wire.close(verdict.reason); return }
    handler.onReady()
    const e = a.early
    const replay: Message[] = [
      ...(e.extendedHandshake === undefined ? [] : [e.extendedHandshake]),
      ...(e.announce === undefined ? [] : [e.announce]),
      ...e.haves.map((index): Message => ({ type: 'have', index })),
      ...(e.interested ? [{ type: 'interested' } as const] : []),
      ...(e.unchoked ? [{ type: 'unchoke' } as const] : [])
    ]
    try {
      for (const m of replay) {
        if (wire.closed) return
        handler.onMessage(m)
      }
      if (!wire.closed) handler.onReceived()
    } catch (err) {
      wire.close(`protocol error: ${(err as Error).message}`)
    }
  }

  /** Bytes from a peer's socket; over the download limit, stop reading it until the budget allows again. */
  #received (wire: PeerWire, data: Uint8Array): void {
    wire.receive(data)
    const limit = this.#o.downloadLimit
    if (limit === undefined || !limit.limited) return
    limit.charge(data.length)
    if (!limit.available() && !wire.closed) {
      wire.pauseReading()
      limit.whenAvailable(() => { wire.resumeReading() }, LIMITED_BURST_BYTES)
    }
  }

  #pumpUploads (peer: PeerSession): void {
    // Send queued blocks while the socket takes them; the rest wait for its 'drain'.
    if (peer.uploadQueue.length === 0 || peer.amChoking) return
    const socket = peer.wire.socket
    socket.cork()
    try {
      const limit = this.#o.uploadLimit
      while (peer.uploadQueue.length > 0 && peer.wire.writable) {
        if (limit !== undefined && !limit.available()) {
          if (!peer.waitingForBudget) {
            peer.waitingForBudget = true
            limit.whenAvailable(() => { peer.waitingForBudget = false; this.#pumpUploads(peer) }, LIMITED_BURST_BYTES)
          }
          break
        }
        const block = peer.uploadQueue.shift() as BlockRef
        limit?.charge(13 + block.length)
        const header = Buffer.allocUnsafe(13)
        encode.pieceHeader(header, block.index, block.begin, block.length)
        const upload = this.#o.store.blockForUpload(block.index, block.begin, block.length)
        peer.wire.write(header)
        peer.wire.write(upload.data, upload.release)
        peer.uploaded += block.length
        peer.uploadRate.add(block.length)
        this.uploaded += block.length
      }
    } catch (err) {
      this.#log(peer, `cannot read a block to upload: ${String(err)}`)
      peer.wire.close('local read error')
    } finally {
      socket.uncork()
    }
  }

  #verify (index: number): void {
    const active = this.#buffers.get(index)
    if (active === undefined) return
    this.#buffers.delete(index)
    const data = active.data.subarray(0, this.picker.pieceSize(index))
    const digest = createHash('sha1').update(data).digest()
    const expected = this.#o.pieceHashes.subarray(index * 20, index * 20 + 20)
    if (digest.equals(expected)) {
      // The piece counts as ours once it is on disk: only then is it announced, served, or counted for resume.
      // While too many wait for the disk, no new blocks are requested: memory stays bounded when the disk is slower
      // than the network. (Unlike the legacy downloader's, these writes are not serialised: that measured slower
      // here and no smaller, the pieces waiting being what costs memory.)
      this.#pendingWriteBytes += data.length
      const written = this.#o.store.writePieceAsync(index, data).then(() => {
        this.#pendingWriteBytes -= data.length
        this.picker.pieceVerified(index)
        this.#judgeEarlierFailure(index, data)
        this.#releaseBuffer(active.data)
        // On disk and verified, also when the transfer closed meanwhile: whoever records resume data counts it.
        if (this.#closed) { this.events.emit('pieceVerified', index); return }
        for (const peer of this.peers.values()) {
          if (peer.wire.handshaken) peer.sendHave(index)
          if (peer.amInterested) peer.updateInterest()
        }
        this.#scheduleHaves()
        this.#progressDue = true
        this.events.emit('pieceVerified', index)
        if (this.complete) this.#finish()
        else if (this.#pendingWriteBytes <= MAX_PENDING_WRITE_BYTES) for (const peer of this.peers.values()) peer.fillRequests(this.#now())
      }, (err: unknown) => {
        if (this.#closed) return
        this.events.emit('log', `cannot write piece ${index}: ${String(err)}`)
        this.#fatal(err)
      }).finally(() => { this.#writes.delete(written) })
      this.#writes.add(written)
      return
    }
    this.hashFailures++
    this.picker.pieceFailed(index)
    const contributors = [...new Set(active.blockPeers.filter((p): p is Peer => p !== undefined))]
    this.events.emit('pieceFailed', index, contributors.map(p => p.id))
    if (contributors.length === 1) {
      // Unambiguous: one peer sent every block.
      this.#strike(contributors[0] as Peer, `piece ${index} failed its SHA-1 check (all blocks from this peer)`)
      this.#releaseBuffer(active.data)
    } else {
      // Several peers filled it: remember each block's digest; when a good copy arrives, the blocks that differ name
      // the culprits, and only them. At the bound the oldest record is forgotten, its contributors unjudged, rather
      // than striking every contributor: that struck the innocent with the guilty, so one peer's junk made pieces
      // fail faster than they were fetched again and got the honest seed filling the rest of them banned. Blame
      // stays exact; a guilty peer that keeps sending bad blocks keeps meeting the newer records (and a piece it
      // filled alone strikes it at once). A piece failing again replaces its record, now the newest.
      this.#failed.delete(index)
      if (this.#failed.size >= MAX_FAILED_PIECES) for (const oldest of this.#failed.keys()) { this.#failed.delete(oldest); break }
      this.#failed.set(index, { digests: blockDigests(data), blockPeers: active.blockPeers })
      this.#releaseBuffer(active.data)
    }
    for (const peer of this.peers.values()) peer.fillRequests(this.#now())
  }

  /** Haves go out within HAVE_DELAY_MS of their piece, gathered: one write per peer for all pieces verified meanwhile. */
  #scheduleHaves (): void {
    if (this.#haveTimer !== undefined) return
    this.#haveTimer = setTimeout(() => {
      this.#haveTimer = undefined
      for (const peer of this.peers.values()) peer.flushHaves()
    }, HAVE_DELAY_MS)
  }

  /** A local failure (disk full, file removed): stop, and let whoever waits for completion know. */
  #fatal (err: unknown): void {
    this.error = err instanceof Error ? err : new Error(String(err))
    this.close()
    this.#completeReject(this.error)
  }

  #judgeEarlierFailure (index: number, good: Buffer): void {
    const bad = this.#failed.get(index)
    if (bad === undefined) return
    this.#failed.delete(index)
    for (let b = 0; b * BLOCK_SIZE < good.length; b++) {
      const peer = bad.blockPeers[b]
      if (peer === undefined) continue
      const start = b * BLOCK_SIZE
      const digest = createHash('sha1').update(good.subarray(start, start + BLOCK_SIZE)).digest()
      if (!digest.equals(bad.digests.subarray(b * 20, b * 20 + 20))) {
        this.#strike(peer, `sent a corrupt block ${index}:${start} (piece ${index} failed its SHA-1 check)`)
      }
    }
  }

  #strike (peer: Peer, reason: string): void {
    peer.strikes++
    this.#log(peer, `strike ${peer.strikes}/${BAN_STRIKES}: ${reason}`)
    const key = banKey(peer.host, peer.port)
    if (peer.strikes < BAN_STRIKES || this.banned.has(key)) return
    const why = `${peer.strikes} pieces failed their SHA-1 check because of this peer's data (last: ${reason})`
    this.banned.set(key, why)
    if (peer.peerId !== undefined) this.#bannedIds.add(peer.peerId.toString('hex'))
    this.events.emit('banned', peer.id, why)
    peer.disconnect(`banned: ${why}`)
  }

  #isBanned (host: string, port: number): boolean {
    return this.banned.has(banKey(host, port))
  }

  #finish (): void {
    this.#completeResolve()
    for (const peer of [...this.peers.values()]) {
      peer.updateInterest()
      if (peer.has === 'all' || (!this.seeding && !peer.peerInterested)) peer.wire.close('download complete')
    }
    this.#emitProgress()
    this.events.emit('complete')
  }

  /** Where we learned of a connected peer: its candidate's first source, or `incoming` when it connected to us. */
  peerSource (peer: PeerSession): PeerSource {
    if (peer.wire.direction === 'in') return 'incoming'
    return [...(this.candidates.get(peer.id)?.sources ?? [])][0] ?? 'tracker'
  }

  /** The peers we are connected to, as PEX tells others of them: dialled ones where we dialled, others at their `p`. */
  * #pexContacts (): Generator<PexContact> {
    for (const peer of this.peers.values()) {
      if (!peer.wire.handshaken) continue
      const out = peer.wire.direction === 'out'
      const port = out ? peer.port : this.#pex?.listenPortOf(peer)
      if (port === undefined) continue
      const seed = peer.has === 'all' || (peer.has !== undefined && peer.has.complete)
      yield { key: peerKey(peer.host, port), host: peer.host, port, flags: (out ? PEX_REACHABLE : 0) | (seed ? PEX_SEED : 0), connection: peer.id }
    }
  }

  /** Timeouts, rates, pipelines, rechoke and dials: every TICK_MS (by its own timer, or by its session's). */
  tick (): void {
    if (this.#closed) return
    const now = this.#now()
    // Connections still waiting for a handshake (in or out) are not peers yet: their handshake deadline runs here.
    for (const wire of this.#wires) if (!wire.handshaken) wire.tick(now)
    for (const peer of this.peers.values()) {
      peer.flushHaves()
      peer.wire.tick(now)
      peer.downloadRate.update(now)
      peer.uploadRate.update(now)
      // Requests unanswered too long: give the blocks back and snub the peer until it sends again.
      const timedOut = peer.dropRequests(r => now - r.at > REQUEST_TIMEOUT_MS)
      if (timedOut > 0) {
        peer.snubbed = true
        this.#log(peer, `snubbed: ${timedOut} requests unanswered for ${REQUEST_TIMEOUT_MS / 1000} s`)
      }
      peer.fillRequests(now)
    }
    if (now - this.#lastRechoke >= RECHOKE_INTERVAL_MS) this.#rechoke(now)
    this.#pex?.tick()
    if (this.#progressDue) this.#emitProgress()
    // Candidates whose back-off has run out, or that waited for room.
    this.#connectMore()
  }

  /**
   * Tit-for-tat: unchoke the interested peers that give us the most (while downloading) or take the most (while
   * seeding, so the pieces spread fastest), plus one optimistic slot rotated every 30 s so newcomers get a start.
   */
  #rechoke (now: number): void {
    this.#lastRechoke = now
    const seeding = this.complete
    const interested = [...this.peers.values()].filter(p => p.peerInterested && p.wire.handshaken)
    interested.sort((a, b) => seeding ? b.uploadRate.rate - a.uploadRate.rate : (b.snubbed ? -1 : 0) + b.downloadRate.rate - a.downloadRate.rate)
    const keep = new Set(interested.slice(0, UPLOAD_SLOTS))
    if (now - this.#lastOptimistic >= OPTIMISTIC_INTERVAL_MS || this.#optimistic === undefined || this.#optimistic.wire.closed) {
      const candidates = interested.filter(p => !keep.has(p))
      this.#optimistic = candidates[Math.floor(Math.random() * candidates.length)]
      this.#lastOptimistic = now
    }
    if (this.#optimistic !== undefined) keep.add(this.#optimistic)
    for (const peer of this.peers.values()) {
      if (keep.has(peer)) peer.unchoke()
      else peer.choke()
    }
  }

  #emitProgress (): void {
    this.#progressDue = false
    this.events.emit('progress', this)
  }

  #takeBuffer (): Buffer {
    return this.#pool.pop() ?? Buffer.allocUnsafe(this.#o.pieceLength)
  }

  #releaseBuffer (buf: Buffer): void {
    // A few spare piece buffers are kept (allocation per piece is what the hot path avoids), 8 MiB of them at most:
    // with 1 MiB pieces, 32 spares were a fifth of a 4 GiB download's peak memory.
    if (this.#pool.length < Math.max(4, SPARE_PIECE_BYTES / this.#o.pieceLength)) this.#pool.push(buf)
  }

  #log (peer: Peer | undefined, message: string): void {
    this.events.emit('log', peer === undefined ? message : `${peer.id}: ${message}`)
  }
}

/** SHA-1 of each 16 KiB block of a piece, concatenated: what a failed copy is judged by once a good one arrives. */
function blockDigests (piece: Buffer): Buffer {
  const blocks = Math.ceil(piece.length / BLOCK_SIZE)
  const out = Buffer.allocUnsafe(blocks * 20)
  for (let b = 0; b < blocks; b++) createHash('sha1').update(piece.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)).digest().copy(out, b * 20)
  return out
}

/** Peers on loopback share one address, so there a ban is per address and port; elsewhere, per address. */
function banKey (host: string, port: number): string {
  return isLocalHost(host) ? peerKey(host, port) : host
}

/** Does this info dictionary carry BEP 27's `private=1`? (Undecodable: not, and the metainfo parser will say why.) */
function infoIsPrivate (info: Buffer): boolean {
  try {
    const v = bdecode(info).value
    return isBDict(v) && v.private === 1
  } catch {
    return false
  }
}
