/**
 * Download a file named by the tracker (a name or a file hash) into `<outDir>/<file hash>`, as the seed does.
 *
 * When the tracker knows the file's info hash and peers announce it (our peers do), the download is a BitTorrent
 * one: metadata from those peers (BEP 9), pieces checked one by one, and every legacy-only peer of the lookup (the
 * seed's Python peers) fetched with GET_CHUNK into the same pieces. Otherwise it is the seed's GET_CHUNK download.
 * Either way the whole-file SHA-1 is checked before the file gets its final name.
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { hashFile, parseFileHash, parseInfoDict, type ParsedInfo } from '../content/index.js'
import { announceUrl, SeedTrackerClient, type LookupResult } from '../discovery/index.js'
import { AbortError, P2PError, TransferError } from '../errors.js'
import { ensureDir, existsRefused, hasVerifiedCopy, libraryPath, moveIntoPlace, pathKind, PieceStore } from '../storage/index.js'
import { downloadLegacy, fetchMetadata, Transfer, type LegacyDownloadEvent, type LegacyProgress, type RateLimiter } from '../swarm/index.js'
import { Announcer, makePeerId } from './announcer.js'
import { untilDoneOrStalled } from './download-watch.js'
import { listenForTorrent, openForDownload } from './torrent-download.js'


export interface DownloadOptions {
  /** A file name known to the tracker, a file hash, or an info hash the tracker knows (our tracker only). */
  target: string
  trackerUrl: string
  outDir: string
  workers?: number
  connectTimeoutMs?: number
  idleTimeoutMs?: number
  signal?: AbortSignal
  onLookup?: (lookup: LookupResult) => void
  /**
   * `chunks` are GET_CHUNK chunks, or pieces over BitTorrent; `peers` counts both kinds, `legacyPeers` the peers
   * fetched with GET_CHUNK alongside BitTorrent ones.
   */
  onStart?: (info: { protocol: 'legacy' | 'bittorrent', chunks: number, peers: number, legacyPeers: number, path: string }) => void
  onProgress?: (progress: LegacyProgress) => void
  onEvent?: (event: LegacyDownloadEvent) => void
  /** An earlier, interrupted BitTorrent download left `<hash>.part`; `verified` of its `pieces` are kept. */
  onResume?: (info: { verified: number, pieces: number }) => void
  /**
   * `auto` (default): BitTorrent with the peers that announce the file, GET_CHUNK with legacy-only ones.
   * `get-chunk`: the seed's protocol only, from every listed peer.
   */
  protocol?: 'auto' | 'get-chunk'
  /** A BitTorrent download without a payload byte for this long fails (default 60 s; 0: never). */
  stallTimeoutMs?: number
  /** What a BitTorrent download waits for (no peers yet, connecting to N), when it changes. */
  onWaiting?: (waiting: string | undefined) => void
  /** Replace a different file already at `<outDir>/<file hash>` (default: refuse with ERR_OUTPUT_EXISTS). */
  overwrite?: boolean
  /** Where to accept BitTorrent peers while downloading (default 0.0.0.0, any free port). */
  host?: string
  port?: number
  uploadLimit?: RateLimiter
  downloadLimit?: RateLimiter
  onLog?: (message: string) => void
  /** A peer was banned: pieces it sent failed their SHA-1 check too often. */
  onBanned?: (peer: string, reason: string) => void
}

export interface DownloadOutcome {
  path: string
  fileHash: string
  fileName: string
  size: number
  /** From the tracker lookup to the verified file under its final name. */
  elapsedMs: number
  /** True when a verified copy was already there and nothing was fetched. */
  alreadyPresent: boolean
  /** Payload bytes received by protocol (duplicates in the endgame not counted; resumed bytes neither). */
  received: ReceivedBytes
}

export interface ReceivedBytes {
  bittorrent: number
  getChunk: number
}

