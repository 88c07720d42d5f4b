/**
 * A legacy (`GET_CHUNK`-only) peer as a source of a BitTorrent transfer, so that one download takes pieces from
 * BitTorrent peers and from the seed's Python peers at once. The peer's chunks and the torrent's pieces are both
 * aligned from the start of the file; a region is whichever is larger, a chunk holding whole pieces (1 MiB chunks,
 * smaller pieces) or a piece made of whole chunks (1 KiB chunks, or pieces above 1 MiB). The region's pieces that
 * nobody works on are claimed from the transfer, the region fetched, and those pieces handed over block by block;
 * they are then checked by SHA-1 like any other, so a legacy peer that serves bad bytes is struck and banned as a
 * BitTorrent one would be.
 */
import { chunkCount, chunkRange, inferChunkSize } from '../content/index.js'
import { LEGACY_PEER_MAX_FAILURES } from '../constants.js'
import type { LegacyPeer } from '../discovery/index.js'
import { P2PError } from '../errors.js'
import { fetchChunk, type FetchChunkOptions, type Throttle } from '../wire/index.js'
import type { Peer } from './peer.js'

/** GET_CHUNK fetches in flight per legacy peer (the Python server answers each connection on its own thread). */
export const LEGACY_SOURCE_WORKERS = 4
/** With nothing to claim (everything is in flight elsewhere), look again this often until the transfer ends. */
const RECLAIM_POLL_MS = 250

/** What a legacy source needs from the transfer it feeds (implemented by Transfer). */
export interface RegionHost {
  readonly pieceCount: number
  readonly pieceLength: number
  readonly totalLength: number
  /** Finished, or stopped. */
  readonly ended: boolean
  /** Claim the pieces among `first`..`last` nobody works on (none while memory is short); returns their indexes. */
  claimRegion: (first: number, last: number) => number[]
  /** The region's bytes arrived (`data` starts at piece `first`); the claimed pieces are taken and checked. */
  deliverRegion: (source: LegacySource, first: number, claimed: readonly number[], data: Buffer) => void
  /** The claimed pieces will not come from this source. */
  releaseRegion: (claimed: readonly number[]) => void
  logLine: (message: string) => void
}

export interface LegacySourceOptions {
  fileHash: string
  workers?: number
  limit?: Throttle
  connectTimeoutMs?: number
  idleTimeoutMs?: number
  /** Injectable for tests; the real `fetchChunk` by default. */
  fetch?: (options: FetchChunkOptions) => Promise<Buffer>
}

interface Region { first: number, last: number, offset: number, length: number, chunks: number[], claimed: number[] }

export class LegacySource implements Peer {
  readonly id: string
  readonly host: string
  readonly port: number
  readonly protocol = 'get-chunk'
  /** The seed's protocol has no peer id. */
  readonly peerId = undefined
  readonly chunkSize: number
  strikes = 0
  failures = 0
  readonly #host: RegionHost
  readonly #has: Set<number>
  readonly #o: LegacySourceOptions
  readonly #stop = new AbortController()
  readonly #regions: number
  readonly #piecesPerRegion: number
  readonly #chunksPerRegion: number
  #stopReason = ''

  /** Throws when the peer's chunk grid and the torrent's pieces do not nest (neither size divides the other). */
  constructor (host: RegionHost, peer: LegacyPeer, options: LegacySourceOptions) {
    this.#host = host
    this.#o = options
    this.host = peer.ip
    this.port = peer.port
    this.id = `${peer.ip.includes(':') ? `[${peer.ip}]` : peer.ip}:${peer.port} (GET_CHUNK)`
    this.chunkSize = inferChunkSize(host.totalLength, peer.chunks, peer.chunk_size)
    this.#has = new Set(peer.chunks)
    const { pieceLength } = host
    if (this.chunkSize % pieceLength === 0) {
      this.#piecesPerRegion = this.chunkSize / pieceLength
      this.#chunksPerRegion = 1
    } else if (pieceLength % this.chunkSize === 0) {
      this.#piecesPerRegion = 1
      this.#chunksPerRegion = pieceLength / this.chunkSize
    } else {
      throw new Error(`${this.chunkSize}-byte chunks do not line up with ${pieceLength}-byte pieces`)
    }
    this.#regions = Math.ceil(host.pieceCount / this.#piecesPerRegion)
  }

