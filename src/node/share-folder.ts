/**
 * `share FOLDER`: a folder is shared as a multi-file torrent over BitTorrent, announced to the tracker. The seed's
 * chunk protocol (`/register`, `GET_CHUNK`) names one file by its SHA-1 and has no notion of a folder, so a folder
 * is not registered in the catalogue: peers reach it through its magnet link (or a .torrent `create` writes), which
 * name the same info hash as `create FOLDER` with the same tracker.
 */
import { Bitfield, createMetainfo, magnetLink, type ParsedInfo } from '../content/index.js'
import { announceUrl, passkeyParam, trackerBaseUrl } from '../discovery/index.js'
import { PieceStore } from '../storage/index.js'
import { Transfer, type RateLimiter } from '../swarm/index.js'
import { Announcer, makePeerId } from './announcer.js'
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
  readonly transfer: Transfer
  readonly #listener: PeerListener
  readonly #store: PieceStore
  readonly #announcer: Announcer

  private constructor (info: SharedFolderInfo, listener: PeerListener, transfer: Transfer, store: PieceStore, announcer: Announcer) {
    this.info = info
    this.#listener = listener
    this.transfer = transfer
    this.#store = store
    this.#announcer = announcer
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
    const store = PieceStore.open(created.files.map(f => ({ path: f.path, length: f.length })), info.pieceLength, 'read')
    const peerId = makePeerId()
    const transfer = seedingTransfer(info, store, peerId, listening.port, options)
    holder.transfer = transfer
    transfer.start()
    const announcer = new Announcer({ trackers: [announce], transfer, peerId, port: listening.port, totalLength: info.totalSize, ...(options.onLog === undefined ? {} : { onLog: options.onLog }) })
    try {
      await announcer.start()
    } catch (err) {
      transfer.close()
      store.close()
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
    }, listener, transfer, store, announcer)
  }

  get stats (): PeerListener['stats'] {
    return this.#listener.stats
  }

  async close (): Promise<void> {
    await this.#announcer.stop()
    this.transfer.close()
    this.#store.close()
    await this.#listener.close()
  }
}

function seedingTransfer (info: ParsedInfo, store: PieceStore, peerId: Buffer, port: number, options: ShareFolderOptions): Transfer {
  return new Transfer({
    infoHash: Buffer.from(info.infoHash, 'hex'),
    pieceHashes: info.pieces,
    pieceLength: info.pieceLength,
    totalLength: info.totalSize,
    store,
    have: Bitfield.full(info.pieceCount),
    peerId,
    listenPort: port,
    metadata: info.raw,
    seed: true,
    ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }),
    ...(options.onLog === undefined ? {} : { onLog: options.onLog })
  })
}