/** Ask the tracker for a file by hash (when the target is one) or by name. */
export async function resolveTarget (tracker: SeedTrackerClient, target: string, signal?: AbortSignal): Promise<LookupResult> {
  const hash = parseFileHash(target)
  // A 40-hex target is a file hash or an info hash (both SHA-1s); a name otherwise (or if neither is known).
  const found = (hash === undefined ? undefined : await tracker.lookupByHash(hash, signal) ?? await tracker.lookupByInfoHash(hash, signal)) ??
    await tracker.lookupByName(target, signal)
  if (found === undefined) throw new TransferError('ERR_NOT_FOUND', `File not found on tracker: ${target}`)
  return found
}

export async function downloadFile (options: DownloadOptions): Promise<DownloadOutcome> {
  const started = Date.now()
  const { signal } = options
  const tracker = new SeedTrackerClient(options.trackerUrl)
  const lookup = await resolveTarget(tracker, options.target, signal)
  options.onLookup?.(lookup)
  const fileHash = parseFileHash(lookup.file_hash)
  if (fileHash === undefined) throw new TransferError('ERR_TRACKER_REPLY', `Tracker gave an invalid file hash: ${lookup.file_hash}`)
  const path = libraryPath(options.outDir, fileHash)
  const base = { path, fileHash, fileName: lookup.file_name, size: lookup.file_size }

  if (await hasVerifiedCopy(options.outDir, fileHash, lookup.file_size, signal)) {
    return { ...base, elapsedMs: Date.now() - started, alreadyPresent: true, received: { bittorrent: 0, getChunk: 0 } }
  }
  // Something else under the hash's name (a damaged copy, a link) is not replaced unless asked.
  if (options.overwrite !== true && await pathKind(path) !== 'missing') throw existsRefused(path, 'nothing was downloaded')
  if (options.protocol !== 'get-chunk' && lookup.info_hash !== undefined && (lookup.bt_peers ?? []).length > 0 && lookup.file_size > 0) {
    const received = await downloadOverBitTorrent(lookup, fileHash, path, options)
    if (received !== undefined) return { ...base, elapsedMs: Date.now() - started, alreadyPresent: false, received }
  }
  if (lookup.peers.length === 0 && lookup.file_size > 0) throw new TransferError('ERR_NO_PEERS', 'No peers found for this file')
  // The output folder appears only once there is something to put in it.
  await ensureDir(options.outDir)
  const chunks = Math.max(...lookup.peers.map(p => p.chunks.length), 0)
  options.onStart?.({ protocol: 'legacy', chunks, peers: lookup.peers.length, legacyPeers: lookup.peers.length, path })
  await downloadLegacy({
    fileHash,
    fileSize: lookup.file_size,
    peers: lookup.peers,
    finalPath: path,
    ...pick(options, ['workers', 'connectTimeoutMs', 'idleTimeoutMs', 'signal', 'onProgress', 'onEvent', 'downloadLimit', 'overwrite'])
  })
  return { ...base, elapsedMs: Date.now() - started, alreadyPresent: false, received: { bittorrent: 0, getChunk: lookup.file_size } }
}

/**
 * The BitTorrent download of a catalogue file, legacy-only peers joining in with GET_CHUNK. Undefined (and nothing
 * written) when it cannot start, namely no peer sends metadata that fits the catalogue entry and legacy peers can
 * still serve the file the seed's way.
 */
