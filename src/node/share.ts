/**
 * A sharing peer as the seed's `--share`: hash the file (streaming), keep a copy in the library, listen for chunk
 * requests, register with the tracker. It listens before it registers, so a port in use fails before the tracker
 * lists a peer that cannot answer.
 *
 * The one hashing pass also gives the piece hashes of the file as a single-file torrent (the piece length chosen as
 * `create` chooses it, nothing else in the info dictionary), so `share FILE` and `create FILE` name the same info hash.
 * The registration uploads that torrent (`metainfo`), which our tracker serves at `/torrent/<info hash>`.
 */
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import {
  chunkCount, DIALECT_CHUNK_SIZE, encodeInfo, encodeMetainfo, hashContent, infoHashOf, magnetLink, pathProblem, pieceLengthFor,
  type LegacyDialect
} from '../content/index.js'
import { announceUrl, passkeyParam, SeedTrackerClient, trackerBaseUrl, type RegisterResult } from '../discovery/index.js'
import { TRACKER_MAX_METAINFO_BYTES } from '../tracker/limits.js'
import { StorageError, systemErrorCode, TrackerError } from '../errors.js'
import { saveCopy, SharedFiles } from '../storage/index.js'
import { Transfer, type RateLimiter } from '../swarm/index.js'
import type { PeerListener } from './peer-listener.js'
import { Session, type Torrent } from '../session/index.js'
import type { LegacyOutcome } from '../wire/index.js'

/** The unregister call at stop waits at most this (the tracker's probe of a closed port fails at once). */
const UNREGISTER_TIMEOUT_MS = 1_000

export interface ShareOptions {
  path: string
  /** Port to listen on; 0 picks a free one. */
  port: number
  /** Address to bind; the seed binds 0.0.0.0. */
  host: string
  /** Address to register with the tracker (the seed's `ip` field). */
  ip: string
  trackerUrl: string
  dialect: LegacyDialect
  libraryDir: string
  signal?: AbortSignal
  onHashProgress?: (hashed: number, size: number) => void
  onRequest?: (outcome: LegacyOutcome, remote: string) => void
  /** Details for --verbose: BitTorrent connections, announces. */
  onLog?: (message: string) => void
  /** Upload limit shared by every transfer of the process, BitTorrent and GET_CHUNK replies together. */
  uploadLimit?: RateLimiter
}

export interface ShareInfo {
  fileName: string
  fileHash: string
  size: number
  /** BitTorrent info hash of the file as a single-file torrent; absent for an empty file (BitTorrent has no torrent of 0 bytes). */
  infoHash?: string
  /** Magnet link with the info hash, the file's name and the tracker's announce URL; absent with `infoHash`. */
  magnet?: string
  /** BitTorrent piece length used for the info hash (pieceLengthFor the file's size). */
  pieceLength: number
  chunks: number
  chunkSize: number
  copyPath: string
  listening: { host: string, port: number }
  /**
   * The tracker's answer to `/register`; or, when it has no such route (a BitTorrent-only tracker) and the file is
   * shared over BitTorrent alone, why not.
   */
  registration: RegisterResult | { notRegistered: string }
}

export class SharingPeer {
  readonly info: ShareInfo
  readonly #session: Session
  readonly #files: SharedFiles
  readonly #seeded: Torrent | undefined
  readonly #unregister: (() => Promise<void>) | undefined

  private constructor (info: ShareInfo, session: Session, files: SharedFiles, seeded: Torrent | undefined, unregister?: () => Promise<void>) {
    this.info = info
    this.#session = session
    this.#files = files
    this.#seeded = seeded
    this.#unregister = unregister
  }

  /** The BitTorrent side of this share while it runs (absent for an empty file): uploads, peers. */
  get transfer (): Transfer | undefined {
    return this.#seeded?.transfer
  }

  /** Bytes uploaded over BitTorrent (also after close). */
  get uploaded (): number {
    return this.#seeded?.uploadedThisRun ?? 0
  }

  get stats (): PeerListener['stats'] {
    return this.#session.listenerStats
  }

