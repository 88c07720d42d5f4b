/** `p2pshare download NAME|FILEHASH`: the seed's `--download`, with progress and clear failures. */
import { downloadFile } from '../../node/index.js'
import { formatBytes, formatRate } from '../format.js'
import type { CommandContext } from '../io.js'
import type { DownloadCommandOptions } from '../options.js'
import { ProgressReporter, type ProgressMode } from '../progress.js'

export async function downloadCommand (target: string, options: DownloadCommandOptions, ctx: CommandContext): Promise<number> {
  const mode: ProgressMode = options.json ? 'json' : options.quiet ? 'quiet' : ctx.io.stderr.isTTY === true ? 'tty' : 'plain'
  const say = (line: string): void => { if (mode === 'tty' || mode === 'plain') ctx.out(line) }
  const emit = (event: Record<string, unknown>): void => { if (mode === 'json') ctx.out(JSON.stringify(event)) }
  // The live bar goes to stderr so that stdout stays clean for scripts.
  const progress = new ProgressReporter(mode, mode === 'json' ? (t) => ctx.io.stdout.write(t) : (t) => ctx.io.stderr.write(t))

  say(`Looking up file: ${target}`)
  try {
    const outcome = await downloadFile({
      target,
      trackerUrl: options.tracker,
      outDir: options.out,
      workers: options.workers,
      signal: ctx.signal,
      onLookup: (lookup) => {
        emit({ event: 'lookup', file_name: lookup.file_name, file_hash: lookup.file_hash, file_size: lookup.file_size, peers: lookup.peers.length })
        if (ctx.verbose) ctx.err(`Tracker response: ${JSON.stringify({ ...lookup, peers: lookup.peers.map(p => ({ ip: p.ip, port: p.port, chunks: p.chunks.length })) })}`)
      },
      onStart: ({ chunks, peers }) => {
        say(`Starting download — ${chunks} chunks from ${peers} peer(s)...`)
        emit({ event: 'start', chunks, peers })
      },
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
    }
    emit({
      event: 'done',
      path: outcome.path,
      file_hash: outcome.fileHash,
      file_size: outcome.size,
      elapsed_ms: outcome.elapsedMs,
      already_present: outcome.alreadyPresent,
      max_rss_kb: process.resourceUsage().maxRSS
    })
    if (mode === 'quiet') ctx.out(outcome.path)
    return 0
  } finally {
    progress.finish()
  }
}
