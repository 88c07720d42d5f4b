/**
 * Download what a .torrent or a magnet link describes over BitTorrent, as a thin user of a session: a one-shot
 * in-memory Session (its listener on --port, nothing kept) holds the one torrent, which fetches its metadata (a
 * magnet), checks what an earlier run left in `<out>/<name>.part`, downloads, renames to `<out>/<name>` once every
 * piece is verified, and seeds with --seed. The watch (download-watch.ts) says what it waits for and ends it when it
 * stalls. The node runs the same torrents; only the one-shot rules differ (Torrent's run options): the user's own
 * file at the torrent's name is refused unless --overwrite, and without --seed it stops once complete.
 */
import { open } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { MAX_METAINFO_BYTES, parseMetainfo, type Metainfo } from '../content/index.js'
import { StorageError, systemErrorCode, TransferError } from '../errors.js'
import { Session } from '../session/session.js'
import type { Torrent } from '../session/torrent.js'
import type { TorrentSummary } from '../session/types.js'
import type { RateLimiter, Transfer } from '../swarm/index.js'
import { untilAborted } from '../signals.js'
import { untilDownloaded } from './download-watch.js'

export interface TorrentDownloadOptions {
  /** A .torrent file, or a magnet link whose metadata is fetched from peers (BEP 9). */
  torrentPath?: string
  magnet?: string
  /** The tracker a magnet link that names none asks (the CLI's --tracker). */
  trackerUrl?: string
  outDir: string
  /** Address and port to accept peers on (default 0.0.0.0, any free port). */
  host?: string
  port?: number
  signal?: AbortSignal
  onMetadata?: (info: { name: string, peers: number }) => void
  /** An earlier download's <name>.part was found and checked: `verified` of `pieces` are kept. */
  onResume?: (info: { verified: number, pieces: number }) => void
  onStart?: (info: { name: string, size: number, pieces: number, trackers: string[], path: string }) => void
  onProgress?: (progress: { downloaded: number, total: number, peers: number }) => void
  onComplete?: () => void
  uploadLimit?: RateLimiter
  downloadLimit?: RateLimiter
  /** Keep seeding the verified content from its final place until `signal` aborts (`download --seed`). */
  seed?: boolean
  onLog?: (message: string) => void
  /** A peer was banned: pieces it sent failed their SHA-1 check too often. */
  onBanned?: (peer: string, reason: string) => void
  /** A peer connected, and where it came from. */
  onPeer?: (peer: string, source: string) => void
  /** Replace a different file or folder already at the torrent's name (default: refuse with ERR_OUTPUT_EXISTS). */
  overwrite?: boolean
  /** Fail after this long without a byte of payload, or before it without the metadata (default 60 s; 0: never). */
  stallTimeoutMs?: number
  /** What the download waits for (no peers yet, tracker refused: why, connecting to N), when it changes. */
  onWaiting?: (waiting: string | undefined) => void
}

export interface TorrentDownloadOutcome {
  path: string
  name: string
  infoHash: string
  size: number
  elapsedMs: number
  alreadyPresent: boolean
}