  static async start (options: ShareOptions): Promise<SharingPeer> {
    let size: number
    try {
      const info = await stat(options.path)
      if (!info.isFile()) throw new StorageError('ERR_INPUT', `Not a regular file: ${options.path}`)
      size = info.size
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw new StorageError('ERR_INPUT', `Cannot read ${options.path}: ${systemErrorCode(err) === 'ENOENT' ? 'no such file' : systemErrorCode(err) ?? String(err)}`, { cause: err })
    }
    const pieceLength = pieceLengthFor(size)
    const hashed = await hashContent([{ path: options.path, length: size }], {
      pieceLength,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (done) => options.onHashProgress?.(done, size)
    })
    const digest = { sha1: (hashed.files[0] as { sha1: string }).sha1, size: hashed.totalSize }
    const fileName = basename(options.path)
    const torrent = torrentIdentity(fileName, pieceLength, hashed.pieces, digest.size, options.trackerUrl)
    const chunkSize = DIALECT_CHUNK_SIZE[options.dialect]
    const chunks = chunkCount(digest.size, chunkSize)

    const files = new SharedFiles()
    files.add({ fileHash: digest.sha1, path: options.path, size: digest.size })
    // One port for both protocols: GET_CHUNK for the seed's peers, BitTorrent (routed by info hash) for the rest.
    // The BitTorrent side is a session of one torrent, in memory: seeding is the node's lifecycle, not one of its own.
    const session = await Session.open({
      host: options.host,
      port: options.port,
      chunks: {
        dialect: options.dialect,
        source: { size: (h) => files.get(h)?.size, readInto: async (...args) => { await files.readInto(...args) } },
        ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest })
      },
      ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit })
    })
    const onLog = options.onLog
    if (onLog !== undefined) session.events.on('log', (l) => { onLog(l.message) })
    const listening = session.address
    try {
      const tracker = new SeedTrackerClient(options.trackerUrl)
      const registration = await tracker.register({
        file_name: fileName,
        file_hash: digest.sha1,
        file_size: digest.size,
        chunks: Array.from({ length: chunks }, (_, i) => i),
        ip: options.ip,
        port: listening.port,
        chunk_size: chunkSize,
        ...(torrent === undefined ? {} : { info_hash: torrent.infoHash }),
        // The .torrent for the tracker to serve; a tracker that does not know the field ignores it.
        ...(torrent?.metainfo === undefined ? {} : { metainfo: torrent.metainfo.toString('base64') })
      }, options.signal).catch((err: unknown) => {
        // A tracker that speaks only BitTorrent (opentracker, for one) has no /register: the file is then shared over
        // BitTorrent alone, announced there. Unreachable trackers and refused registrations still fail.
        if (torrent === undefined || !(err instanceof TrackerError) || err.code !== 'ERR_TRACKER_REPLY') throw err
        return { notRegistered: err.message }
      })
      const copyPath = await saveCopy(options.path, options.libraryDir, digest.sha1, digest.size)
      // Announced with the tracker URL as given (a private tracker's passkey included).
      const seeded = torrent === undefined
        ? undefined
        : await session.seedInPlace(encodeMetainfo({ info: torrent.info, trackers: [announceUrl(options.trackerUrl)] }), options.path, options.signal === undefined ? {} : { signal: options.signal })
      const identity = torrent === undefined ? {} : { infoHash: torrent.infoHash, magnet: torrent.magnet }
      const unregister = async (): Promise<void> => {
        await new SeedTrackerClient(options.trackerUrl, { timeoutMs: UNREGISTER_TIMEOUT_MS }).unregister({ ip: options.ip, port: listening.port })
      }
      return new SharingPeer({ fileName, fileHash: digest.sha1, size: digest.size, ...identity, pieceLength, chunks, chunkSize, copyPath, listening, registration }, session, files, seeded, unregister)
    } catch (err) {
      await session.close()
      await files.close()
      throw err
    }
  }

  async close (): Promise<void> {
    // The `stopped` announce and the unregistration run side by side, each bounded (1 s), so a tracker that does
    // not answer delays the end by one of them only. The listener closes before the unregistration: the tracker's
    // check that this peer is gone then succeeds, and it leaves peers_count at once, not after three failed probes.
    await Promise.all([this.#session.close(), (async () => {
      await this.#session.stopListening()
      await this.#files.close()
      if (this.#unregister !== undefined && !('notRegistered' in this.info.registration)) await this.#unregister().catch(() => {})
    })()])
  }
}

/**
 * The file's info hash and magnet link as `create` would make them: info = { length, name, piece length, pieces },
 * and `private` (BEP 27) when the tracker URL carries a passkey: a private tracker's torrents get peers from their
 * trackers only.
 * Undefined when there is none: an empty file, or a name no torrent may carry (file-list.ts refuses those too).
 * `metainfo` is the .torrent around that info dictionary, announcing to the tracker (without a private tracker's
 * passkey: the tracker serves it to everyone); absent above what a tracker accepts (TRACKER_MAX_METAINFO_BYTES, a
 * file of over 3 TiB), when the file is registered without it.
 */
function torrentIdentity (name: string, pieceLength: number, pieces: Buffer, size: number, trackerUrl: string): { infoHash: string, info: Buffer, magnet: string, metainfo?: Buffer } | undefined {
  if (size === 0 || pathProblem([name]) !== undefined) return undefined
  const info = encodeInfo({ name, pieceLength, pieces, length: size, private: passkeyParam(trackerUrl) !== '' })
  const infoHash = infoHashOf(info)
  const metainfo = encodeMetainfo({ info, trackers: [`${trackerBaseUrl(trackerUrl)}/announce`] })
  return {
    infoHash,
    info,
    magnet: magnetLink({ infoHash, name, trackers: [announceUrl(trackerUrl)] }),
    ...(metainfo.length > TRACKER_MAX_METAINFO_BYTES ? {} : { metainfo })
  }
}
