/**
 * One peer of a transfer: the BitTorrent state machine of BEP 3 (choked/interested both ways), BEP 6 (have-all,
 * have-none, reject) and BEP 10, over a PeerWire. Requests it sends and serves are bounded; what it learns and
 * receives goes to its transfer through the `TransferContext`.
 */
import { Bitfield } from '../content/index.js'
import { decodeExtendedHandshake, encode, encodeExtendedHandshake, EXTENDED_HANDSHAKE_ID, type Message, type PeerWire } from '../wire/index.js'
import type { ExtensionPeer, ExtensionRegistry } from './extensions.js'
import type { BlockRef } from './picker.js'
import type { Peer } from './peer.js'
import { RateMeter } from './rate.js'

/** Requests from a peer we queue at most (our BEP 10 `reqq`); more are rejected (fast) or dropped. */
export const MAX_QUEUED_UPLOADS = 500
/** Requests in flight to one peer: the floor and the cap of the adaptive pipeline. */
export const MIN_PIPELINE = 64
export const MAX_PIPELINE = 1024
/** Pipeline sized to cover this much time at the peer's measured rate (bandwidth-delay product with margin). */
export const PIPELINE_SECONDS = 0.5
/** Requests are topped up when a quarter of the pipeline (at least this many, at most half) can go in one write. */
export const BATCH_REQUESTS = 16
/** A request unanswered this long is given up on, and the peer is snubbed. */
export const REQUEST_TIMEOUT_MS = 30_000

export interface TransferContext {
  readonly pieceCount: number
  readonly have: Bitfield
  readonly listenPort: number
  /** The BEP 10 extensions this torrent's connections speak (ut_metadata; a private torrent's has no PEX). */
  readonly extensions: ExtensionRegistry
  /** Blocks this peer should ask for next. */
  pick (peer: PeerSession, max: number, out: BlockRef[]): void
  requestDropped (peer: PeerSession, block: BlockRef): void
  /** Where the bytes of a block being received go; undefined if the block is not wanted (discard it). */
  blockTarget (peer: PeerSession, index: number, begin: number, length: number): Buffer | undefined
  blockReceived (peer: PeerSession, index: number, begin: number, length: number): void
  peerBitfieldChanged (peer: PeerSession, added: number | 'all' | Bitfield, removed?: Bitfield | 'all'): void
  serve (peer: PeerSession, block: BlockRef): void
  wantsUnchoke (peer: PeerSession): void
  closed (peer: PeerSession, reason: string): void
  log (peer: PeerSession, message: string): void
}

/**
 * A number naming a block: piece index times 1024 (the most 16 KiB blocks a 16 MiB piece has) plus the block's
 * number. Exact for any index below 2^43; a number key costs no string per request on the hot path.
 */
export function blockKey (index: number, begin: number): number {
  return index * 1024 + begin / 16384
}

export class PeerSession implements Peer, ExtensionPeer {
  readonly id: string
  readonly host: string
  readonly port: number
  readonly protocol = 'bittorrent'
  readonly wire: PeerWire
  readonly downloadRate: RateMeter
  readonly uploadRate: RateMeter
  amChoking = true
  amInterested = false
  peerChoking = true
  peerInterested = false
  /** What the peer has: a bitfield, 'all' (BEP 6 have-all, or a complete bitfield) or none known yet. */
  has: Bitfield | 'all' | undefined
  /** Requests we sent and are waiting for, keyed by `index:begin`. */
  /** Outstanding requests by `blockKey(index, begin)`. */
  readonly requests = new Map<number, BlockRef & { at: number }>()
  /** Requests the peer sent that we have not served yet. */
  uploadQueue: BlockRef[] = []
  fast = false
  extensions: Record<string, number> = {}
  clientName = ''
  peerReqq = 250
  snubbed = false
  strikes = 0
  /** Waiting for the upload limit's budget to send its queued blocks. */
  waitingForBudget = false
  downloaded = 0
  uploaded = 0
  readonly #ctx: TransferContext
  #blockTarget: Buffer | undefined
  #block: BlockRef = { index: 0, begin: 0, length: 0 }
  readonly #picks: BlockRef[] = []
  readonly #haves: number[] = []

