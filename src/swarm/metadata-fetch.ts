/**
 * Fetch a torrent's info dictionary from peers (BEP 9 ut_metadata over BEP 10), for a magnet link: connect, say we
 * speak ut_metadata, ask for every 16 KiB piece, and keep the result only if its SHA-1 is the info hash.
 */
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { AbortError, TransferError } from '../errors.js'
import {
  decodeExtendedHandshake, decodeMetadataMessage, encode, encodeExtendedHandshake, encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID, METADATA_PIECE_SIZE, OUR_EXTENSIONS, PeerWire
} from '../wire/index.js'

/** One peer gets this long to deliver the whole info dictionary. */
export const METADATA_PEER_TIMEOUT_MS = 15_000
/** Peers asked at once. */
export const METADATA_PARALLEL_PEERS = 4
/** A bitfield a peer sends before we know the piece count: accept up to this (a 16 MiB-piece torrent of 1 PiB). */
const MAX_EARLY_BITFIELD_BYTES = 8 * 1024 * 1024

export interface MetadataFetchOptions {
  infoHash: Buffer
  peerId: Buffer
  listenPort: number
  peers: ReadonlyArray<{ host: string, port: number }>
  signal?: AbortSignal
  onLog?: (message: string) => void
}

/** The raw info dictionary whose SHA-1 is `infoHash`; rejects with ERR_NO_METADATA when no peer delivered it. */
export async function fetchMetadata (options: MetadataFetchOptions): Promise<Buffer> {
  const queue = [...options.peers]
  const errors: string[] = []
  let result: Buffer | undefined
  const stop = new AbortController()
  const onAbort = (): void => { stop.abort() }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await Promise.all(Array.from({ length: Math.min(METADATA_PARALLEL_PEERS, queue.length) }, async () => {
      for (let peer = queue.shift(); peer !== undefined && result === undefined && !stop.signal.aborted; peer = queue.shift()) {
        try {
          result = await fromPeer(peer.host, peer.port, options, stop.signal)
          stop.abort()
        } catch (err) {
          errors.push(`${peer.host}:${peer.port}: ${(err as Error).message}`)
          options.onLog?.(`metadata from ${peer.host}:${peer.port} failed: ${(err as Error).message}`)
        }
      }
    }))
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
  if (result !== undefined) return result
  if (options.signal?.aborted === true) throw new AbortError()
  throw new TransferError('ERR_NO_METADATA', options.peers.length === 0
    ? 'No peers found for this info hash'
    : `No peer sent the torrent's metadata (${errors.slice(0, 3).join('; ')})`)
}

async function fromPeer (host: string, port: number, options: MetadataFetchOptions, signal: AbortSignal): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    let wire: PeerWire | undefined
    let metadata: Buffer | undefined
    let received: Uint8Array | undefined
    let missing = 0
    let theirId = 0
    let settled = false
    const finish = (err: Error | undefined, value?: Buffer): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      if (wire !== undefined) wire.close(err === undefined ? 'metadata received' : err.message)
      else socket.destroy()
      if (err !== undefined) reject(err)
      else resolve(value as Buffer)
    }
    const onAbort = (): void => { finish(new AbortError()) }
    const timer = setTimeout(() => { finish(new Error(`no metadata within ${METADATA_PEER_TIMEOUT_MS / 1000} s`)) }, METADATA_PEER_TIMEOUT_MS)
    signal.addEventListener('abort', onAbort, { once: true })
    const socket = connect({ host, port })
    socket.once('error', (err) => { finish(new Error((err as NodeJS.ErrnoException).code ?? err.message)) })
    socket.once('connect', () => {
      wire = new PeerWire({
        socket,
        direction: 'out',
        local: { infoHash: options.infoHash, peerId: options.peerId, extensions: { extended: true, fast: false, dht: false } },
        maxBitfieldBytes: MAX_EARLY_BITFIELD_BYTES,
        now: Date.now
      }, {
        onHandshake: (remote) => {
          if (!remote.infoHash.equals(options.infoHash)) return { accept: false, reason: 'handshake for another torrent' }
          if (!remote.extensions.extended) return { accept: false, reason: 'peer does not speak the extension protocol (BEP 10)' }
          return { accept: true }
        },
        onReady: () => {
          wire?.write(encode.extended(EXTENDED_HANDSHAKE_ID, encodeExtendedHandshake({ m: { ut_metadata: OUR_EXTENSIONS.ut_metadata }, v: 'p2pshare 0.1.0', p: options.listenPort })))
        },
        onMessage: (m) => {
          if (m.type !== 'extended') return
          if (m.id === EXTENDED_HANDSHAKE_ID) {
            const h = decodeExtendedHandshake(m.payload)
            theirId = h.m.ut_metadata ?? 0
            if (theirId === 0 || h.metadataSize === undefined) { finish(new Error('peer does not offer the metadata (ut_metadata)')); return }
            if (metadata !== undefined) return
            metadata = Buffer.alloc(h.metadataSize)
            const pieces = Math.ceil(h.metadataSize / METADATA_PIECE_SIZE)
            received = new Uint8Array(pieces)
            missing = pieces
            for (let piece = 0; piece < pieces; piece++) wire?.write(encode.extended(theirId, encodeMetadataMessage({ type: 'request', piece })))
            return
          }
          if (m.id !== OUR_EXTENSIONS.ut_metadata || metadata === undefined || received === undefined) return
          const message = decodeMetadataMessage(m.payload)
          if (message.type === 'reject') { finish(new Error(`peer refused metadata piece ${message.piece}`)); return }
          if (message.type !== 'data') return
          const offset = message.piece * METADATA_PIECE_SIZE
          const expected = Math.min(METADATA_PIECE_SIZE, metadata.length - offset)
          if (message.totalSize !== metadata.length || offset >= metadata.length || message.data.length !== expected) {
            finish(new Error(`metadata piece ${message.piece} of the wrong size`))
            return
          }
          if (received[message.piece] === 1) return
          received[message.piece] = 1
          message.data.copy(metadata, offset)
          if (--missing > 0) return
          const digest = createHash('sha1').update(metadata).digest()
          if (!digest.equals(options.infoHash)) { finish(new Error('metadata does not match the info hash')); return }
          finish(undefined, metadata)
        },
        onBlockStart: () => {},
        onBlockData: () => {},
        onBlockEnd: () => {},
        onDrain: () => {},
        onReceived: () => {},
        onClose: (reason) => { finish(new Error(reason)) }
      })
      socket.on('data', (data: Buffer) => { wire?.receive(data) })
    })
  })
}

