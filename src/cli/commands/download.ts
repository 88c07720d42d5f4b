/** `p2pshare download NAME|FILEHASH`: the seed's `--download`, with progress and clear failures. */
import { stat } from 'node:fs/promises'
import { isMagnet } from '../../content/index.js'
import { trackerBaseUrl } from '../../discovery/index.js'
import { defaultAdvertiseIp, downloadFile, downloadTorrent, SharingPeer } from '../../node/index.js'
import { isP2PError, StorageError } from '../../errors.js'
import { RateLimiter } from '../../swarm/index.js'
import { formatBytes, formatRate } from '../format.js'
import { untilAborted, type CommandContext } from '../io.js'
import type { DownloadCommandOptions } from '../options.js'
import { loadTorrentFile } from './info.js'
import { ProgressReporter, type ProgressMode } from '../progress.js'
import { terminalSafe, terminalSafeJson } from '../terminal-safe.js'

export async function downloadCommand (target: string, options: DownloadCommandOptions, ctx: CommandContext): Promise<number> {
  const mode: ProgressMode = options.json ? 'json' : options.quiet ? 'quiet' : ctx.io.stderr.isTTY === true ? 'tty' : 'plain'
  // Lines for people quote torrent and file names, trackers' URLs: printed inert (terminal-safe.ts; stderr is so already).
  const say = (line: string): void => { if (mode === 'tty' || mode === 'plain') ctx.out(terminalSafe(line)) }
  // The same JSON, with the controls JSON.stringify leaves as they are (C1, bidi) escaped too.
  const emit = (event: Record<string, unknown>): void => { if (mode === 'json') ctx.out(terminalSafeJson(event)) }
  // The live bar goes to stderr so that stdout stays clean for scripts.
  const progress = new ProgressReporter(mode, mode === 'json' ? (t) => ctx.io.stdout.write(t) : (t) => ctx.io.stderr.write(t), Date.now, ctx.io.stderr)

  if (isMagnet(target)) return await torrentDownload({ magnet: target }, options, ctx, { mode, say, emit, progress })
  if (await isTorrentFile(target)) return await torrentDownload({ torrentPath: target }, options, ctx, { mode, say, emit, progress })
  say(`Looking up file: ${target}`)
  let listedChunks = 0
  let lookedUp = false
  try {
    const outcome = await downloadFile({
      target,
      trackerUrl: options.tracker,
      outDir: options.out,
      workers: options.workers,
      signal: ctx.signal,
      protocol: options.protocol,
      ...downloadPolicy(options, { mode, say, emit, progress }),
      onLookup: (lookup) => {
        lookedUp = true
        listedChunks = Math.max(0, ...lookup.peers.map(p => p.chunks.length))
        emit({ event: 'lookup', file_name: lookup.file_name, file_hash: lookup.file_hash, file_size: lookup.file_size, peers: lookup.peers.length })
        if (ctx.verbose) ctx.err(`Tracker response: ${JSON.stringify({ ...lookup, peers: lookup.peers.map(p => ({ ip: p.ip, port: p.port, chunks: p.chunks.length })) })}`)
      },
      onStart: ({ protocol, chunks, peers, legacyPeers }) => {
        // The seed's line first, in the seed's words (chunks as the tracker lists them), then how they are fetched.
        say(`Starting download — ${listedChunks} chunks from ${peers} peer(s)...`)
        if (protocol === 'bittorrent') say(`Over BitTorrent: ${chunks} pieces, each checked by SHA-1${legacyPeers > 0 ? `; ${legacyPeers} legacy peer(s) with GET_CHUNK` : ''}`)
        emit({ event: 'start', protocol, chunks, peers, legacy_peers: legacyPeers })
      },
      onResume: ({ verified, pieces }) => {
        say(`Resuming: ${verified} of ${pieces} pieces already verified in the partial download`)
        emit({ event: 'resume', verified, pieces })
      },
      ...(options.port === undefined ? {} : { port: options.port }),
      host: options.host,
      ...limits(options),
      ...(ctx.verbose ? { onLog: (m: string) => { ctx.err(m) } } : {}),
      onBanned: (peer: string, reason: string) => { warnBanned(peer, reason, ctx, { mode, say, emit, progress }) },
      onPeer: (peer: string, source: string) => { reportPeer(peer, source, ctx, { mode, say, emit, progress }) },
      onProgress: (p) => { progress.update(p) },
      onEvent: (e) => {
        if (e.type === 'chunk-failed' && ctx.verbose) ctx.err(`chunk ${e.index} from ${e.peer} failed: ${e.error}`)
        if (e.type === 'peer-dropped') {
          progress.finish()
          if (mode !== 'quiet' && mode !== 'json') ctx.err(`⚠️  Dropped peer ${e.peer}: ${e.error}`)
          emit({ event: 'peer-dropped', peer: e.peer, error: e.error })
        }
      }
    })
    progress.finish()
    if (outcome.alreadyPresent) {
      say(`Already downloaded: ${outcome.path} (SHA-1 verified, nothing fetched)`)
    } else {
      say(`Saved to: ${outcome.path}`)
      say(`✅ File integrity verified: ${outcome.fileHash}`)
      say(`Download complete! ${formatBytes(outcome.size)} in ${(outcome.elapsedMs / 1000).toFixed(2)} s (${formatRate(outcome.size * 1000 / Math.max(outcome.elapsedMs, 1))})`)
      const { bittorrent, getChunk } = outcome.received
      if (bittorrent > 0 && getChunk > 0) say(`Received ${formatBytes(bittorrent)} over BitTorrent and ${formatBytes(getChunk)} with GET_CHUNK`)
    }
    emit({
      event: 'done',
      path: outcome.path,
      file_hash: outcome.fileHash,
      file_size: outcome.size,
      bittorrent_bytes: outcome.received.bittorrent,
      get_chunk_bytes: outcome.received.getChunk,
      elapsed_ms: outcome.elapsedMs,
      already_present: outcome.alreadyPresent,
      max_rss_kb: process.resourceUsage().maxRSS
    })
    if (mode === 'quiet') ctx.out(outcome.path)
    if (options.seed) await seedDownloaded(outcome.path, options, ctx, { mode, say, emit, progress })
    return 0
  } catch (err) {
    throw lookedUp ? err : noSuchTorrent(target, err)
  } finally {
    progress.finish()
  }
}