export async function readTorrentFile (path: string): Promise<{ meta: Metainfo, bytes: Buffer }> {
  let bytes: Buffer
  try {
    const handle = await open(path, 'r')
    try {
      const size = (await handle.stat()).size
      if (size > MAX_METAINFO_BYTES) throw new StorageError('ERR_INPUT', `${path} is ${size} bytes, larger than any torrent we accept (${MAX_METAINFO_BYTES})`)
      bytes = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw new StorageError('ERR_INPUT', `Cannot read ${path}: ${systemErrorCode(err) === 'ENOENT' ? 'no such file' : systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
  return { meta: parseMetainfo(bytes), bytes }
}

/** What a one-shot session takes of a download's options. */
export interface OneShotOptions {
  outDir: string
  host?: string | undefined
  port?: number | undefined
  trackerUrl?: string | undefined
  uploadLimit?: RateLimiter | undefined
  downloadLimit?: RateLimiter | undefined
  onLog?: ((message: string) => void) | undefined
}

/** An in-memory session for one download: listening on `port` (any free one by default), nothing kept after it. */
export async function oneShotSession (options: OneShotOptions): Promise<Session> {
  return await Session.open({
    downloadDir: resolve(options.outDir),
    port: options.port ?? 0,
    host: options.host ?? '0.0.0.0',
    ...(options.trackerUrl === undefined ? {} : { trackerUrl: options.trackerUrl }),
    ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }),
    ...(options.downloadLimit === undefined ? {} : { downloadLimit: options.downloadLimit }),
    ...(options.onLog === undefined ? {} : { onLog: options.onLog })
  })
}

/** What following a session torrent reports, as it happens. */
export interface FollowOptions {
  signal?: AbortSignal | undefined
  stallTimeoutMs?: number | undefined
  onWaiting?: ((waiting: string | undefined) => void) | undefined
  onMetadata?: ((info: { name: string, peers: number }) => void) | undefined
  onResume?: ((info: { verified: number, pieces: number }) => void) | undefined
  /** Its (first) transfer began: the download is under way. */
  onStart?: ((transfer: Transfer) => void) | undefined
  onProgress?: ((transfer: Transfer) => void) | undefined
  onBanned?: ((peer: string, reason: string) => void) | undefined
  /** A peer connected, and where it came from (tracker, catalogue, pex, manual, incoming...). */
  onPeer?: ((peer: string, source: string) => void) | undefined
  /** A transfer completed (before it ends: its counters are whole). */
  onTransferComplete?: ((transfer: Transfer) => void) | undefined
}

/** Report what the torrent does until it is complete (or fails, stalls, is interrupted: rejects with why). */
export async function follow (session: Session, torrent: Torrent, options: FollowOptions): Promise<void> {
  let transfer: Transfer | undefined
  let began = false
  let checking = false
  const onState = (s: TorrentSummary): void => {
    if (checking && s.state !== 'checking' && torrent.lastCheck !== undefined && !torrent.foundComplete) {
      options.onResume?.({ verified: torrent.lastCheck.verified, pieces: s.pieceCount })
    }
    checking = s.state === 'checking'
    const t = torrent.transfer
    if (t === undefined || t === transfer) return
    transfer = t
    t.events.on('progress', (x) => { options.onProgress?.(x) })
    t.events.on('complete', () => { options.onTransferComplete?.(t) })
    if (options.onBanned !== undefined) t.events.on('banned', options.onBanned)
    if (options.onPeer !== undefined) {
      // Those that came with a magnet's metadata connected before this transfer could be followed.
      for (const p of t.peers.values()) options.onPeer(p.id, t.peerSource(p))
      t.events.on('peer', options.onPeer)
    }
    if (!began) { began = true; options.onStart?.(t) }
  }
  const offs = [
    session.events.on('metadata', (s) => {
      if (s.id === torrent.id) options.onMetadata?.({ name: s.name, peers: torrent.metadataSwarm?.peers ?? 0 })
    }),
    session.events.on('state', (s) => { if (s.id === torrent.id) onState(s) })
  ]
  // Followed from where it is now (a catalogue download waited for its metadata first).
  onState(torrent.summary())
  try {
    await untilDownloaded(torrent, session.events, options)
  } finally {
    for (const off of offs) off()
  }
}

export async function downloadTorrent (options: TorrentDownloadOptions): Promise<TorrentDownloadOutcome> {
  const started = Date.now()
  // A .torrent that cannot be used is refused before anything listens.
  const file = options.magnet === undefined ? await readTorrentFile(options.torrentPath ?? '') : undefined
  if (file !== undefined && !file.meta.trackers.some(t => /^(https?|udp):\/\//i.test(t))) {
    throw new TransferError('ERR_NO_PEERS', 'The torrent lists no HTTP or UDP tracker to find peers with (the DHT is not supported yet)')
  }
  const session = await oneShotSession(options)
  try {
    const added = await session.add(file === undefined ? { kind: 'magnet', uri: options.magnet ?? '' } : { kind: 'torrent', data: file.bytes }, {}, {
      existing: options.overwrite === true ? 'replace' : 'refuse',
      seedWhenComplete: options.seed === true
    })
    const torrent = session.torrent(added.id) as Torrent
    const root = resolve(options.outDir)
    const where = (): string => join(root, torrent.info?.name ?? added.name)
    await follow(session, torrent, {
      ...options,
      onStart: (t) => {
        const s = torrent.summary()
        options.onStart?.({ name: s.name, size: s.totalSize, pieces: s.pieceCount, trackers: torrent.record.trackers.filter(u => /^(https?|udp):\/\//i.test(u)), path: where() })
        options.onProgress?.({ downloaded: t.verifiedBytes, total: t.totalLength, peers: t.peers.size })
      },
      onProgress: (t) => { options.onProgress?.({ downloaded: t.verifiedBytes, total: t.totalLength, peers: t.peers.size }) }
    })
    const elapsedMs = Date.now() - started
    const s = torrent.summary()
    if (!torrent.foundComplete || options.seed === true) options.onComplete?.()
    if (options.seed === true) await untilAborted(options.signal)
    return { path: where(), name: s.name, infoHash: s.infoHash, size: s.totalSize, elapsedMs, alreadyPresent: torrent.foundComplete }
  } finally {
    // Stopped announces; an interrupted download keeps <name>.part for the next run to resume from.
    await session.close()
  }
}
