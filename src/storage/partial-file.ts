/**
 * A download in progress: a `.part` file beside its destination, written with positional writes, renamed to the
 * final name only once verified. Nothing ever appears under the final name unverified.
 */
import { closeSync, ftruncateSync, lstatSync, write, readSync, renameSync, rmSync, writeSync } from 'node:fs'
import { StorageError, systemErrorCode, writeError } from '../errors.js'
import { existsRefused, openNoFollow } from './safe-paths.js'

export const PARTIAL_SUFFIX = '.part'

export class PartialFile {
  readonly path: string
  readonly finalPath: string
  #fd: number | undefined
  #tail: Promise<void> = Promise.resolve()

  private constructor (finalPath: string, fd: number) {
    this.finalPath = finalPath
    this.path = finalPath + PARTIAL_SUFFIX
    this.#fd = fd
  }

  /** Create (or truncate) `<finalPath>.part` with room for `size` bytes. */
  static create (finalPath: string, size: number): PartialFile {
    let fd: number
    try {
      // Never through a link planted at the .part name (safe-paths.ts); an existing .part of ours is started over.
      fd = openNoFollow(finalPath + PARTIAL_SUFFIX, 'rw')
      ftruncateSync(fd, 0)
      ftruncateSync(fd, size)
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw new StorageError('ERR_OUTPUT', `Cannot write ${finalPath}${PARTIAL_SUFFIX}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
    }
    return new PartialFile(finalPath, fd)
  }

  /** Write all of `data` at `offset`. */
  write (data: Uint8Array, offset: number): void {
    const fd = this.#open()
    let done = 0
    try {
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done)
    } catch (err) {
      throw writeError(err, this.path)
    }
  }

  /**
   * Write all of `data` at `offset` off the main thread (the caller keeps `data` untouched until it resolves).
   * Writes into fresh page cache stall on this kind of machine; other fetches go on meanwhile.
   */
  async writeAsync (data: Uint8Array, offset: number): Promise<void> {
    // One write at a time: concurrent writes from several pool threads measured 25-50 MB more peak RSS for a 1 GiB
    // download here, and no faster (bench/results/legacy.md).
    const run = this.#tail.then(async () => { await this.#writeAll(data, offset) })
    this.#tail = run.catch(() => {})
    await run
  }

  async #writeAll (data: Uint8Array, offset: number): Promise<void> {
    const fd = this.#open()
    let done = 0
    while (done < data.length) {
      done += await new Promise<number>((resolve, reject) => {
        write(fd, data, done, data.length - done, offset + done, (err, n) => { if (err !== null) reject(writeError(err, this.path)); else resolve(n) })
      })
    }
  }

  /** Read `length` bytes at `offset` (for hashing ranges that were not kept in memory). */
  read (offset: number, length: number): Buffer {
    const fd = this.#open()
    const out = Buffer.allocUnsafe(length)
    let done = 0
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done)
      if (n === 0) throw new StorageError('ERR_SHORT_READ', `Unexpected end of ${this.path}`)
      done += n
    }
    return out
  }

  /**
   * Close and rename onto the final name. No fsync: a killed process loses nothing the kernel already has, and
   * only a power loss could leave the renamed file short; like libtorrent, Transmission and aria2 we leave that to
   * the kernel's writeback rather than pay ~0.8 s per GiB (measured, bench/results/legacy.md).
   */
  commit (overwrite = false): void {
    // Whatever appeared under the final name meanwhile is not replaced unless asked (safe-paths.ts).
    if (!overwrite && existsNoFollow(this.finalPath)) throw existsRefused(this.finalPath, 'the download was complete and verified')
    const fd = this.#open()
    closeSync(fd)
    this.#fd = undefined
    renameSync(this.path, this.finalPath)
  }

  /** Close and delete the partial file; safe to call more than once and after commit. */
  discard (): void {
    if (this.#fd !== undefined) {
      closeSync(this.#fd)
      this.#fd = undefined
      rmSync(this.path, { force: true })
    }
  }

  #open (): number {
    if (this.#fd === undefined) throw new StorageError('ERR_CLOSED', `${this.path} is closed`)
    return this.#fd
  }
}

function existsNoFollow (path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}
