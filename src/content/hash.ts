/**
 * Streaming SHA-1 of a file: read in fixed blocks into one reused buffer, never the whole file in memory.
 */
import { createHash, type Hash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { AbortError } from '../errors.js'

/** Read size for hashing: large enough that syscalls cost nothing next to SHA-1, small enough to stay in cache. */
const HASH_READ_BYTES = 1024 * 1024

export interface FileDigest {
  /** SHA-1 of the whole file, 40 lowercase hex. */
  sha1: string
  size: number
}

export interface HashFileOptions {
  signal?: AbortSignal
  /** Called after each block with the bytes hashed so far. */
  onProgress?: (hashed: number) => void
}

export async function hashFile (path: string, options: HashFileOptions = {}): Promise<FileDigest> {
  const handle = await open(path, 'r')
  try {
    const hash = createHash('sha1')
    const buffer = Buffer.allocUnsafe(HASH_READ_BYTES)
    let size = 0
    for (;;) {
      if (options.signal?.aborted === true) throw new AbortError()
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      size += bytesRead
      options.onProgress?.(size)
    }
    return { sha1: hash.digest('hex'), size }
  } finally {
    await handle.close()
  }
}

/**
 * SHA-1 over a file that is written out of order: ranges are fed as they complete, and the hash advances over the
 * longest contiguous prefix. Out-of-order ranges are held in memory up to `maxPendingBytes`; beyond that only their
 * position is kept and their bytes are read back from `readAt` when the prefix reaches them, so memory stays bounded
 * however far ahead the writers get.
 */
export class SequentialHasher {
  readonly #hash: Hash = createHash('sha1')
  readonly #pending = new Map<number, { length: number, data: Buffer | undefined, release?: (data: Buffer) => void }>()
  readonly #maxPendingBytes: number
  readonly #readAt: (offset: number, length: number) => Buffer
  #pendingBytes = 0
  #hashed = 0

  constructor (options: { maxPendingBytes: number, readAt: (offset: number, length: number) => Buffer }) {
    this.#maxPendingBytes = options.maxPendingBytes
    this.#readAt = options.readAt
  }

  /** Bytes hashed so far (the length of the contiguous prefix). */
  get hashed (): number {
    return this.#hashed
  }

  /**
   * Feed the completed range starting at `offset`. Without `release`, `data` is copied if it must wait, and may be
   * reused as soon as the call returns. With `release`, the hasher keeps `data` itself (no copy) and calls
   * `release(data)` once it no longer needs it — at once when it was hashed or cannot be kept.
   */
  add (offset: number, data: Buffer, release?: (data: Buffer) => void): void {
    if (offset === this.#hashed) {
      this.#hash.update(data)
      this.#hashed += data.length
      release?.(data)
      this.#drain()
      return
    }
    const keep = this.#pendingBytes + data.length <= this.#maxPendingBytes
    if (keep) this.#pendingBytes += data.length
    const kept = !keep ? undefined : release === undefined ? Buffer.from(data) : data
    this.#pending.set(offset, { length: data.length, data: kept, ...(release === undefined || !keep ? {} : { release }) })
    if (!keep || release === undefined) release?.(data)
  }

  /** The hex digest; valid once every byte of the file has been added. */
  digest (expectedSize: number): string {
    if (this.#hashed !== expectedSize) throw new Error(`SequentialHasher: ${this.#hashed} of ${expectedSize} bytes hashed`)
    return this.#hash.digest('hex')
  }

  #drain (): void {
    for (;;) {
      const next = this.#pending.get(this.#hashed)
      if (next === undefined) return
      this.#pending.delete(this.#hashed)
      if (next.data !== undefined) {
        this.#pendingBytes -= next.length
        this.#hash.update(next.data)
        next.release?.(next.data)
      } else {
        this.#hash.update(this.#readAt(this.#hashed, next.length))
      }
      this.#hashed += next.length
    }
  }
}
