/**
 * Which block to ask a peer for next: finish pieces already started, then the rarest piece the peer has (ties
 * broken at random), or the lowest one in sequential mode; once every missing block is asked for, the endgame
 * lets a block be asked of a second peer (bounded), and the loser is cancelled when the block arrives.
 */
import type { Bitfield } from '../content/index.js'
import { BLOCK_SIZE } from '../wire/index.js'

export interface BlockRef {
  index: number
  begin: number
  length: number
}

/** In the endgame, a block is asked of at most this many peers at once. */
export const ENDGAME_MAX_DUPLICATES = 2

interface ActivePiece {
  index: number
  size: number
  blocks: number
  /** Outstanding requests per block. */
  requested: Uint8Array
  /** 1 once the block arrived. */
  received: Uint8Array
  receivedCount: number
  /** Blocks never requested yet (for a quick "anything left?" check). */
  unrequested: number
}

export interface PickerOptions {
  sequential?: boolean
  random?: () => number
}

export class PiecePicker {
  readonly pieceCount: number
  readonly pieceLength: number
  readonly totalLength: number
  readonly availability: Uint16Array
  readonly #have: Bitfield
  readonly #active = new Map<number, ActivePiece>()
  readonly #sequential: boolean
  readonly #random: () => number

  constructor (have: Bitfield, pieceLength: number, totalLength: number, options: PickerOptions = {}) {
    this.#have = have
    this.pieceCount = have.size
    this.pieceLength = pieceLength
    this.totalLength = totalLength
    this.availability = new Uint16Array(have.size)
    this.#sequential = options.sequential ?? false
    this.#random = options.random ?? Math.random
  }

  get have (): Bitfield {
    return this.#have
  }

  get complete (): boolean {
    return this.#have.complete
  }

  /** Pieces being downloaded. */
  get activeCount (): number {
    return this.#active.size
  }

  pieceSize (index: number): number {
    return Math.min(this.pieceLength, this.totalLength - index * this.pieceLength)
  }

  // Availability: how many connected peers have each piece. Seeds (have-all) add the same to every piece, which
  // changes no ordering, so they are not counted.
  addPeer (bitfield: Bitfield | 'all'): void {
    if (bitfield === 'all') return
    for (let i = 0; i < this.pieceCount; i++) if (bitfield.has(i)) this.availability[i] = (this.availability[i] ?? 0) + 1
  }

  removePeer (bitfield: Bitfield | 'all'): void {
    if (bitfield === 'all') return
    for (let i = 0; i < this.pieceCount; i++) if (bitfield.has(i)) this.availability[i] = Math.max(0, (this.availability[i] ?? 0) - 1)
  }

  peerHas (index: number): void {
    this.availability[index] = (this.availability[index] ?? 0) + 1
  }

  /**
   * Append up to `max` blocks to ask a peer that has `peer` (a bitfield, or 'all' for a seed) to `out`.
   * `isRequestedByPeer` tells blocks this peer already asked for (never asked twice of one peer).
   */
  pick (peer: Bitfield | 'all', max: number, out: BlockRef[], isRequestedByPeer: (index: number, begin: number) => boolean,
    elsewhere?: (index: number) => boolean): void {
    if (max <= 0) return
    // `elsewhere` (given for a seed) tells pieces better fetched from another peer that has them: outside the
    // endgame, the seed is only asked for what nobody else can give, so its upload is not spent on copies.
    const peerHas = elsewhere === undefined
      ? (i: number): boolean => peer === 'all' || peer.has(i)
      : (i: number): boolean => (peer === 'all' || peer.has(i)) && !((this.availability[i] ?? 0) > 0 && elsewhere(i))
    // 1. Blocks never asked for, of pieces already started: the fewer missing, the sooner a piece is done.
    for (const piece of this.#active.values()) {
      if (piece.unrequested === 0 || !peerHas(piece.index)) continue
      this.#takeBlocks(piece, max, out, 0, isRequestedByPeer)
      if (out.length >= max) return
    }
    // 2. New pieces, rarest first (or in order).
    while (out.length < max) {
      const index = this.#nextPiece(peerHas)
      if (index === -1) break
      this.#takeBlocks(this.#start(index), max, out, 0, isRequestedByPeer)
    }
    if (out.length >= max) return
    // 3. Endgame: nothing is left unrequested for this peer; ask again for blocks still in flight elsewhere.
    for (const piece of this.#active.values()) {
      if (peer !== 'all' && !peer.has(piece.index)) continue
      this.#takeBlocks(piece, max, out, ENDGAME_MAX_DUPLICATES - 1, isRequestedByPeer)
      if (out.length >= max) return
    }
  }

