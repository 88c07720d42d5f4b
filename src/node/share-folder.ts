/**
 * `share FOLDER`: a folder is shared as a multi-file torrent over BitTorrent, announced to the tracker. The seed's
 * chunk protocol (`/register`, `GET_CHUNK`) names one file by its SHA-1 and has no notion of a folder, so a folder
 * is not registered in the catalogue: peers reach it through its magnet link (or a .torrent `create` writes), which
 * name the same info hash as `create FOLDER` with the same tracker.
 */
import { createMetainfo, encodeMetainfo, magnetLink } from '../content/index.js'
import { announceUrl, passkeyParam, trackerBaseUrl } from '../discovery/index.js'
import type { RateLimiter, Transfer } from '../swarm/index.js'
import { Session, type Torrent } from '../session/index.js'

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
  readonly #session: Session
  readonly #seeded: Torrent

  private constructor (info: SharedFolderInfo, session: Session, seeded: Torrent) {
    this.info = info
    this.#session = session
    this.#seeded = seeded
  }

  /** The seeding transfer while it runs. */
  get transfer (): Transfer | undefined {
    return this.#seeded.transfer
  }

  /** Bytes uploaded (also after close). */
  get uploaded (): number {
    return this.#seeded.uploadedThisRun
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
    // A session of one torrent, in memory, seeded from where the folder is (no GET_CHUNK: chunk requests get "not found").
    const session = await Session.open({ host: options.host, port: options.port, ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }) })
    const onLog = options.onLog
    if (onLog !== undefined) session.events.on('log', (l) => { onLog(l.message) })
    try {
      // Announced with the tracker URL as given (a private tracker's passkey included).
      const seeded = await session.seedInPlace(encodeMetainfo({ info: info.raw, trackers: [announce] }), options.path, options.signal === undefined ? {} : { signal: options.signal })
      return new SharedFolder({
        name: info.name,
        files: created.files.length,
        size: info.totalSize,
        pieceLength: info.pieceLength,
        infoHash: info.infoHash,
        magnet: magnetLink({ infoHash: info.infoHash, name: info.name, trackers: [announce] }),
        listening: session.address
      }, session, seeded)
    } catch (err) {
      await session.close()
      throw err
    }
  }

  async close (): Promise<void> {
    await this.#session.close()
  }
}
