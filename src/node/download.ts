/**
 * Download a file named by the tracker (a name or a file hash) into `<outDir>/<file hash>`, as the seed does.
 */
import { parseFileHash } from '../content/index.js'
import { SeedTrackerClient, type LookupResult } from '../discovery/index.js'
import { TransferError } from '../errors.js'
import { ensureDir, hasVerifiedCopy, libraryPath } from '../storage/index.js'
import { downloadLegacy, type LegacyDownloadEvent, type LegacyProgress } from '../swarm/index.js'

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
  onStart?: (info: { chunks: number, peers: number, path: string }) => void
  onProgress?: (progress: LegacyProgress) => void
  onEvent?: (event: LegacyDownloadEvent) => void
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
  // The output folder is made while the tracker answers (this also starts the I/O thread pool early).
  const [lookup] = await Promise.all([resolveTarget(tracker, options.target, signal), ensureDir(options.outDir)])
  options.onLookup?.(lookup)
  const fileHash = parseFileHash(lookup.file_hash)
  if (fileHash === undefined) throw new TransferError('ERR_TRACKER_REPLY', `Tracker gave an invalid file hash: ${lookup.file_hash}`)
  const path = libraryPath(options.outDir, fileHash)
  const base = { path, fileHash, fileName: lookup.file_name, size: lookup.file_size }

  if (await hasVerifiedCopy(options.outDir, fileHash, lookup.file_size, signal)) {
    return { ...base, elapsedMs: Date.now() - started, alreadyPresent: true }
  }
  if (lookup.peers.length === 0 && lookup.file_size > 0) throw new TransferError('ERR_NO_PEERS', 'No peers found for this file')

  const chunks = Math.max(...lookup.peers.map(p => p.chunks.length), 0)
  options.onStart?.({ chunks, peers: lookup.peers.length, path })
  await downloadLegacy({
    fileHash,
    fileSize: lookup.file_size,
    peers: lookup.peers,
    finalPath: path,
    ...pick(options, ['workers', 'connectTimeoutMs', 'idleTimeoutMs', 'signal', 'onProgress', 'onEvent'])
  })
  return { ...base, elapsedMs: Date.now() - started, alreadyPresent: false }
}

/** The entries of `source` named in `keys` that are defined (exactOptionalPropertyTypes-friendly spreading). */
function pick<T extends object, K extends keyof T> (source: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: Partial<Record<K, unknown>> = {}
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key]
  return out as { [P in K]?: Exclude<T[P], undefined> }
}
