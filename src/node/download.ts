/**
 * Download a file named by the tracker (a name or a file hash) into `<outDir>/<file hash>`, as the seed does.
 *
 * When the tracker knows the file's info hash and peers announce it (our peers do), the download is a BitTorrent
 * one: metadata from those peers (BEP 9), pieces checked one by one, and every legacy-only peer of the lookup (the
 * seed's Python peers) fetched with GET_CHUNK into the same pieces. Otherwise it is the seed's GET_CHUNK download.
 * Either way the whole-file SHA-1 is checked before the file gets its final name.
 */
import { rm } from 'node:fs/promises'
import { hashFile, magnetLink, parseFileHash } from '../content/index.js'
import { announceUrl, SeedTrackerClient, type LookupResult } from '../discovery/index.js'
import { AbortError, P2PError, TransferError } from '../errors.js'
import type { Session } from '../session/session.js'
import type { Torrent } from '../session/torrent.js'
import { ensureDir, existsRefused, hasVerifiedCopy, libraryPath, pathKind } from '../storage/index.js'
import { downloadLegacy, type LegacyDownloadEvent, type LegacyProgress, type RateLimiter, type Transfer } from '../swarm/index.js'
import { follow, oneShotSession } from './torrent-download.js'


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
  /** A BitTorrent peer connected, and where it came from (tracker, catalogue, pex, incoming...). */
  onPeer?: (peer: string, source: string) => void
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

/** Before its metadata, a catalogue download gives its BitTorrent peers this long before GET_CHUNK alone is used. */
const METADATA_FALLBACK_MS = 15_000
const FALLBACK_CHECK_MS = 250

/**
 * The BitTorrent download of a catalogue file, legacy-only peers joining in with GET_CHUNK: a one-shot session's
 * torrent (torrent-download.ts), its metadata fetched over its own connections to the peers the catalogue lists,
 * stored as `<out>/<file hash>`. Undefined (and nothing written) when it cannot start, namely no peer sends metadata
 * that fits the catalogue entry in time and legacy peers can still serve the file the seed's way.
 */
async function downloadOverBitTorrent (lookup: LookupResult, fileHash: string, path: string, options: DownloadOptions): Promise<ReceivedBytes | undefined> {
  const btPeers = (lookup.bt_peers ?? []).map(p => ({ host: p.ip, port: p.port }))
  const btKeys = new Set(btPeers.map(p => peerAddress(p.host, p.port)))
  // A peer of ours is in both lists (one port serves both protocols): BitTorrent is used with it.
  const legacyOnly = lookup.peers.filter(p => !btKeys.has(peerAddress(p.ip, p.port)))
  const infoHash = (lookup.info_hash as string).toLowerCase()
  const part = `${path}.part`
  const session = await oneShotSession(options)
  let torrent: Torrent | undefined
  let failed = false
  try {
    const added = await session.add({ kind: 'magnet', uri: magnetLink({ infoHash, name: lookup.file_name, trackers: [announceUrl(options.trackerUrl)] }) }, {}, {
      existing: options.overwrite === true ? 'replace' : 'refuse',
      seedWhenComplete: false,
      contentName: fileHash,
      acceptMetadata: (info) => {
        if (info.files.length !== 1 || info.totalSize !== lookup.file_size) {
          throw new TransferError('ERR_TRACKER_REPLY', `Tracker catalogue mismatch: the torrent of info hash ${infoHash} is not this file (${info.files.length} files, ${info.totalSize} bytes)`)
        }
      },
      // Every piece matched the torrent; the catalogue's file hash is checked too, as the seed's download does.
      beforeFinal: async (at) => {
        const actual = await hashFile(at, pick(options, ['signal']))
        if (actual.sha1 !== fileHash) {
          await rm(at, { force: true })
          throw new TransferError('ERR_HASH_MISMATCH', `Hash mismatch! Expected ${fileHash}, got ${actual.sha1} (the torrent registered for this file holds other content)`)
        }
      }
    })
    const t = session.torrent(added.id) as Torrent
    torrent = t
    t.addPeers(btPeers, 'catalogue')
    t.addLegacyPeers(legacyOnly, { fileHash, ...pick(options, ['connectTimeoutMs', 'idleTimeoutMs']) })
    // Followed from the start (a peer may be banned in the first instant); given up on if GET_CHUNK alone is used.
    const fallback = new AbortController()
    const received = { bittorrent: 0, getChunk: 0 }
    const following = follow(session, t, {
      ...pick(options, ['stallTimeoutMs', 'onWaiting', 'onResume', 'onBanned', 'onPeer']),
      signal: options.signal === undefined ? fallback.signal : AbortSignal.any([options.signal, fallback.signal]),
      onStart: (x) => {
        options.onStart?.({ protocol: 'bittorrent', chunks: t.info?.pieceCount ?? 0, peers: btPeers.length + legacyOnly.length, legacyPeers: legacyOnly.length, path })
        report(x)
      },
      onProgress: report,
      onTransferComplete: (x) => {
        received.bittorrent += x.downloaded - x.downloadedWithGetChunk
        received.getChunk += x.downloadedWithGetChunk
      }
    })
    following.catch(() => {})
    if (legacyOnly.length > 0 && !await metadataInTime(session, t, btPeers.length, options.signal)) {
      fallback.abort()
      await following.catch(() => {})
      options.onLog?.(`BitTorrent metadata unavailable (${t.record.error ?? `no peer sent it in ${METADATA_FALLBACK_MS / 1000} s`}); using GET_CHUNK only`)
      return undefined
    }
    await following
    return received
  } catch (err) {
    failed = !(err instanceof AbortError)
    throw err
  } finally {
    await session.close()
    // A failed download with verified pieces is kept to resume from; one with none is not.
    if (failed && torrent !== undefined && torrent.summary().verifiedBytes === 0) await rm(part, { force: true })
  }

  function report (t: Transfer): void {
    options.onProgress?.({ downloaded: t.verifiedBytes, total: t.totalLength, chunksDone: t.have.count, chunks: t.have.size, peers: t.peers.size + t.legacySources.size })
  }
}

/**
 * Whether the torrent got past its metadata: false when the metadata was refused (not this file), or no BitTorrent
 * peer sent it within METADATA_FALLBACK_MS, or every one of them was tried and none is left connected.
 */
async function metadataInTime (session: Session, torrent: Torrent, btPeers: number, signal: AbortSignal | undefined): Promise<boolean> {
  const deadline = Date.now() + METADATA_FALLBACK_MS
  for (let i = 0; i < METADATA_FALLBACK_MS / FALLBACK_CHECK_MS + 1 && Date.now() < deadline; i++) {
    if (signal?.aborted === true) throw new AbortError('Download interrupted')
    if (torrent.info !== undefined) return true
    if (torrent.state === 'error') {
      if (torrent.failure instanceof P2PError && torrent.failure.code !== 'ERR_TRACKER_REPLY') throw torrent.failure
      break
    }
    const m = torrent.metadataSwarm
    if (m !== undefined && m.peers === 0 && m.dialing === 0 && m.everConnected + m.dialsFailed >= btPeers) break
    await new Promise((resolve) => setTimeout(resolve, FALLBACK_CHECK_MS))
  }
  await session.remove(torrent.id)
  return false
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
