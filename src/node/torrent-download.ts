/**
 * Download what a .torrent describes over BitTorrent: peers from its trackers, pieces checked one by one, the content
 * written under `<out>/<name>.part` and renamed to `<out>/<name>` once every piece is verified.
 */
import { createHash } from 'node:crypto'
import { lstat, open } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Bitfield, MAX_METAINFO_BYTES, parseInfoDict, parseMagnet, parseMetainfo, resolveInside, type Metainfo, type ParsedInfo } from '../content/index.js'
import { announce, TrackerFailureError } from '../discovery/index.js'
import { StorageError, TrackerError, TransferError, systemErrorCode } from '../errors.js'
import { assertNoLinksInside, existsRefused, moveIntoPlace, pathKind, PieceStore, type StoreFile } from '../storage/index.js'
import { fetchMetadata, Transfer, type RateLimiter } from '../swarm/index.js'
import { untilAborted } from '../signals.js'
import { Announcer, makePeerId } from './announcer.js'
import { untilDoneOrStalled } from './download-watch.js'
import { PeerListener } from './peer-listener.js'

export interface TorrentDownloadOptions {
  /** A .torrent file, or a magnet link whose metadata is fetched from peers (BEP 9). */
  torrentPath?: string
  magnet?: string
  /** Trackers to ask when a magnet link names none (the default tracker in the CLI). */
  fallbackTrackers?: string[]
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
  /** Replace a different file or folder already at the torrent's name (default: refuse with ERR_OUTPUT_EXISTS). */
  overwrite?: boolean
  /** Fail after this long without a byte of payload (default DEFAULT_STALL_TIMEOUT_MS; 0: never). */
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

export async function readTorrentFile (path: string): Promise<Metainfo> {
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
  return parseMetainfo(bytes)
}

/** A magnet whose metadata never came tells its trackers it stopped, waiting at most this for each. */
const STOPPED_TIMEOUT_MS = 1_000

/** What resolving a magnet takes of the download's options. */
export type MagnetOptions = Pick<TorrentDownloadOptions, 'fallbackTrackers' | 'signal' | 'onLog' | 'onMetadata'>

/** The torrent a magnet link names: peers from its trackers (or the fallback ones), metadata from those peers. */
export async function resolveMagnet (uri: string, options: MagnetOptions, peerId: Buffer, port: number): Promise<Metainfo> {
  const magnet = parseMagnet(uri)
  const trackers = magnet.trackers.filter(t => /^(https?|udp):\/\//i.test(t))
  const asked = trackers.length > 0 ? trackers : (options.fallbackTrackers ?? [])
  if (asked.length === 0) throw new TransferError('ERR_NO_PEERS', 'The magnet link names no HTTP or UDP tracker to find peers with (the DHT is not supported yet)')
  const peers: Array<{ host: string, port: number }> = []
  // Metadata is fetched once one tracker has given peers, or every tracker has answered or failed: a silent tracker
  // (a UDP one is given up on after 15 s) does not hold up the others' peers. The download's own announces follow.
  let gotPeers: () => void = () => {}
  const firstPeers = new Promise<void>((resolve) => { gotPeers = resolve })
  // The announces still in flight once the metadata is in (or has failed) are ended: they would only hold the process.
  const lookup = new AbortController()
  const signal = options.signal === undefined ? lookup.signal : AbortSignal.any([options.signal, lookup.signal])
  // Trackers that answered know this peer: if the metadata never comes, they are told it stopped (no phantom leecher).
  const answered: string[] = []
  const failures: Error[] = []
  const all = Promise.all(asked.map(async (url) => {
    try {
      const reply = await announce({ url, infoHash: magnet.infoHash, peerId, port, uploaded: 0, downloaded: 0, left: 1, event: 'started', signal })
      answered.push(url)
      for (const p of reply.peers) peers.push({ host: p.ip, port: p.port })
      if (reply.peers.length > 0) gotPeers()
    } catch (err) {
      if (!lookup.signal.aborted) {
        options.onLog?.(`announce to ${url} failed: ${(err as Error).message}`)
        failures.push(err as Error)
      }
    }
  }))
  await Promise.race([all, firstPeers])
  let fetched = false
  try {
    // No peers because no tracker answered: that is the cause to report (exit 3), not "no peers".
    if (peers.length === 0 && answered.length === 0 && failures.length > 0) {
      const refused = failures.some(e => e instanceof TrackerFailureError)
      throw new TrackerError(refused ? 'ERR_TRACKER_FAILURE' : 'ERR_TRACKER_UNREACHABLE', failures.map(e => e.message).join('; '))
    }
    const raw = await fetchMetadata({
      infoHash: Buffer.from(magnet.infoHash, 'hex'),
      peerId,
      listenPort: port,
      peers,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onLog === undefined ? {} : { onLog: options.onLog })
    })
    const info = parseInfoDict(raw)
    options.onMetadata?.({ name: info.name, peers: peers.length })
    fetched = true
    return { infoHash: magnet.infoHash, info, trackers: asked, announceList: [asked] }
  } finally {
    lookup.abort()
    if (!fetched) {
      await Promise.all(answered.map(async (url) => {
        await announce({ url, infoHash: magnet.infoHash, peerId, port, uploaded: 0, downloaded: 0, left: 1, event: 'stopped', numwant: 0, timeoutMs: STOPPED_TIMEOUT_MS })
          .catch((err: unknown) => { options.onLog?.(`stopped announce to ${url} failed: ${(err as Error).message}`) })
      }))
    }
  }
}

export async function downloadTorrent (options: TorrentDownloadOptions): Promise<TorrentDownloadOutcome> {
  const started = Date.now()
  const peerId = makePeerId()
  // Listening first: a magnet download announces (with this port) before it knows what it downloads.
  const { listener, port, ref } = await listenForTorrent(options.host, options.port)
  let store: PieceStore | undefined
  let announcer: Announcer | undefined
  try {
    const meta = options.magnet !== undefined
      ? await resolveMagnet(options.magnet, options, peerId, port)
      : await readTorrentFile(options.torrentPath ?? '')
    const { info } = meta
    const trackers = meta.trackers.filter(t => /^(https?|udp):\/\//i.test(t))
    const root = resolve(options.outDir)
    const target = resolveInside(root, info.name)
    const base = { path: target, name: info.name, infoHash: meta.infoHash, size: info.totalSize }
    // Already there and verified: nothing to fetch; with --seed it is seeded from where it is. Something else there
    // (the user's own folder or file of that name, a link) is never replaced unless asked: refused before anything
    // is fetched, and checked again before the rename.
    const present = await isComplete(meta, root, '')
    if (present && options.seed !== true) return { ...base, elapsedMs: Date.now() - started, alreadyPresent: true }
    if (!present && options.overwrite !== true && await pathKind(target) !== 'missing') throw existsRefused(target, 'nothing was downloaded')
    if (trackers.length === 0) throw new TransferError('ERR_NO_PEERS', 'The torrent lists no HTTP or UDP tracker to find peers with (the DHT is not supported yet)')

    const part = `${target}.part`
    let have: Bitfield
    if (present) {
      store = PieceStore.open(storeFiles(meta, root, ''), info.pieceLength, 'read', { root })
      have = Bitfield.full(info.pieceCount)
    } else {
      ({ store, have } = await openForDownload(storeFiles(meta, root, '.part'), part, info, options.onResume, root))
    }
    const transfer = new Transfer({
      infoHash: Buffer.from(meta.infoHash, 'hex'),
      pieceHashes: info.pieces,
      pieceLength: info.pieceLength,
      totalLength: info.totalSize,
      store,
      have,
      peerId,
      listenPort: port,
      metadata: info.raw,
      seed: options.seed === true,
      ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }),
      ...(options.downloadLimit === undefined ? {} : { downloadLimit: options.downloadLimit }),
      onProgress: (t) => options.onProgress?.({ downloaded: t.verifiedBytes, total: info.totalSize, peers: t.peers.size }),
      ...(options.onLog === undefined ? {} : { onLog: options.onLog }),
      ...(options.onBanned === undefined ? {} : { onBanned: options.onBanned })
    })
    ref.transfer = transfer
    transfer.start()
    options.onStart?.({ name: info.name, size: info.totalSize, pieces: info.pieceCount, trackers, path: target })
    announcer = new Announcer({ trackers, transfer, peerId, port, totalLength: info.totalSize, ...(options.onLog === undefined ? {} : { onLog: options.onLog }) })
    await announcer.start()
    if (!present) {
      const tracked = announcer
      await untilDoneOrStalled(transfer, { signal: options.signal, stallTimeoutMs: options.stallTimeoutMs, trackers: () => tracked.trackers, onWaiting: options.onWaiting })
      await announcer.completed()
      // The open files follow the rename, so a seeding transfer keeps serving from the final place.
      await moveIntoPlace(part, target, options.overwrite === true)
    }
    const elapsedMs = Date.now() - started
    options.onComplete?.()
    if (options.seed === true) await untilAborted(options.signal)
    return { ...base, elapsedMs, alreadyPresent: present }
  } finally {
    await announcer?.stop()
    ref.transfer?.close()
    store?.close()
    await listener.close()
    // An interrupted download keeps <name>.part for the next run to resume from.
  }
}

