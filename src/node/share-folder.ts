/**
 * `share FOLDER`: a folder is shared as a multi-file torrent over BitTorrent, announced to the tracker. The seed's
 * chunk protocol (`/register`, `GET_CHUNK`) names one file by its SHA-1 and has no notion of a folder, so a folder
 * is not registered in the catalogue: peers reach it through its magnet link (or a .torrent `create` writes), which
 * name the same info hash as `create FOLDER` with the same tracker.
 */
import { createMetainfo, magnetLink } from '../content/index.js'
import { announceUrl, passkeyParam, trackerBaseUrl } from '../discovery/index.js'
import { PieceStore } from '../storage/index.js'
import type { RateLimiter, Transfer } from '../swarm/index.js'
import { startSeeding, stopSeeding, type Seeding } from './seeding.js'
import { PeerListener } from './peer-listener.js'

export interface ShareFolderOptions {
  path: string
  port: number
  host: string
  trackerUrl: string
  signal?: AbortSignal
  onHashProgress?: (hashed: number, size: number) => void
  onLog?: (message: string) => void
  uploadLimit?: RateLimiter
  /** `created by` in the torrent (not part of the info hash). */
  createdBy: string
}

export interface SharedFolderInfo {
  name: string
  files: number
  size: number
  pieceLength: number
  infoHash: string
  magnet: string
  listening: { host: string, port: number }
}

export class SharedFolder {
  readonly info: SharedFolderInfo
  readonly #listener: PeerListener
  readonly #seeding: Seeding

  private constructor (info: SharedFolderInfo, listener: PeerListener, seeding: Seeding) {
    this.info = info
    this.#listener = listener
    this.#seeding = seeding
  }

  get transfer (): Transfer {
    return this.#seeding.transfer
  }

  static async start (options: ShareFolderOptions): Promise<SharedFolder> {
    const announce = announceUrl(options.trackerUrl)
    const created = await createMetainfo({
      path: options.path,
      trackers: [`${trackerBaseUrl(options.trackerUrl)}/announce`],
      createdBy: options.createdBy,
      // A private tracker's torrents are private (BEP 27), as `share FILE` and `create` make them.
      ...(passkeyParam(options.trackerUrl) === '' ? {} : { private: true }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onHashProgress === undefined ? {} : { onProgress: options.onHashProgress })
    })
    const { info } = created
    const holder: { transfer?: Transfer } = {}
    const listener = new PeerListener({
      host: options.host,
      port: options.port,
      dialect: 'published',
      // No file of this share is served with GET_CHUNK: it answers every chunk request with "not found".
      source: { size: () => undefined, readInto: async () => {} },
      torrents: (hash) => holder.transfer !== undefined && hash.equals(holder.transfer.infoHash) ? holder.transfer : undefined,
      ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit })
    })
    const listening = await listener.listen()
    const seeding = startSeeding({
      store: PieceStore.open(created.files.map(f => ({ path: f.path, length: f.length })), info.pieceLength, 'read'),
      infoHash: info.infoHash,
      info: info.raw,
      pieces: info.pieces,
      pieceLength: info.pieceLength,
      totalLength: info.totalSize,
      port: listening.port,
      trackerUrl: announce,
      uploadLimit: options.uploadLimit,
      onLog: options.onLog
    })
    holder.transfer = seeding.transfer
    try {
      await seeding.announcer.start()
    } catch (err) {
      await stopSeeding(seeding)
      await listener.close()
      throw err
    }
    return new SharedFolder({
      name: info.name,
      files: info.files.length,
      size: info.totalSize,
      pieceLength: info.pieceLength,
      infoHash: info.infoHash,
      magnet: magnetLink({ infoHash: info.infoHash, name: info.name, trackers: [announce] }),
      listening
    }, listener, seeding)
  }

  get stats (): PeerListener['stats'] {
    return this.#listener.stats
  }

  async close (): Promise<void> {
    await Promise.all([stopSeeding(this.#seeding), this.#listener.close()])
  }
}