  get stopped (): boolean {
    return this.#stop.signal.aborted
  }

  get stopReason (): string {
    return this.#stopReason
  }

  /** Fetch regions until the transfer ends or this source is stopped; resolves when every worker is done. */
  async run (): Promise<void> {
    const workers = Math.max(1, Math.min(this.#o.workers ?? LEGACY_SOURCE_WORKERS, this.#regions))
    await Promise.all(Array.from({ length: workers }, async () => { await this.#worker() }))
  }

  stop (reason: string): void {
    if (this.stopped) return
    this.#stopReason = reason
    this.#stop.abort()
  }

  disconnect (reason: string): void {
    this.stop(reason)
  }

  async #worker (): Promise<void> {
    let buffer: Buffer | undefined
    while (!this.stopped && !this.#host.ended) {
      const region = this.#claim()
      if (region === undefined) {
        await this.#sleep(RECLAIM_POLL_MS)
        continue
      }
      buffer ??= Buffer.allocUnsafe(Math.max(this.chunkSize, this.#host.pieceLength))
      const data = buffer.subarray(0, region.length)
      try {
        await this.#fetchRegion(region, data)
      } catch (err) {
        this.#host.releaseRegion(region.claimed)
        if (this.stopped || this.#host.ended) return
        this.failures++
        const message = err instanceof P2PError ? err.message : String(err)
        this.#host.logLine(`${this.id}: region of pieces ${region.first}-${region.last} failed: ${message}`)
        if (this.failures >= LEGACY_PEER_MAX_FAILURES) this.stop(`${this.failures} failed fetches in a row (last: ${message})`)
        continue
      }
      this.failures = 0
      if (this.#host.ended) return
      this.#host.deliverRegion(this, region.first, region.claimed, data)
    }
  }

  /** A region this peer has every chunk of and the transfer lets us take, scanning from a random place. */
  #claim (): Region | undefined {
    const start = Math.floor(Math.random() * this.#regions)
    for (let k = 0; k < this.#regions; k++) {
      const r = (start + k) % this.#regions
      const region = this.#region(r)
      if (!region.chunks.every(c => this.#has.has(c))) continue
      region.claimed = this.#host.claimRegion(region.first, region.last)
      if (region.claimed.length > 0) return region
    }
    return undefined
  }

  #region (r: number): Region {
    const { pieceLength, pieceCount, totalLength } = this.#host
    const first = r * this.#piecesPerRegion
    const last = Math.min(pieceCount, first + this.#piecesPerRegion) - 1
    const offset = first * pieceLength
    const length = Math.min(totalLength, (last + 1) * pieceLength) - offset
    const firstChunk = offset / this.chunkSize
    const chunks: number[] = []
    const lastChunk = Math.min(chunkCount(totalLength, this.chunkSize), firstChunk + this.#chunksPerRegion)
    for (let c = firstChunk; c < lastChunk; c++) chunks.push(c)
    return { first, last, offset, length, chunks, claimed: [] }
  }

  async #fetchRegion (region: Region, target: Buffer): Promise<void> {
    const fetch = this.#o.fetch ?? fetchChunk
    for (const chunkId of region.chunks) {
      const { offset, length } = chunkRange(chunkId, this.#host.totalLength, this.chunkSize)
      await fetch({
        host: this.host,
        port: this.port,
        fileHash: this.#o.fileHash,
        chunkId,
        expectedLength: length,
        target: target.subarray(offset - region.offset, offset - region.offset + length),
        signal: this.#stop.signal,
        ...(this.#o.limit === undefined ? {} : { limit: this.#o.limit }),
        ...(this.#o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.#o.connectTimeoutMs }),
        ...(this.#o.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: this.#o.idleTimeoutMs })
      })
    }
  }

  async #sleep (ms: number): Promise<void> {
    const signal = this.#stop.signal
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