async function downloadOverBitTorrent (lookup: LookupResult, fileHash: string, path: string, options: DownloadOptions): Promise<ReceivedBytes | undefined> {
  const { signal } = options
  const peerId = makePeerId()
  const btPeers = (lookup.bt_peers ?? []).map(p => ({ host: p.ip, port: p.port }))
  const btKeys = new Set(btPeers.map(p => peerAddress(p.host, p.port)))
  // A peer of ours is in both lists (one port serves both protocols): BitTorrent is used with it.
  const legacyOnly = lookup.peers.filter(p => !btKeys.has(peerAddress(p.ip, p.port)))
  const { listener, port, ref } = await listenForTorrent(options.host, options.port)
  let store: PieceStore | undefined
  let announcer: Announcer | undefined
  try {
    const infoHash = lookup.info_hash as string
    let info: ParsedInfo
    try {
      info = parseInfoDict(await fetchMetadata({
        infoHash: Buffer.from(infoHash, 'hex'), peerId, listenPort: port, peers: btPeers, ...pick(options, ['signal', 'onLog'])
      }))
    } catch (err) {
      if (!(err instanceof P2PError) || err.code === 'ERR_ABORTED' || legacyOnly.length === 0) throw err
      options.onLog?.(`BitTorrent metadata unavailable (${err.message}); using GET_CHUNK only`)
      return undefined
    }
    if (info.files.length !== 1 || info.totalSize !== lookup.file_size) {
      const why = `the torrent of info hash ${infoHash} is not this file (${info.files.length} files, ${info.totalSize} bytes)`
      if (legacyOnly.length === 0) throw new TransferError('ERR_TRACKER_REPLY', `Tracker catalogue mismatch: ${why}`)
      options.onLog?.(`${why}; using GET_CHUNK only`)
      return undefined
    }
    const part = `${path}.part`
    const opened = await openForDownload([{ path: part, length: info.totalSize }], part, info, options.onResume, resolve(options.outDir))
    store = opened.store
    const have = opened.have
    const transfer = new Transfer({
      infoHash: Buffer.from(infoHash, 'hex'),
      pieceHashes: info.pieces,
      pieceLength: info.pieceLength,
      totalLength: info.totalSize,
      store,
      have,
      peerId,
      listenPort: port,
      metadata: info.raw,
      onProgress: (t) => options.onProgress?.({
        downloaded: t.verifiedBytes, total: info.totalSize, chunksDone: t.have.count, chunks: info.pieceCount, peers: t.peers.size + t.legacySources.size
      }),
      ...pick(options, ['uploadLimit', 'downloadLimit', 'onLog', 'onBanned'])
    })
    ref.transfer = transfer
    transfer.start()
    options.onStart?.({ protocol: 'bittorrent', chunks: info.pieceCount, peers: btPeers.length + legacyOnly.length, legacyPeers: legacyOnly.length, path })
    transfer.addPeers(btPeers, 'catalogue')
    transfer.addLegacyPeers(legacyOnly, { fileHash, ...pick(options, ['connectTimeoutMs', 'idleTimeoutMs']) })
    announcer = new Announcer({
      trackers: [announceUrl(options.trackerUrl)], transfer, peerId, port, totalLength: info.totalSize, ...pick(options, ['onLog'])
    })
    await announcer.start()
    const tracked = announcer
    await untilDoneOrStalled(transfer, { signal, stallTimeoutMs: options.stallTimeoutMs, trackers: () => tracked.trackers, onWaiting: options.onWaiting })
    await announcer.completed()
    // Every piece matched the torrent; the catalogue's file hash is checked too, as the seed's download does.
    store.close()
    const actual = await hashFile(part, pick(options, ['signal']))
    if (actual.sha1 !== fileHash) {
      await rm(part, { force: true })
      throw new TransferError('ERR_HASH_MISMATCH', `Hash mismatch! Expected ${fileHash}, got ${actual.sha1} (the torrent registered for this file holds other content)`)
    }
    await moveIntoPlace(part, path, options.overwrite === true)
    return { bittorrent: transfer.downloaded - transfer.downloadedWithGetChunk, getChunk: transfer.downloadedWithGetChunk }
  } catch (err) {
    // Interrupted or failed, a partial file with verified pieces is kept to resume from; one with none is not.
    if (!(err instanceof AbortError) && ref.transfer !== undefined && ref.transfer.have.count === 0) {
      store?.close()
      await rm(`${path}.part`, { force: true })
    }
    throw err
  } finally {
    await announcer?.stop()
    ref.transfer?.close()
    store?.close()
    await listener.close()
  }
}

function peerAddress (host: string, port: number): string {
  return `${host.replace(/^::ffff:/, '')}:${port}`
}

/** The entries of `source` named in `keys` that are defined (exactOptionalPropertyTypes-friendly spreading). */
function pick<T extends object, K extends keyof T> (source: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: Partial<Record<K, unknown>> = {}
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key]
  return out as { [P in K]?: Exclude<T[P], undefined> }
}
