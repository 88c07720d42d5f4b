/**
 * Positional piece I/O over the files of a torrent. Pieces run across file boundaries (BEP 3): the torrent's bytes
 * are the concatenation of its files in order. A verified piece is written with one positional write per file it
 * touches (PERFORMANCE.md, lesson 2); blocks are read for upload straight into the caller's send buffer.
 */
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readSync, writeSync, fstatSync } from 'node:fs'
import { read, write } from 'node:fs'
import { dirname } from 'node:path'
import { StorageError, systemErrorCode, writeError } from '../errors.js'
import { assertNoLinksInside, makeDirsInside, openNoFollow } from './safe-paths.js'

export interface StoreFile {
  /** Where the file's bytes live (already resolved inside the output folder). */
  path: string
  length: number
  /** A BEP 47 padding file: zeros, never created on disk, never written, read as zeros. */
  padding?: boolean
}

/** A block to send, and the call that says the socket is done with it (so its piece buffer can be reused). */
export interface UploadBlock {
  data: Buffer
  release: () => void
}

/**
 * What a transfer needs of where its pieces live: files on disk (PieceStore) today; a test's memory, or another
 * backend, tomorrow. A piece is written whole, once verified; blocks are read for upload without copying.
 */
export interface PieceStorage {
  writePieceAsync: (index: number, data: Uint8Array) => Promise<void>
  blockForUpload: (index: number, begin: number, length: number) => UploadBlock
  readPiece: (index: number, target?: Buffer) => Promise<Buffer>
  close: () => void
}

interface CachedPiece { buf: Buffer, size: number, refs: number, evicted: boolean }

/** Spare piece buffers kept for the upload cache. */
const MAX_FREE_UPLOAD_BUFFERS = 8

interface Span { fileIndex: number, fileOffset: number, length: number, at: number, padding: boolean }

/** Pieces kept in memory for uploads: several peers asking for the same rare pieces are served from one read. */
const UPLOAD_CACHE_BYTES = 16 * 1024 * 1024

/** Files kept open at once; more are closed least-recently-used first. */
const MAX_OPEN_FILES = 64

export class PieceStore implements PieceStorage {
  readonly pieceLength: number
  readonly totalLength: number
  readonly pieceCount: number
  readonly #files: Array<StoreFile & { offset: number }>
  readonly #fds = new Map<number, number>()
  /** Asynchronous reads and writes under way per descriptor: an fd evicted meanwhile is closed once they end. */
  readonly #busy = new Map<number, number>()
  readonly #closeWhenIdle = new Set<number>()
  readonly #writable: boolean
  readonly #uploadCache = new Map<number, CachedPiece>()
  readonly #freeBuffers: Buffer[] = []
  #uploadCacheBytes = 0
  #closed = false

  private constructor (files: StoreFile[], pieceLength: number, writable: boolean) {
    let offset = 0
    this.#files = files.map(f => { const entry = { ...f, offset }; offset += f.length; return entry })
    this.totalLength = offset
    this.pieceLength = pieceLength
    this.pieceCount = Math.ceil(offset / pieceLength)
    this.#writable = writable
  }