/** A peer was banned for corrupt data: a warning line (and a JSON event), as a dropped peer gets. */
function warnBanned (peer: string, reason: string, ctx: CommandContext, out: Output): void {
  out.progress.finish()
  if (out.mode !== 'quiet' && out.mode !== 'json') ctx.err(`⚠️  Banned peer ${peer}: ${reason}`)
  out.emit({ event: 'peer-banned', peer, reason })
}

/** A BitTorrent peer connected: where it came from, as a JSON event, and a line with -v. */
function reportPeer (peer: string, source: string, ctx: CommandContext, out: Output): void {
  out.emit({ event: 'peer', peer, source })
  if (ctx.verbose) ctx.err(`peer ${peer} connected (from ${source})`)
}

/** `download NAME --seed`: share the verified file, as `share` would, until Ctrl+C. */
async function seedDownloaded (path: string, options: DownloadCommandOptions, ctx: CommandContext, out: Output): Promise<void> {
  const base = trackerBaseUrl(options.tracker)
  const peer = await SharingPeer.start({
    path,
    port: options.port ?? 0,
    host: options.host,
    ip: defaultAdvertiseIp(base),
    // As typed, not the base URL: a private tracker's ?passkey= goes with every request and announce.
    trackerUrl: options.tracker,
    dialect: 'published',
    libraryDir: options.out,
    signal: ctx.signal,
    ...limitsForSeeding(options)
  })
  out.say(`Seeding ${path} on port ${peer.info.listening.port}. Press Ctrl+C to stop.`)
  out.emit({ event: 'seeding', port: peer.info.listening.port })
  await untilAborted(ctx.signal)
  await peer.close()
}

/**
 * A `.torrent` file to read, rather than a name or hash to look up: the argument ends in `.torrent` and is an
 * existing file or a path (has a folder in it). It is read and checked here, so that one we cannot use is refused
 * with one line naming it (`x.torrent is not a valid torrent file: <reason>`, exit 9) before anything listens.
 *
 * A bare `x.torrent` that is no file here is still looked up as a name on the tracker: the seed's protocol shares
 * files of any name (`share movie.torrent` registers the name `movie.torrent`), and `download NAME` must find them.
 * When the tracker has no such name either, noSuchTorrent says both.
 */
async function isTorrentFile (target: string): Promise<boolean> {
  if (!isTorrentName(target)) return false
  if (target.includes('/') || target.includes('\\') || await isFile(target)) {
    await loadTorrentFile(target)
    return true
  }
  return false
}

function isTorrentName (target: string): boolean {
  return target.toLowerCase().endsWith('.torrent')
}

