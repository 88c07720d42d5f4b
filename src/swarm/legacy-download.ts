/**
 * Download one file from the seed's peers with `GET_CHUNK`: every listed peer at once, `workers` chunk fetches in
 * flight, a failed or stalled fetch moved to another peer, each chunk written at its offset into a partial file,
 * the whole-file SHA-1 computed as the file fills in, and the file renamed to its final name only if it matches.
 *
 * Peers of both dialects can serve one download. The work is cut on the coarsest chunk grid among the peers (1 MiB
 * when any published-dialect peer is there); a README-dialect peer serves such a region as its run of 1 KiB chunks.
 */
import { chunkCount, inferChunkSize, SequentialHasher } from '../content/index.js'
import { DEFAULT_LEGACY_WORKERS, LEGACY_MAX_ATTEMPTS_PER_CHUNK, LEGACY_PEER_MAX_FAILURES, MAX_LEGACY_WORKERS } from '../constants.js'
import type { LegacyPeer } from '../discovery/index.js'
import { AbortError, P2PError, TransferError, ValidationError } from '../errors.js'
import { PartialFile } from '../storage/index.js'
import { fetchChunk, type FetchChunkOptions, type Throttle } from '../wire/index.js'

/** Out-of-order chunks kept in memory for the running file hash; beyond this they are read back from disk. */
const MAX_PENDING_HASH_BYTES = 8 * 1024 * 1024

export interface LegacyProgress {
  downloaded: number
  total: number
  chunksDone: number
  chunks: number
  /** Peers still in use (not dropped after repeated failures). */
  peers: number
}

export type LegacyDownloadEvent =
  | { type: 'chunk', index: number, chunks: number, peer: string }
  | { type: 'chunk-failed', index: number, peer: string, error: string }
  | { type: 'peer-dropped', peer: string, error: string }

export interface LegacyDownloadOptions {
  fileHash: string
  fileSize: number
  peers: readonly LegacyPeer[]
  /** The final path; bytes go to `<finalPath>.part` until verified. */
  finalPath: string
  /** Replace a file that appeared at `finalPath` meanwhile (default: fail with ERR_OUTPUT_EXISTS). */
  overwrite?: boolean
  workers?: number
  connectTimeoutMs?: number
  idleTimeoutMs?: number
  signal?: AbortSignal
  onProgress?: (progress: LegacyProgress) => void
  onEvent?: (event: LegacyDownloadEvent) => void
  /** Download rate limit (`-d`), shared with any other transfer of the process. */
  downloadLimit?: Throttle
  /** Injectable for tests; the real `fetchChunk` by default. */
  fetch?: (options: FetchChunkOptions) => Promise<Buffer>
}

export interface LegacyDownloadResult {
  path: string
  fileHash: string
  size: number
  elapsedMs: number
}

interface PeerState {
  id: string
  host: string
  port: number
  chunkSize: number
  has: Set<number>
  inFlight: number
  failures: number
  dropped: boolean
  lastError: string
}

interface Task {
  index: number
  offset: number
  length: number
  candidates: PeerState[]
  tried: Set<PeerState>
  attempts: number
}