/**
 * A listener for one torrent's peers, set up before the torrent is known (a magnet link announces before it has its
 * metadata): inbound connections go to `ref.transfer` once it is set.
 */
export async function listenForTorrent (host: string | undefined, port: number | undefined): Promise<{ listener: PeerListener, port: number, ref: { transfer?: Transfer } }> {
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({
    host: host ?? '0.0.0.0',
    port: port ?? 0,
    dialect: 'published',
    source: { size: () => undefined, readInto: async () => {} },
    torrents: (hash) => ref.transfer !== undefined && hash.equals(ref.transfer.infoHash) ? ref.transfer : undefined
  })
  return { listener, port: (await listener.listen()).port, ref }
}

/**
 * The store a download writes to, and the pieces it already holds. Resume: what an earlier, interrupted download
 * left in `part` is checked piece by piece; verified pieces are kept, the rest fetched. (Checking by hash needs no
 * state that a crash could leave half-written.)
 */
export async function openForDownload (
  files: StoreFile[], part: string, info: ParsedInfo, onResume: ((info: { verified: number, pieces: number }) => void) | undefined, root: string
): Promise<{ store: PieceStore, have: Bitfield }> {
  const kind = await pathKind(part)
  if (kind === 'link') throw new StorageError('ERR_PATH_SYMLINK', `${part} is a symbolic link; refusing to follow it (remove it, or choose another --out folder)`)
  const resuming = kind !== 'missing'
  const store = PieceStore.open(files, info.pieceLength, 'write', { root })
  const have = resuming ? await verifiedPieces(store, info) : new Bitfield(info.pieceCount)
  if (resuming) onResume?.({ verified: have.count, pieces: info.pieceCount })
  return { store, have }
}

