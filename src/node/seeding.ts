/**
 * Seeding complete content over BitTorrent: a transfer that has every piece, over a read-only store, announced to
 * one tracker. What `share FILE` and `share FOLDER` both run.
 */
import { Bitfield } from '../content/index.js'
import { announceUrl } from '../discovery/index.js'
import type { PieceStore } from '../storage/index.js'
import { Transfer, type RateLimiter } from '../swarm/index.js'
import { Announcer, makePeerId } from './announcer.js'

export interface Seeding {
  transfer: Transfer
  store: PieceStore
  announcer: Announcer
}

export interface SeedingOptions {
  /** Opened for reading; closed by stopSeeding. */
  store: PieceStore
  infoHash: string
  /** The raw info dictionary, served through ut_metadata. */
  info: Buffer
  pieces: Buffer
  pieceLength: number
  totalLength: number
  port: number
  trackerUrl: string
  uploadLimit?: RateLimiter | undefined
  onLog?: ((message: string) => void) | undefined
}

/** Starts the transfer; the caller awaits `announcer.start()` once inbound connections can reach the transfer. */
export function startSeeding (o: SeedingOptions): Seeding {
  const peerId = makePeerId()
  const transfer = new Transfer({
    infoHash: Buffer.from(o.infoHash, 'hex'),
    pieceHashes: o.pieces,
    pieceLength: o.pieceLength,
    totalLength: o.totalLength,
    store: o.store,
    have: Bitfield.full(Math.ceil(o.totalLength / o.pieceLength)),
    peerId,
    listenPort: o.port,
    metadata: o.info,
    seed: true,
    ...(o.uploadLimit === undefined ? {} : { uploadLimit: o.uploadLimit }),
    ...(o.onLog === undefined ? {} : { onLog: o.onLog })
  })
  transfer.start()
  const announcer = new Announcer({
    trackers: [announceUrl(o.trackerUrl)],
    transfer,
    peerId,
    port: o.port,
    totalLength: o.totalLength,
    ...(o.onLog === undefined ? {} : { onLog: o.onLog })
  })
  return { transfer, store: o.store, announcer }
}

/** Announces `stopped` (bounded), then closes the transfer and its store. */
export async function stopSeeding (seeding: Seeding | undefined): Promise<void> {
  if (seeding === undefined) return
  await seeding.announcer.stop()
  seeding.transfer.close()
  seeding.store.close()
}