export async function downloadLegacy (options: LegacyDownloadOptions): Promise<LegacyDownloadResult> {
  const started = Date.now()
  const { fileHash, fileSize, signal } = options
  const workers = options.workers ?? DEFAULT_LEGACY_WORKERS
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_LEGACY_WORKERS) {
    throw new ValidationError(`--workers must be an integer from 1 to ${MAX_LEGACY_WORKERS}`)
  }
  const fetch = options.fetch ?? fetchChunk
  const peers = options.peers.map((p): PeerState => ({
    id: `${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${p.port}`,
    host: p.ip,
    port: p.port,
    chunkSize: inferChunkSize(fileSize, p.chunks, p.chunk_size),
    has: new Set(p.chunks),
    inFlight: 0,
    failures: 0,
    dropped: false,
    lastError: ''
  }))
  if (peers.length === 0 && fileSize > 0) throw new TransferError('ERR_NO_PEERS', 'No peers found for this file')

  const grid = peers.reduce((max, p) => Math.max(max, p.chunkSize), 0)
  const count = fileSize === 0 ? 0 : chunkCount(fileSize, grid)
  const queue: Task[] = []
  for (let index = 0; index < count; index++) {
    const offset = index * grid
    const length = Math.min(grid, fileSize - offset)
    const candidates = peers.filter(p => covers(p, offset, length))
    queue.push({ index, offset, length, candidates, tried: new Set(), attempts: 0 })
  }
  const unservable = queue.filter(t => t.candidates.length === 0)
  if (unservable.length > 0) {
    throw new TransferError('ERR_NO_PEERS', `No peer has chunk ${unservable[0]?.index ?? 0} of this file (${unservable.length} of ${count} chunks missing from every peer)`)
  }

  const partial = PartialFile.create(options.finalPath, fileSize)
  const hasher = new SequentialHasher({ maxPendingBytes: MAX_PENDING_HASH_BYTES, readAt: (o, l) => partial.read(o, l) })
  const progress: LegacyProgress = { downloaded: 0, total: fileSize, chunksDone: 0, chunks: count, peers: peers.length }
  const failed: Task[] = []
  const local = new AbortController()
  let localError: Error | undefined
  const onAbort = (): void => { local.abort() }
  signal?.addEventListener('abort', onAbort, { once: true })

  // Chunk buffers circulate: a worker fills one, and if the running hash cannot take it yet the hasher keeps it
  // (no copy) and hands it back when done. At most `workers` + MAX_PENDING_HASH_BYTES / grid buffers exist.
  const spare: Buffer[] = []
  const release = (b: Buffer): void => { spare.push(Buffer.from(b.buffer, b.byteOffset, grid)) }
  const worker = async (): Promise<void> => {
    let buffer = spare.pop() ?? Buffer.allocUnsafe(grid)
    for (;;) {
      if (local.signal.aborted) return
      const task = queue.shift()
      if (task === undefined) return
      const peer = pickPeer(task)
      if (peer === undefined) { failed.push(task); continue }
      task.attempts++
      task.tried.add(peer)
      peer.inFlight++
      try {
        const data = buffer.subarray(0, task.length)
        await fetchRegion(fetch, peer, task, data, fileHash, options, local.signal)
        // Written before it is hashed: a range the hasher cannot keep in memory is read back from the file later.
        // A failed write (a full disk) is ours, not the peer's: the whole download stops with it.
        try {
          await partial.writeAsync(data, task.offset)
        } catch (err) {
          localError ??= err instanceof Error ? err : new Error(String(err))
          local.abort()
          return
        }
        hasher.add(task.offset, data, release)
        buffer = spare.pop() ?? Buffer.allocUnsafe(grid)
        peer.failures = 0
        progress.downloaded += task.length
        progress.chunksDone++
        options.onEvent?.({ type: 'chunk', index: task.index, chunks: count, peer: peer.id })
        options.onProgress?.(progress)
      } catch (err) {
        if (local.signal.aborted) return
        const message = err instanceof P2PError ? err.message : String(err)
        peer.failures++
        peer.lastError = message
        options.onEvent?.({ type: 'chunk-failed', index: task.index, peer: peer.id, error: message })
        if (peer.failures >= LEGACY_PEER_MAX_FAILURES && !peer.dropped) {
          peer.dropped = true
          progress.peers--
          options.onEvent?.({ type: 'peer-dropped', peer: peer.id, error: message })
          options.onProgress?.(progress)
        }
        if (task.attempts < LEGACY_MAX_ATTEMPTS_PER_CHUNK && task.candidates.some(p => !p.dropped)) queue.unshift(task)
        else failed.push(task)
      } finally {
        peer.inFlight--
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: Math.min(workers, Math.max(count, 1)) }, async () => { await worker() }))
    if (localError !== undefined) throw localError
    if (signal?.aborted === true) throw new AbortError('Download interrupted')
    if (failed.length > 0) {
      const reasons = [...new Set(peers.filter(p => p.lastError !== '').map(p => `${p.id}: ${p.lastError}`))].slice(0, 3)
      throw new TransferError('ERR_PEERS_FAILED', `Download incomplete: ${failed.length} of ${count} chunks could not be fetched; peers unreachable or too slow (${reasons.join('; ')})`)
    }
    const actual = hasher.digest(fileSize)
    if (actual !== fileHash) throw new TransferError('ERR_HASH_MISMATCH', `Hash mismatch! Expected ${fileHash}, got ${actual}`)
    partial.commit(options.overwrite === true)
  } finally {
    signal?.removeEventListener('abort', onAbort)
    partial.discard()
  }
  return { path: options.finalPath, fileHash, size: fileSize, elapsedMs: Date.now() - started }
}

/** Does this peer list every one of its chunks that overlap [offset, offset + length)? */
function covers (peer: PeerState, offset: number, length: number): boolean {
  const first = Math.floor(offset / peer.chunkSize)
  const last = Math.floor((offset + length - 1) / peer.chunkSize)
  for (let id = first; id <= last; id++) if (!peer.has.has(id)) return false
  return true
}

/** A live candidate not yet tried for this task if any, else any live one; fewest fetches in flight, ties random. */
function pickPeer (task: Task): PeerState | undefined {
  const live = task.candidates.filter(p => !p.dropped)
  const fresh = live.filter(p => !task.tried.has(p))
  const pool = fresh.length > 0 ? fresh : live
  if (pool.length === 0) return undefined
  const least = Math.min(...pool.map(p => p.inFlight))
  const best = pool.filter(p => p.inFlight === least)
  return best[Math.floor(Math.random() * best.length)]
}

/** Fetch the task's bytes from one peer: one request, or the run of the peer's smaller chunks covering it. */
async function fetchRegion (
  fetch: (options: FetchChunkOptions) => Promise<Buffer>, peer: PeerState, task: Task, target: Buffer,
  fileHash: string, options: LegacyDownloadOptions, signal: AbortSignal
): Promise<void> {
  for (let done = 0; done < task.length;) {
    const offset = task.offset + done
    const length = Math.min(peer.chunkSize - (offset % peer.chunkSize), task.length - done)
    await fetch({
      host: peer.host,
      port: peer.port,
      fileHash,
      chunkId: Math.floor(offset / peer.chunkSize),
      expectedLength: length,
      target: target.subarray(done, done + length),
      signal,
      ...(options.downloadLimit === undefined ? {} : { limit: options.downloadLimit }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs })
    })
    done += length
  }
}
