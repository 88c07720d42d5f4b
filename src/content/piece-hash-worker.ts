/**
 * The worker side of hashContent (piece-hasher.ts): piece SHA-1s over blocks the main thread reads into shared
 * buffers, in the order it sends them, each buffer handed back as soon as it is hashed.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { PieceHasher, type WorkerReply, type WorkerRequest } from './piece-hasher.js'

const { slots, pieceLength, totalSize } = workerData as { slots: SharedArrayBuffer[], pieceLength: number, totalSize: number }
const buffers = slots.map(s => Buffer.from(s))
const hasher = new PieceHasher(pieceLength, totalSize)
const port = parentPort
if (port === null) throw new Error('piece-hash-worker runs only as a worker thread')

port.on('message', (m: WorkerRequest) => {
  if (m.type === 'block') {
    hasher.update((buffers[m.slot] as Buffer).subarray(0, m.length))
    port.postMessage({ type: 'free', slot: m.slot } satisfies WorkerReply)
  } else {
    const pieces = hasher.digest()
    port.postMessage({ type: 'done', pieces } satisfies WorkerReply)
  }
})
