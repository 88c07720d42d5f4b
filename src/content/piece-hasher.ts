/**
 * One pass over a file or a set of files giving both identities DESIGN.md names: the SHA-1 of each whole file (the
 * seed's file hash) and the SHA-1 of each BitTorrent piece (BEP 3: the content is the files concatenated in order,
 * cut into pieces that run across file boundaries). Files are read sequentially in 4 MiB blocks into reused buffers;
 * memory does not grow with the content.
 *
 * Speed, measured with a 1 GiB random file in the page cache on this project's 2-core machines (Node 20, whose
 * OpenSSL SHA-1 uses the CPU's SHA extensions: ~0.7 s per GiB), median of 15 interleaved runs:
 *   coreutils `sha1sum` (one hash, no SHA extensions)           1.40 s   767 MB/s
 *   both hashes on one thread                                  1.54 s   700 MB/s
 *   piece hashes in a worker thread, file hash on the main one  1.02 s  1053 MB/s
 * The worker reads nothing and allocates nothing: it hashes the shared buffers the main thread has just read and
 * hashed, and hands each back. It costs ~30 ms to start, so it is used from WORKER_MIN_BYTES up and only with more
 * than one core. When another process keeps the second core busy, the worker run is no slower than the one-thread run
 * (1.6-2.0 s there: the work is the same). PERFORMANCE.md's "hash on the main thread" is about transfers, where the
 * other core is busy with the other side; hashing before a share or a create is the only work running.
 */
import { createHash, type Hash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AbortError, StorageError, systemErrorCode } from '../errors.js'
import { pieceCountFor } from './piece-length.js'

/** Read size: large enough that system calls cost nothing next to SHA-1 (bigger blocks measured no faster). */
export const HASH_BLOCK_BYTES = 4 * 1024 * 1024
/** Blocks in flight between the reader and the piece-hashing worker. */
const WORKER_SLOTS = 4
/** Content below this is hashed on one thread: starting a worker costs more than it saves. */
export const WORKER_MIN_BYTES = 64 * 1024 * 1024

/**
 * SHA-1 of each piece of a byte stream fed in order, in pieces of `pieceLength` (the last one short). Pieces may run
 * across `update` calls, so callers feed whatever blocks they read.
 */
export class PieceHasher {
  readonly pieceLength: number
  #pieces: Buffer
  #count = 0
  #hash: Hash | undefined
  #inPiece = 0