  /**
   * Claim the pieces among `first`..`last` that nobody works on (not had, no block asked for or arrived), whole, for
   * a source that fetches them as one unit (a `GET_CHUNK` peer). Every block of those counts as requested once; give
   * back the ones that do not come with `requestDropped`. Returns the claimed indexes (maybe none).
   */
  claimPieces (first: number, last: number): number[] {
    const claimed: number[] = []
    for (let i = first; i <= last; i++) {
      if (this.#have.has(i)) continue
      let piece = this.#active.get(i)
      if (piece !== undefined && (piece.receivedCount > 0 || piece.unrequested !== piece.blocks)) continue
      piece ??= this.#start(i)
      piece.requested.fill(1)
      piece.unrequested = 0
      claimed.push(i)
    }
    return claimed
  }

  /** A requested block will not come from that peer (rejected, choked, timed out, disconnected). */
  requestDropped (index: number, begin: number): void {
    const piece = this.#active.get(index)
    if (piece === undefined) return
    const b = begin / BLOCK_SIZE
    if ((piece.requested[b] ?? 0) > 0) {
      piece.requested[b] = (piece.requested[b] ?? 1) - 1
      if (piece.requested[b] === 0 && piece.received[b] === 0) piece.unrequested++
    }
  }

  /**
   * A block arrived. Returns 'new' if it was wanted, 'duplicate' if it had already arrived (endgame twin or an
   * unrequested block), 'unknown' if its piece is not being downloaded. `pieceDone` tells when the piece is whole.
   */
  blockReceived (index: number, begin: number): { status: 'new' | 'duplicate' | 'unknown', pieceDone: boolean } {
    const piece = this.#active.get(index)
    if (piece === undefined) return { status: 'unknown', pieceDone: false }
    const b = begin / BLOCK_SIZE
    if (piece.received[b] === 1) return { status: 'duplicate', pieceDone: false }
    if ((piece.requested[b] ?? 0) > 0) piece.requested[b] = (piece.requested[b] ?? 1) - 1
    else piece.unrequested--
    piece.received[b] = 1
    piece.receivedCount++
    return { status: 'new', pieceDone: piece.receivedCount === piece.blocks }
  }

  /** Is this block of an active piece still missing (not yet arrived)? */
  wants (index: number, begin: number): boolean {
    const piece = this.#active.get(index)
    return piece !== undefined && piece.received[begin / BLOCK_SIZE] === 0
  }

  /** The piece passed its hash check. */
  pieceVerified (index: number): void {
    this.#active.delete(index)
    this.#have.set(index)
  }

  /** The piece failed its hash check: every block is wanted again. */
  pieceFailed (index: number): void {
    this.#active.delete(index)
  }

  #start (index: number): ActivePiece {
    const size = this.pieceSize(index)
    const blocks = Math.ceil(size / BLOCK_SIZE)
    const piece: ActivePiece = { index, size, blocks, requested: new Uint8Array(blocks), received: new Uint8Array(blocks), receivedCount: 0, unrequested: blocks }
    this.#active.set(index, piece)
    return piece
  }

  #takeBlocks (piece: ActivePiece, max: number, out: BlockRef[], allowOutstanding: number, isRequestedByPeer: (index: number, begin: number) => boolean): void {
    for (let b = 0; b < piece.blocks && out.length < max; b++) {
      if (piece.received[b] === 1) continue
      const outstanding = piece.requested[b] ?? 0
      if (outstanding > allowOutstanding) continue
      if (allowOutstanding > 0 && outstanding === 0) continue
      const begin = b * BLOCK_SIZE
      if (outstanding > 0 && (isRequestedByPeer(piece.index, begin) || out.some(r => r.index === piece.index && r.begin === begin))) continue
      if (outstanding === 0) piece.unrequested--
      piece.requested[b] = outstanding + 1
      out.push({ index: piece.index, begin, length: Math.min(BLOCK_SIZE, piece.size - begin) })
    }
  }

  #nextPiece (peerHas: (i: number) => boolean): number {
    const n = this.pieceCount
    if (this.#sequential) {
      for (let i = 0; i < n; i++) if (!this.#have.has(i) && !this.#active.has(i) && peerHas(i)) return i
      return -1
    }
    // Rarest first; the scan starts at a random place so equally rare pieces are spread across downloaders.
    let best = -1
    let bestAvailability = Number.POSITIVE_INFINITY
    const start = Math.floor(this.#random() * n)
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n
      if (this.#have.has(i) || this.#active.has(i) || !peerHas(i)) continue
      const a = this.availability[i] ?? 0
      if (a < bestAvailability) {
        best = i
        bestAvailability = a
        if (a === 0) break
      }
    }
    return best
  }
}