  constructor (wire: PeerWire, host: string, port: number, ctx: TransferContext, now: number) {
    this.wire = wire
    this.host = host
    this.port = port
    this.id = `${host.includes(':') ? `[${host}]` : host}:${port}`
    this.#ctx = ctx
    this.downloadRate = new RateMeter(now)
    this.uploadRate = new RateMeter(now)
    // BEP 6 is on when both ends set the bit; we always do.
    this.fast = wire.remote?.extensions.fast === true
  }

  /** The peer id of its handshake. */
  get peerId (): Buffer | undefined {
    return this.wire.remote?.peerId
  }

  disconnect (reason: string): void {
    this.wire.close(reason)
  }

  /** After both handshakes: say what we have (BEP 6 shortcuts when both speak fast) and our extensions. */
  start (options: { announced?: boolean } = {}): void {
    const remote = this.wire.remote
    const have = this.#ctx.have
    if (options.announced === true) {
      // A connection taken over from before the metadata already said have-none (or nothing): what we hold now
      // goes as haves (BEP 3 allows a bitfield only as the first message).
      for (let i = 0; i < have.size; i++) if (have.has(i)) this.sendHave(i)
      this.flushHaves()
    } else if (this.fast && have.count === 0) this.wire.write(encode.haveNone())
    else if (this.fast && have.complete) this.wire.write(encode.haveAll())
    else if (have.count > 0) this.wire.write(encode.bitfield(have.bytes))
    if (remote?.extensions.extended === true) {
      this.wire.write(encode.extended(EXTENDED_HANDSHAKE_ID, encodeExtendedHandshake(this.#ctx.extensions.handshake({
        v: 'p2pshare 0.1.0',
        p: this.#ctx.listenPort,
        reqq: MAX_QUEUED_UPLOADS
      }))))
    }
  }

  // ---- ExtensionPeer ----

  sendExtended (name: string, payload: Uint8Array): boolean {
    const id = this.extensions[name]
    if (id === undefined || id === 0) return false
    this.wire.write(encode.extended(id, payload))
    return true
  }

  hasRoom (): boolean {
    return this.wire.hasRoom()
  }

  close (reason: string): void {
    this.wire.close(reason)
  }

  get pipelineDepth (): number {
    if (this.snubbed) return 1
    const byRate = Math.ceil(this.downloadRate.rate * PIPELINE_SECONDS / 16384)
    return Math.min(MAX_PIPELINE, this.peerReqq, Math.max(MIN_PIPELINE, byRate))
  }

  /** Does the peer have a piece we lack? */
  isInteresting (): boolean {
    const has = this.has
    const have = this.#ctx.have
    if (has === undefined || have.complete) return false
    if (has === 'all') return true
    for (let i = 0; i < have.size; i++) if (has.has(i) && !have.has(i)) return true
    return false
  }

  updateInterest (): void {
    const want = this.isInteresting()
    if (want === this.amInterested) return
    this.amInterested = want
    this.wire.write(want ? encode.interested() : encode.notInterested())
  }

  /** Top the request pipeline up. */
  fillRequests (now: number): void {
    // No room: a peer that does not read would otherwise get a batch of requests for every unchoke it sends.
    if (this.peerChoking || !this.amInterested || this.wire.closed || !this.wire.hasRoom()) return
    const depth = this.pipelineDepth
    const room = depth - this.requests.size
    // Top up in batches of a quarter of the pipeline (at least BATCH_REQUESTS), all in one write: every write to a
    // loopback socket costs a system call and a wake-up of the other side, which measured as a fifth of the
    // downloader's time when requests went out sixteen at a time.
    if (room <= 0 || (this.requests.size > 0 && room < Math.min(depth / 2, Math.max(BATCH_REQUESTS, depth / 4)))) return
    const picks = this.#picks
    picks.length = 0
    this.#ctx.pick(this, room, picks)
    if (picks.length === 0) return
    for (const p of picks) this.requests.set(blockKey(p.index, p.begin), { index: p.index, begin: p.begin, length: p.length, at: now })
    this.wire.write(encode.requests(picks))
  }

  choke (): void {
    if (this.amChoking) return
    this.amChoking = true
    this.wire.write(encode.choke())
    // BEP 6: with the fast extension every dropped request is rejected explicitly.
    for (const r of this.uploadQueue) this.reject(r)
    this.uploadQueue = []
  }

  /**
   * BEP 6: tell a fast peer we will not serve this request. Dropped when the peer leaves too much of our output
   * unread (PeerWire.hasRoom): reading from it is then paused, and a peer that reads gets nowhere near the bound.
   */
  reject (r: BlockRef): void {
    if (this.fast && this.wire.hasRoom()) this.wire.write(encode.reject(r.index, r.begin, r.length))
  }

  unchoke (): void {
    if (!this.amChoking) return
    this.amChoking = false
    this.wire.write(encode.unchoke())
  }

  /**
   * Tell the peer we have a piece, unless it has it too (a seed never needs our haves). Haves wait for `flushHaves`
   * (the next read from the peer, or the transfer's have timer, 20 ms) so that they go out several to a write.
   */
  sendHave (index: number): void {
    const has = this.has
    if (has === 'all' || has?.has(index) === true) return
    this.#haves.push(index)
  }

  /** Haves wait (at most one per piece) while the peer leaves too much of our output unread. */
  flushHaves (): void {
    if (this.#haves.length === 0 || this.wire.closed || !this.wire.hasRoom()) return
    this.wire.write(encode.haves(this.#haves))
    this.#haves.length = 0
  }

  /** The socket took everything we had queued: send what waited for room. */
  drained (): void {
    this.flushHaves()
    this.#ctx.extensions.onDrain(this)
  }

  cancel (block: BlockRef): void {
    if (this.requests.delete(blockKey(block.index, block.begin))) this.wire.write(encode.cancel(block.index, block.begin, block.length))
  }

  /** Forget every outstanding request (choked without fast, closed, timed out), giving the blocks back. */
  dropRequests (filter?: (r: BlockRef & { at: number }) => boolean): number {
    let n = 0
    for (const [key, r] of this.requests) {
      if (filter !== undefined && !filter(r)) continue
      this.requests.delete(key)
      this.#ctx.requestDropped(this, r)
      n++
    }
    return n
  }

  // ---- WireHandler ----

  onMessage (m: Message): void {
    switch (m.type) {
      case 'keepAlive': return
      case 'choke':
        this.peerChoking = true
        // BEP 6: a fast peer rejects each request it drops; others drop them all silently on choke.
        if (!this.fast) this.dropRequests()
        return
      case 'unchoke':
        this.peerChoking = false
        this.fillRequests(Date.now())
        return
      case 'interested':
        this.peerInterested = true
        this.#ctx.wantsUnchoke(this)
        return
      case 'notInterested':
        this.peerInterested = false
        return
      case 'have': {
        if (m.index >= this.#ctx.pieceCount) { this.wire.close(`have for piece ${m.index} of ${this.#ctx.pieceCount}`); return }
        if (this.has === 'all') return
        this.has ??= new Bitfield(this.#ctx.pieceCount)
        if (this.has.set(m.index)) {
          this.#ctx.peerBitfieldChanged(this, m.index)
          // Now a seed: counted as one ('all', outside the availability counts), its piece counts taken back.
          if (this.has.complete && !this.wire.closed) {
            const bits = this.has
            this.has = 'all'
            this.#ctx.peerBitfieldChanged(this, 'all', bits)
          }
        }
        return
      }
      case 'bitfield': {
        // BEP 3 wants the bitfield first; aria2 1.36 sends one after have-none (BEP 6). The later one wins.
        const bits = new Bitfield(this.#ctx.pieceCount, m.bitfield)
        const previous = this.has
        this.has = bits.complete ? 'all' : bits
        this.#ctx.peerBitfieldChanged(this, this.has, previous)
        return
      }
      case 'haveAll':
      case 'haveNone':
        if (!this.fast || this.has !== undefined) { this.wire.close(`${m.type} without the fast extension or after the first message`); return }
        this.has = m.type === 'haveAll' ? 'all' : new Bitfield(this.#ctx.pieceCount)
        this.#ctx.peerBitfieldChanged(this, this.has)
        return
      case 'request': {
        if (this.amChoking || this.uploadQueue.length >= MAX_QUEUED_UPLOADS) { this.reject(m); return }
        this.#ctx.serve(this, { index: m.index, begin: m.begin, length: m.length })
        return
      }
      case 'cancel': {
        // In place: a flood of cancels costs no new queue each.
        const i = this.uploadQueue.findIndex(r => r.index === m.index && r.begin === m.begin && r.length === m.length)
        if (i !== -1) this.uploadQueue.splice(i, 1)
        return
      }
      case 'reject': {
        const key = blockKey(m.index, m.begin)
        const r = this.requests.get(key)
        if (r !== undefined) {
          this.requests.delete(key)
          this.#ctx.requestDropped(this, r)
        }
        return
      }
      case 'extended':
        if (m.id === EXTENDED_HANDSHAKE_ID) {
          const h = decodeExtendedHandshake(m.payload)
          this.extensions = h.m
          this.clientName = h.v ?? ''
          if (h.reqq !== undefined) this.peerReqq = Math.max(1, Math.min(h.reqq, MAX_PIPELINE))
          this.#ctx.extensions.onHandshake(this, h)
        } else {
          this.#ctx.extensions.onMessage(this, m.id, m.payload)
        }
        return
      case 'port':
      case 'suggest':
      case 'allowedFast':
        return
    }
  }

  /**
   * Only a block we asked this peer for (and still wait for) is taken, and only while the connection is open: an
   * unrequested one (pushed junk, or one that comes after we cancelled it or gave up on it) is read and discarded,
   * so it can neither mix into a piece others are filling nor count as downloaded. In the endgame each peer asked
   * for a block has it among its own requests; the first to deliver it cancels the others'.
   */
  onBlockStart (index: number, begin: number, length: number): void {
    this.#block = { index, begin, length }
    const requested = this.requests.get(blockKey(index, begin))
    this.#blockTarget = requested !== undefined && requested.length === length && !this.wire.closed
      ? this.#ctx.blockTarget(this, index, begin, length)
      : undefined
  }

  /**
   * Another peer has just delivered this block whole: if this connection is in the middle of receiving the same
   * block, the rest of its bytes must not land in the piece buffer, which may already be verified and on its way to
   * the disk, or even reused for another piece by the time they arrive.
   */
  abandonBlock (index: number, begin: number): void {
    if (this.#blockTarget !== undefined && this.#block.index === index && this.#block.begin === begin) this.#blockTarget = undefined
  }

  onBlockData (data: Uint8Array, offset: number): void {
    // The one copy of the payload: from the socket's read buffer into the piece buffer.
    this.#blockTarget?.set(data, offset)
  }

  onBlockEnd (): void {
    const b = this.#block
    const key = blockKey(b.index, b.begin)
    const requested = this.requests.get(key)
    // An unrequested block earns the peer nothing: no rate (which unchoking rewards), no end to a snub.
    if (requested === undefined || requested.length !== b.length || this.wire.closed) { this.#blockTarget = undefined; return }
    this.requests.delete(key)
    this.downloadRate.add(b.length)
    this.snubbed = false
    if (this.#blockTarget !== undefined) {
      this.#blockTarget = undefined
      this.downloaded += b.length
      this.#ctx.blockReceived(this, b.index, b.begin, b.length)
    }
  }
}