  /**
   * Open for seeding (read-only; files must exist with their lengths) or for downloading (folders created, files
   * created or extended to their lengths, existing bytes kept so verified pieces survive a restart).
   */
  static open (files: StoreFile[], pieceLength: number, mode: 'read' | 'write', options: { root?: string } = {}): PieceStore {
    const store = new PieceStore(files, pieceLength, mode === 'write')
    const { root } = options
    for (let i = 0; i < files.length; i++) {
      const file = files[i] as StoreFile
      if (file.padding === true) continue
      try {
        if (mode === 'write') {
          // Under a download's output folder nothing is followed: folders are made one by one, each checked, and
          // the file opened with O_NOFOLLOW (safe-paths.ts). Without a root (a file the user named) as asked.
          if (root === undefined) mkdirSync(dirname(file.path), { recursive: true })
          else makeDirsInside(root, dirname(file.path))
          const rw = root === undefined ? openSync(file.path, constants.O_RDWR | constants.O_CREAT) : openNoFollow(file.path, 'rw')
          if (!fstatSync(rw).isFile()) { closeSync(rw); throw new StorageError('ERR_OUTPUT', `Cannot open ${file.path}: not a regular file`) }
          if (fstatSync(rw).size !== file.length) ftruncateSync(rw, file.length)
          store.#remember(i, rw)
        } else {
          if (root !== undefined) assertNoLinksInside(root, file.path)
          const fd = root === undefined ? openSync(file.path, 'r') : openNoFollow(file.path, 'r')
          const size = fstatSync(fd).size
          if (size !== file.length) {
            closeSync(fd)
            throw new StorageError('ERR_INPUT', `${file.path} has ${size} bytes, the torrent says ${file.length}`)
          }
          store.#remember(i, fd)
        }
      } catch (err) {
        store.close()
        if (err instanceof StorageError) throw err
        throw new StorageError(mode === 'write' ? 'ERR_OUTPUT' : 'ERR_INPUT', `Cannot open ${file.path}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
      }
    }
    return store
  }

  pieceSize (index: number): number {
    return Math.min(this.pieceLength, this.totalLength - index * this.pieceLength)
  }

  /** Write a whole verified piece. */
  writePiece (index: number, data: Uint8Array): void {
    if (!this.#writable) throw new StorageError('ERR_READ_ONLY', 'store opened for reading')
    for (const span of this.#spans(index * this.pieceLength, data.length)) {
      if (span.padding) continue
      const fd = this.#fd(span.fileIndex)
      let done = 0
      try {
        while (done < span.length) done += writeSync(fd, data, span.at + done, span.length - done, span.fileOffset + done)
      } catch (err) {
        throw writeError(err, (this.#files[span.fileIndex] as StoreFile).path)
      }
    }
  }

  /**
   * Write a whole verified piece off the main thread. On this kind of machine a write into fresh page cache can
   * stall for milliseconds (guest pages faulted in from the host); on the event loop that stall stops the network.
   */
  async writePieceAsync (index: number, data: Uint8Array): Promise<void> {
    if (!this.#writable) throw new StorageError('ERR_READ_ONLY', 'store opened for reading')
    for (const span of this.#spans(index * this.pieceLength, data.length)) {
      if (span.padding) continue
      const fd = this.#hold(span.fileIndex)
      try {
        let done = 0
        while (done < span.length) {
          done += await new Promise<number>((resolve, reject) => {
            write(fd, data, span.at + done, span.length - done, span.fileOffset + done, (err, bytes) => { if (err !== null) reject(err); else resolve(bytes) })
          })
        }
      } catch (err) {
        throw writeError(err, (this.#files[span.fileIndex] as StoreFile).path)
      } finally {
        this.#unhold(fd)
      }
    }
  }

  /**
   * A block for upload, as a view into a cached copy of its piece: the piece is read once, with one synchronous
   * read, and its blocks are sent from it without copying. A synchronous read is right here: from the page cache it
   * costs a memcpy, while handing each read to the thread pool costs a cross-thread wake-up per block, which
   * measured 35 µs apiece on this kind of machine (more than the transfer of the block itself).
   * The returned view stays valid after the piece leaves the cache (it keeps its own reference).
   */
  blockForUpload (index: number, begin: number, length: number): UploadBlock {
    if (begin < 0 || length < 0 || begin + length > this.pieceSize(index)) throw new StorageError('ERR_BAD_RANGE', `block ${begin}+${length} outside piece ${index}`)
    let piece = this.#uploadCache.get(index)
    if (piece === undefined) {
      const size = this.pieceSize(index)
      // Piece buffers are reused once no socket holds a block of them: fresh memory costs page faults here
      // (370 ms per GiB against 74 ms reused, measured), more than the read itself.
      const buf = (size === this.pieceLength ? this.#freeBuffers.pop() : undefined) ?? Buffer.allocUnsafe(size)
      this.#readSync(index * this.pieceLength, buf.subarray(0, size))
      piece = { buf, size, refs: 0, evicted: false }
      this.#uploadCache.set(index, piece)
      this.#uploadCacheBytes += size
      while (this.#uploadCacheBytes > UPLOAD_CACHE_BYTES) {
        const [oldest, old] = this.#uploadCache.entries().next().value as [number, CachedPiece]
        this.#uploadCache.delete(oldest)
        this.#uploadCacheBytes -= old.size
        old.evicted = true
        this.#recycle(old)
      }
    } else {
      this.#uploadCache.delete(index)
      this.#uploadCache.set(index, piece)
    }
    const held = piece
    held.refs++
    let released = false
    return {
      data: held.buf.subarray(begin, begin + length),
      release: () => {
        if (released) return
        released = true
        held.refs--
        this.#recycle(held)
      }
    }
  }

  #recycle (piece: CachedPiece): void {
    if (!piece.evicted || piece.refs > 0 || piece.buf.length !== this.pieceLength) return
    if (this.#freeBuffers.length < MAX_FREE_UPLOAD_BUFFERS) this.#freeBuffers.push(piece.buf)
  }

  #readSync (offset: number, target: Buffer): void {
    for (const span of this.#spans(offset, target.length)) {
      if (span.padding) { target.fill(0, span.at, span.at + span.length); continue }
      const fd = this.#fd(span.fileIndex)
      let done = 0
      while (done < span.length) {
        const n = readSync(fd, target, span.at + done, span.length - done, span.fileOffset + done)
        if (n === 0) throw new StorageError('ERR_SHORT_READ', `unexpected end of ${this.#files[span.fileIndex]?.path ?? '?'}`)
        done += n
      }
    }
  }

  /** Read `length` bytes at `begin` of piece `index` into `target` at `at`. */
  async readBlock (index: number, begin: number, length: number, target: Uint8Array, at: number): Promise<void> {
    if (begin < 0 || length < 0 || begin + length > this.pieceSize(index)) throw new StorageError('ERR_BAD_RANGE', `block ${begin}+${length} outside piece ${index}`)
    for (const span of this.#spans(index * this.pieceLength + begin, length)) {
      if (span.padding) { target.fill(0, at + span.at, at + span.at + span.length); continue }
      const fd = this.#hold(span.fileIndex)
      try {
        let done = 0
        while (done < span.length) {
          const n = await new Promise<number>((resolve, reject) => {
            read(fd, target, at + span.at + done, span.length - done, span.fileOffset + done, (err, bytes) => { if (err !== null) reject(err); else resolve(bytes) })
          })
          if (n === 0) throw new StorageError('ERR_SHORT_READ', `unexpected end of ${this.#files[span.fileIndex]?.path ?? '?'}`)
          done += n
        }
      } finally {
        this.#unhold(fd)
      }
    }
  }

  async readPiece (index: number, target?: Buffer): Promise<Buffer> {
    const size = this.pieceSize(index)
    const out = target?.subarray(0, size) ?? Buffer.allocUnsafe(size)
    await this.readBlock(index, 0, size, out, 0)
    return out
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const fd of this.#fds.values()) this.#closeFd(fd)
    this.#fds.clear()
  }

  /** The file spans covering torrent bytes [offset, offset + length). */
  #spans (offset: number, length: number): Span[] {
    const spans: Span[] = []
    let at = 0
    // Files are few for most torrents; a linear scan from the first candidate keeps this simple.
    for (let i = 0; i < this.#files.length && at < length; i++) {
      const f = this.#files[i] as StoreFile & { offset: number }
      const start = offset + at
      if (start >= f.offset + f.length || f.length === 0) continue
      if (start < f.offset) break
      const take = Math.min(length - at, f.offset + f.length - start)
      spans.push({ fileIndex: i, fileOffset: start - f.offset, length: take, at, padding: f.padding === true })
      at += take
    }
    if (at !== length) throw new StorageError('ERR_BAD_RANGE', `bytes ${offset}+${length} outside the torrent (${this.totalLength} bytes)`)
    return spans
  }

  #fd (fileIndex: number): number {
    if (this.#closed) throw new StorageError('ERR_CLOSED', 'piece store is closed')
    const fd = this.#fds.get(fileIndex)
    if (fd !== undefined) {
      // Most recently used last.
      this.#fds.delete(fileIndex)
      this.#fds.set(fileIndex, fd)
      return fd
    }
    const file = this.#files[fileIndex] as StoreFile
    return this.#remember(fileIndex, openSync(file.path, this.#writable ? 'r+' : 'r'))
  }

  #remember (fileIndex: number, fd: number): number {
    this.#fds.set(fileIndex, fd)
    if (this.#fds.size > MAX_OPEN_FILES) {
      const [oldest, oldFd] = this.#fds.entries().next().value as [number, number]
      this.#fds.delete(oldest)
      this.#closeFd(oldFd)
    }
    return fd
  }

  /** The file's descriptor, kept open until `#unhold` even if evicted meanwhile (its number cannot be reused). */
  #hold (fileIndex: number): number {
    const fd = this.#fd(fileIndex)
    this.#busy.set(fd, (this.#busy.get(fd) ?? 0) + 1)
    return fd
  }

  #unhold (fd: number): void {
    const n = (this.#busy.get(fd) ?? 1) - 1
    if (n > 0) { this.#busy.set(fd, n); return }
    this.#busy.delete(fd)
    if (this.#closeWhenIdle.delete(fd)) closeSync(fd)
  }

  #closeFd (fd: number): void {
    if (this.#busy.has(fd)) this.#closeWhenIdle.add(fd)
    else closeSync(fd)
  }
}
