/**
 * BEP 9 ut_metadata as an extension: serves the info dictionary in 16 KiB pieces to peers that ask (a magnet
 * downloader), and, for a torrent that does not have it yet, asks peers for it and keeps it once its SHA-1 is the info
 * hash. Bounded: one metadata buffer per torrent (MAX_METADATA_BYTES), requests answered only while the peer reads
 * what we send (a piece waits, at most once per piece, for the socket to drain).
 */
import { createHash } from 'node:crypto'
import { ProtocolError } from '../errors.js'
import { decodeMetadataMessage, encodeMetadataMessage, METADATA_PIECE_SIZE, type ExtendedHandshake, type MetadataMessage } from '../wire/index.js'
import type { ExtensionPeer, PeerExtension } from './extensions.js'

export const UT_METADATA = 'ut_metadata'

export interface UtMetadataOptions {
  /** The info dictionary when we have it (served); undefined while we fetch it. */
  metadata: () => Buffer | undefined
  /** Set when fetching: the info hash the dictionary must hash to, and who gets it. */
  fetch?: { infoHash: Buffer, onMetadata: (raw: Buffer) => void, onLog?: (message: string) => void }
}

/**
 * Sizes of info dictionary fetched at once: peers that disagree on `metadata_size` each fill their own copy (a peer
 * lying about it cannot hold up the honest ones), two copies at most.
 */
const MAX_COPIES = 2

interface Fetching {
  size: number
  data: Buffer
  received: Uint8Array
  missing: number
  /** Who sent each piece: a dictionary that does not hash right costs every sender its connection. */
  senders: Set<ExtensionPeer>
}

export class UtMetadata implements PeerExtension {
  readonly name = UT_METADATA
  readonly #o: UtMetadataOptions
  /** Pieces asked for while the peer's output was at its bound, sent once it drains. */
  readonly #wanted = new WeakMap<ExtensionPeer, Set<number>>()
  /** Copies being filled, by the size their peers announced; and which size each offering peer said. */
  readonly #copies = new Map<number, Fetching>()
  readonly #offered = new Map<ExtensionPeer, number>()
  #done = false

  constructor (options: UtMetadataOptions) {
    this.#o = options
  }

  handshakeFields (): Omit<Partial<ExtendedHandshake>, 'm'> {
    const metadata = this.#o.metadata()
    return metadata === undefined ? {} : { metadataSize: metadata.length }
  }

  onHandshake (peer: ExtensionPeer, remote: ExtendedHandshake): void {
    const fetch = this.#o.fetch
    const size = remote.metadataSize
    if (fetch === undefined || this.#done || size === undefined || (peer.extensions[UT_METADATA] ?? 0) === 0) return
    this.#offered.set(peer, size)
    this.#request(peer, size)
  }

  onClose (peer: ExtensionPeer): void {
    this.#offered.delete(peer)
  }

  onMessage (peer: ExtensionPeer, payload: Uint8Array): void {
    const message = decodeMetadataMessage(payload)
    if (message.type === 'request') { this.#serve(peer, message.piece); return }
    if (message.type === 'reject') { this.#o.fetch?.onLog?.(`${peer.id}: refused metadata piece ${message.piece}`); return }
    this.#received(peer, message)
  }

  onDrain (peer: ExtensionPeer): void {
    const wanted = this.#wanted.get(peer)
    if (wanted === undefined) return
    for (const piece of wanted) {
      if (!peer.hasRoom()) return
      wanted.delete(piece)
      this.#serve(peer, piece)
    }
  }

  /** Ask this peer for every piece of its size's copy still missing (pieces are small; several may send the same one). */
  #request (peer: ExtensionPeer, size: number): void {
    let f = this.#copies.get(size)
    if (f === undefined) {
      if (this.#copies.size >= MAX_COPIES) return
      const pieces = Math.ceil(size / METADATA_PIECE_SIZE)
      f = { size, data: Buffer.alloc(size), received: new Uint8Array(pieces), missing: pieces, senders: new Set() }
      this.#copies.set(size, f)
    }
    for (let piece = 0; piece < f.received.length; piece++) {
      if (f.received[piece] === 0) peer.sendExtended(UT_METADATA, encodeMetadataMessage({ type: 'request', piece }))
    }
  }

  #received (peer: ExtensionPeer, message: Extract<MetadataMessage, { type: 'data' }>): void {
    const fetch = this.#o.fetch
    const size = this.#offered.get(peer)
    // Pieces nobody asked this peer for (it offered none, or we have the dictionary) are dropped.
    const f = size === undefined ? undefined : this.#copies.get(size)
    if (f === undefined || fetch === undefined || this.#done) return
    const offset = message.piece * METADATA_PIECE_SIZE
    const expected = Math.min(METADATA_PIECE_SIZE, f.size - offset)
    if (message.totalSize !== f.size || offset >= f.size || message.data.length !== expected) {
      throw new ProtocolError('ERR_BAD_METADATA', `metadata piece ${message.piece} of the wrong size`)
    }
    if (f.received[message.piece] === 1) return
    f.received[message.piece] = 1
    f.senders.add(peer)
    message.data.copy(f.data, offset)
    if (--f.missing > 0) return
    this.#copies.delete(f.size)
    if (!createHash('sha1').update(f.data).digest().equals(fetch.infoHash)) {
      // Someone sent junk: those who sent pieces of this copy lose their connections, the others are asked again.
      fetch.onLog?.(`metadata from ${[...f.senders].map(p => p.id).join(', ')} does not match the info hash: asking the others again`)
      for (const sender of f.senders) { this.#offered.delete(sender); sender.close('sent metadata that does not match the info hash') }
      for (const [other, otherSize] of this.#offered) this.#request(other, otherSize)
      return
    }
    this.#done = true
    this.#copies.clear()
    this.#offered.clear()
    fetch.onMetadata(f.data)
  }

  /** BEP 9: the piece of the info dictionary, or a reject; deferred while the peer leaves too much unread. */
  #serve (peer: ExtensionPeer, piece: number): void {
    const metadata = this.#o.metadata()
    const offset = piece * METADATA_PIECE_SIZE
    const exists = metadata !== undefined && offset < metadata.length
    if (!peer.hasRoom()) {
      if (!exists) return
      let wanted = this.#wanted.get(peer)
      if (wanted === undefined) { wanted = new Set(); this.#wanted.set(peer, wanted) }
      wanted.add(piece)
      return
    }
    const reply: MetadataMessage = exists
      ? { type: 'data', piece, totalSize: metadata.length, data: metadata.subarray(offset, offset + METADATA_PIECE_SIZE) }
      : { type: 'reject', piece }
    peer.sendExtended(UT_METADATA, encodeMetadataMessage(reply))
  }
}