  /** `expectedSize`, when known, sizes the digest buffer once. */
  constructor (pieceLength: number, expectedSize = 0) {
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) throw new RangeError(`piece length ${pieceLength}`)
    this.pieceLength = pieceLength
    this.#pieces = Buffer.alloc(pieceCountFor(expectedSize, pieceLength) * 20)
  }

  update (data: Uint8Array): void {
    let at = 0
    while (at < data.length) {
      const take = Math.min(this.pieceLength - this.#inPiece, data.length - at)
      if (this.#inPiece === 0 && take === this.pieceLength) {
        // A whole piece inside this block: one call, no streaming state.
        this.#push(createHash('sha1').update(data.subarray(at, at + take)).digest())
      } else {
        this.#hash ??= createHash('sha1')
        this.#hash.update(data.subarray(at, at + take))
        this.#inPiece += take
        if (this.#inPiece === this.pieceLength) this.#finishPiece()
      }
      at += take
    }
  }

  /** The concatenated 20-byte digests; the hasher is finished afterwards. */
  digest (): Buffer {
    if (this.#inPiece > 0) this.#finishPiece()
    return this.#pieces.length === this.#count * 20 ? this.#pieces : this.#pieces.subarray(0, this.#count * 20)
  }

  #finishPiece (): void {
    this.#push((this.#hash as Hash).digest())
    this.#hash = undefined
    this.#inPiece = 0
  }

  #push (digest: Buffer): void {
    if ((this.#count + 1) * 20 > this.#pieces.length) {
      const grown = Buffer.alloc(Math.max(this.#pieces.length * 2, 20 * 64))
      this.#pieces.copy(grown)
      this.#pieces = grown
    }
    digest.copy(this.#pieces, this.#count * 20)
    this.#count++
  }
}

export interface ContentFile {
  /** Where to read the file. */
  path: string
  /** Its size as listed; reading a different number of bytes is an error (the file changed). */
  length: number
}

export interface HashedFile extends ContentFile {
  /** SHA-1 of the whole file, 40 lowercase hex. */
  sha1: string
}

export interface ContentDigest {
  files: HashedFile[]
  totalSize: number
  pieceLength: number
  /** The 20-byte SHA-1 of each piece, concatenated (BEP 3 `pieces`). */
  pieces: Buffer
}

export interface HashContentOptions {
  pieceLength: number
  signal?: AbortSignal
  /** Called after each block with the bytes read and hashed so far and the total. */
  onProgress?: (hashed: number, total: number) => void
  /** Hash pieces in a worker thread: default when the content is at least WORKER_MIN_BYTES and there are 2+ cores. */
  worker?: boolean
}

/** Where piece hashing happens: in this thread, or in a worker fed the same (shared) buffers. */
interface PieceSink {
  /** A buffer to read the next block into. */
  buffer: () => Promise<Buffer>
  /** The block in `buffer` holds `length` bytes: hash them (the buffer comes back through `buffer` when done). */
  push: (buffer: Buffer, length: number) => void
  finish: () => Promise<Buffer>
  close: () => Promise<void>
}

/**
 * Hash a file (`input` a path) or files in order (`input` a list, sizes as listed) in one pass: each file's SHA-1 and
 * the piece SHA-1s over their concatenation.
 */
export async function hashContent (input: string | readonly ContentFile[], options: HashContentOptions): Promise<ContentDigest> {
  if (!Number.isSafeInteger(options.pieceLength) || options.pieceLength <= 0) throw new RangeError(`piece length ${options.pieceLength}`)
  const files = typeof input === 'string' ? [{ path: input, length: await sizeOf(input) }] : input
  const totalSize = files.reduce((sum, f) => sum + f.length, 0)
  const useWorker = options.worker ?? (totalSize >= WORKER_MIN_BYTES && availableParallelism() > 1)
  const sink = useWorker ? await workerSink(options.pieceLength, totalSize) : localSink(options.pieceLength, totalSize)
  try {
    const hashed: HashedFile[] = []
    let done = 0
    let block = await sink.buffer()
    let fill = 0
    for (const file of files) {
      const fileHash = createHash('sha1')
      const handle = await openInput(file.path)
      try {
        let position = 0
        while (position < file.length) {
          if (options.signal?.aborted === true) throw new AbortError()
          const want = Math.min(block.length - fill, file.length - position)
          const { bytesRead } = await handle.read(block, fill, want, position)
          if (bytesRead === 0) throw changed(file, position)
          fileHash.update(block.subarray(fill, fill + bytesRead))
          fill += bytesRead
          position += bytesRead
          done += bytesRead
          if (fill === block.length) {
            sink.push(block, fill)
            block = await sink.buffer()
            fill = 0
          }
          options.onProgress?.(done, totalSize)
        }
        if ((await handle.stat()).size !== file.length) throw changed(file, -1)
      } finally {
        await handle.close()
      }
      hashed.push({ path: file.path, length: file.length, sha1: fileHash.digest('hex') })
    }
    if (options.signal?.aborted === true) throw new AbortError()
    if (fill > 0) sink.push(block, fill)
    const pieces = await sink.finish()
    return { files: hashed, totalSize, pieceLength: options.pieceLength, pieces }
  } finally {
    await sink.close()
  }
}

async function sizeOf (path: string): Promise<number> {
  const handle = await openInput(path)
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new StorageError('ERR_INPUT', `Not a regular file: ${path}`)
    return info.size
  } finally {
    await handle.close()
  }
}

async function openInput (path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r')
  } catch (err) {
    const code = systemErrorCode(err)
    throw new StorageError('ERR_INPUT', `Cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`, { cause: err })
  }
}

function changed (file: ContentFile, at: number): StorageError {
  return new StorageError('ERR_INPUT', `${file.path} changed while it was being hashed (${at >= 0 ? `ended after ${at} of ${file.length} bytes` : `no longer ${file.length} bytes`})`)
}

function localSink (pieceLength: number, totalSize: number): PieceSink {
  const hasher = new PieceHasher(pieceLength, totalSize)
  const buffer = Buffer.allocUnsafe(Math.min(HASH_BLOCK_BYTES, Math.max(totalSize, 1)))
  return {
    buffer: async () => buffer,
    push: (b, length) => { hasher.update(b.subarray(0, length)) },
    finish: async () => hasher.digest(),
    close: async () => {}
  }
}

/** Messages to and from piece-hash-worker.ts. */
export type WorkerRequest = { type: 'block', slot: number, length: number } | { type: 'finish' }
export type WorkerReply = { type: 'free', slot: number } | { type: 'done', pieces: Uint8Array }

async function workerSink (pieceLength: number, totalSize: number): Promise<PieceSink> {
  const shared = Array.from({ length: WORKER_SLOTS }, () => new SharedArrayBuffer(HASH_BLOCK_BYTES))
  const buffers: Buffer[] = shared.map(s => Buffer.from(s))
  const worker = new Worker(new URL('./piece-hash-worker.js', import.meta.url), { workerData: { slots: shared, pieceLength, totalSize } })
  const free: number[] = buffers.map((_, i) => i)
  let failure: Error | undefined
  let wake: (() => void) | undefined
  let pieces: Buffer | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  worker.on('message', (m: WorkerReply) => {
    if (m.type === 'free') free.push(m.slot)
    else pieces = Buffer.from(m.pieces.buffer, m.pieces.byteOffset, m.pieces.byteLength)
    notify()
  })
  worker.on('error', (err) => { failure = err; notify() })
  worker.on('exit', (code) => { if (pieces === undefined) failure ??= new Error(`piece hashing worker exited with code ${code}`); notify() })
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready()) {
      if (failure !== undefined) throw failure
      await new Promise<void>(resolve => { wake = resolve })
    }
  }
  return {
    buffer: async () => {
      await until(() => free.length > 0)
      return buffers[free.shift() as number] as Buffer
    },
    push: (b, length) => { worker.postMessage({ type: 'block', slot: buffers.indexOf(b), length } satisfies WorkerRequest) },
    finish: async () => {
      worker.postMessage({ type: 'finish' } satisfies WorkerRequest)
      await until(() => pieces !== undefined)
      return pieces as Buffer
    },
    close: async () => {
      worker.removeAllListeners('exit')
      worker.on('error', () => {})
      await worker.terminate()
    }
  }
}
