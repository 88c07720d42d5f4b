/**
 * A BitTorrent peer of one single-file torrent for integration tests: a PeerListener on 127.0.0.1 (any free port)
 * routing to a Transfer over a PieceStore, seeding or downloading; closed when the test ends.
 */
import type { TestContext } from 'node:test'
import { createHash, randomBytes } from 'node:crypto'
import { Bitfield, type Metainfo } from '../../src/content/index.js'
import { PeerListener } from '../../src/node/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { Transfer, type RateLimiter } from '../../src/swarm/index.js'
import type { Transport } from '../../src/wire/index.js'

export interface TestPeerOptions {
  path: string
  /** The file's size (the seed's file must already hold it). */
  length: number
  pieceLength: number
  infoHash: Buffer
  hashes: Buffer
  seed: boolean
  /** Keep serving once the download completes. */
  keepSeeding?: boolean
  /** The info dictionary, served through ut_metadata. */
  metadata?: Buffer
  uploadLimit?: RateLimiter
  transport?: Transport
  onBanned?: (peer: string, reason: string) => void
  /** BEP 27 (no peer exchange). */
  private?: boolean
  /** Peer exchange (default on). */
  pex?: boolean
}

export interface TestPeer { transfer: Transfer, port: number, listener: PeerListener }

export async function startTestPeer (t: TestContext, opts: TestPeerOptions): Promise<TestPeer> {
  const pieceCount = Math.ceil(opts.length / opts.pieceLength)
  const store = PieceStore.open([{ path: opts.path, length: opts.length }], opts.pieceLength, opts.seed ? 'read' : 'write')
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({
    host: '127.0.0.1',
    port: 0,
    source: { size: () => undefined, readInto: async () => {} },
    dialect: 'published',
    torrents: (hash) => hash.equals(opts.infoHash) ? ref.transfer : undefined
  })
  const { port } = await listener.listen()
  const transfer = new Transfer({
    infoHash: opts.infoHash,
    pieceHashes: opts.hashes,
    pieceLength: opts.pieceLength,
    totalLength: opts.length,
    store,
    have: opts.seed ? Bitfield.full(pieceCount) : new Bitfield(pieceCount),
    peerId: randomBytes(20),
    listenPort: port,
    seed: opts.seed || opts.keepSeeding === true,
    ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
    ...(opts.uploadLimit === undefined ? {} : { uploadLimit: opts.uploadLimit }),
    ...(opts.transport === undefined ? {} : { transport: opts.transport }),
    ...(opts.onBanned === undefined ? {} : { onBanned: opts.onBanned }),
    ...(opts.private === undefined ? {} : { private: opts.private }),
    ...(opts.pex === undefined ? {} : { pex: opts.pex })
  })
  ref.transfer = transfer
  transfer.start()
  t.after(async () => { transfer.close(); await listener.close(); store.close() })
  return { transfer, port, listener }
}

/** The SHA-1 of each `pieceLength` piece of `data`, concatenated. */
export function pieceHashes (data: Buffer, pieceLength: number): Buffer {
  const out: Buffer[] = []
  for (let at = 0; at < data.length; at += pieceLength) out.push(createHash('sha1').update(data.subarray(at, at + pieceLength)).digest())
  return Buffer.concat(out)
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
export async function withDeadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms) })
  try { return await Promise.race([p, deadline]) } finally { clearTimeout(timer) }
}

/** A test peer of the single-file torrent `meta` (from a .torrent made by `create`), its file at `path`. */
export async function peerOfTorrent (t: TestContext, meta: Metainfo, path: string, o: { seed: boolean, uploadLimit?: RateLimiter, pex?: boolean }): Promise<TestPeer> {
  const { seed, uploadLimit } = o
  return await startTestPeer(t, {
    path,
    length: meta.info.totalSize,
    pieceLength: meta.info.pieceLength,
    infoHash: Buffer.from(meta.infoHash, 'hex'),
    hashes: meta.info.pieces,
    seed,
    keepSeeding: true,
    metadata: meta.info.raw,
    private: meta.info.private,
    ...(o.pex === undefined ? {} : { pex: o.pex }),
    ...(uploadLimit === undefined ? {} : { uploadLimit })
  })
}