/** Where each file of the torrent lives under `outDir`; `suffix` is added to the top name (`.part` while downloading). */
function storeFiles (meta: Metainfo, outDir: string, suffix: string): StoreFile[] {
  return meta.info.files.map(f => {
    const [top, ...rest] = f.path.split('/')
    return { path: resolveInside(outDir, [`${top ?? ''}${suffix}`, ...rest].join('/')), length: f.length, padding: f.padding }
  })
}

/** Which pieces of the store already hold their right bytes. */
async function verifiedPieces (store: PieceStore, info: ParsedInfo): Promise<Bitfield> {
  const have = new Bitfield(info.pieceCount)
  const buffer = Buffer.allocUnsafe(info.pieceLength)
  for (let i = 0; i < info.pieceCount; i++) {
    const piece = await store.readPiece(i, buffer)
    if (createHash('sha1').update(piece).digest().equals(info.pieces.subarray(i * 20, i * 20 + 20))) have.set(i)
  }
  return have
}

/** Is the content already in `root`, every piece matching its hash, with no link anywhere on the way? */
async function isComplete (meta: Metainfo, root: string, suffix: string): Promise<boolean> {
  const files = storeFiles(meta, root, suffix)
  for (const f of files) {
    if (f.padding === true) continue
    try {
      assertNoLinksInside(root, f.path)
      const info = await lstat(f.path)
      if (!info.isFile() || info.size !== f.length) return false
    } catch {
      return false
    }
  }
  const store = PieceStore.open(files, meta.info.pieceLength, 'read', { root })
  try {
    return (await verifiedPieces(store, meta.info)).complete
  } finally {
    store.close()
  }
}