async function isFile (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/**
 * A bare `x.torrent` that is no file here, and that the tracker could not find as a name (or could not be asked
 * about): most likely a mistyped .torrent file, so the error says so first, and what the tracker said (exit 9).
 */
function noSuchTorrent (target: string, err: unknown): unknown {
  if (!isTorrentName(target) || !isP2PError(err)) return err
  if (err.code === 'ERR_NOT_FOUND') {
    return new StorageError('ERR_INPUT', `Cannot read ${target}: no such file (looked up as a file name on the tracker too: not found)`, { cause: err })
  }
  if (err.code === 'ERR_TRACKER_UNREACHABLE' || err.code === 'ERR_TRACKER_REPLY') {
    return new StorageError('ERR_INPUT', `Cannot read ${target}: no such file (and it could not be looked up as a file name on the tracker: ${err.message})`, { cause: err })
  }
  return err
}

interface Output {
  mode: ProgressMode
  say: (line: string) => void
  emit: (event: Record<string, unknown>) => void
  progress: ProgressReporter
}

/** `download FILE.torrent` or `download MAGNET`: BitTorrent from the peers the trackers list. */
async function torrentDownload (source: { torrentPath: string } | { magnet: string }, options: DownloadCommandOptions, ctx: CommandContext, out: Output): Promise<number> {
  const { say, emit, progress } = out
  if ('magnet' in source) say('Fetching the torrent\'s metadata from peers...')
  try {
    const outcome = await downloadTorrent({
      ...source,
      trackerUrl: options.tracker,
      onMetadata: ({ name, peers }) => { emit({ event: 'metadata', name, peers }) },
      onResume: ({ verified, pieces }) => {
        say(`Resuming: ${verified} of ${pieces} pieces already verified in the partial download`)
        emit({ event: 'resume', verified, pieces })
      },
      outDir: options.out,
      ...(options.port === undefined ? {} : { port: options.port }),
      host: options.host,
      signal: ctx.signal,
      ...downloadPolicy(options, out),
      onStart: (info) => {
        say(`Downloading ${info.name} (${formatBytes(info.size)}, ${info.pieces} pieces) over BitTorrent; trackers: ${info.trackers.join(', ')}`)
        emit({ event: 'start', protocol: 'bittorrent', name: info.name, size: info.size, pieces: info.pieces, trackers: info.trackers })
      },
      onProgress: (p) => { progress.update(p) },
      seed: options.seed,
      ...limits(options),
      onComplete: () => {
        if (!options.seed) return
        progress.finish()
        say('Download complete; seeding it. Press Ctrl+C to stop.')
        emit({ event: 'seeding' })
      },
      ...(ctx.verbose ? { onLog: (m: string) => { ctx.err(m) } } : {}),
      onBanned: (peer: string, reason: string) => { warnBanned(peer, reason, ctx, out) },
      onPeer: (peer: string, source: string) => { reportPeer(peer, source, ctx, out) }
    })
    progress.finish()
    if (outcome.alreadyPresent) say(`Already downloaded: ${outcome.path} (every piece verified, nothing fetched)`)
    else {
      say(`Saved to: ${outcome.path}`)
      say(`✅ Every piece verified (info hash ${outcome.infoHash})`)
      say(`Download complete! ${formatBytes(outcome.size)} in ${(outcome.elapsedMs / 1000).toFixed(2)} s (${formatRate(outcome.size * 1000 / Math.max(outcome.elapsedMs, 1))})`)
    }
    emit({ event: 'done', protocol: 'bittorrent', path: outcome.path, info_hash: outcome.infoHash, size: outcome.size, elapsed_ms: outcome.elapsedMs, already_present: outcome.alreadyPresent, max_rss_kb: process.resourceUsage().maxRSS })
    if (out.mode === 'quiet') ctx.out(outcome.path)
    return 0
  } finally {
    progress.finish()
  }
}

/**
 * --overwrite, --stall-timeout, and the line saying what a download waits for: on the status line of a terminal, a
 * line of its own otherwise, and a JSON event.
 */
function downloadPolicy (options: DownloadCommandOptions, out: Output): { overwrite: boolean, stallTimeoutMs: number, onWaiting: (waiting: string | undefined) => void } {
  return {
    overwrite: options.overwrite,
    stallTimeoutMs: options.stallTimeout * 1000,
    onWaiting: (waiting) => {
      out.progress.waiting(waiting)
      if (waiting === undefined) return
      if (out.mode === 'plain') out.say(`Waiting: ${waiting}`)
      out.emit({ event: 'waiting', reason: waiting })
    }
  }
}

/** The -u/-d limits (KiB/s) as limiters; absent when 0 or not given. */
function limits (options: DownloadCommandOptions): { uploadLimit?: RateLimiter, downloadLimit?: RateLimiter } {
  return {
    ...(options.uploadLimit === undefined || options.uploadLimit === 0 ? {} : { uploadLimit: new RateLimiter(options.uploadLimit * 1024) }),
    ...(options.downloadLimit === undefined || options.downloadLimit === 0 ? {} : { downloadLimit: new RateLimiter(options.downloadLimit * 1024) })
  }
}

function limitsForSeeding (options: DownloadCommandOptions): { uploadLimit?: RateLimiter } {
  const { uploadLimit } = limits(options)
  return uploadLimit === undefined ? {} : { uploadLimit }
}
