/**
 * The CLI: parses arguments, calls the library, renders results. `main(argv, io)` returns the exit code; errors
 * become one readable line on stderr and a distinct exit code (exit-codes.ts), never a stack trace.
 */
import { Command, CommanderError, Option } from 'commander'
import { DEFAULT_TRACKER_URL, MAX_LEGACY_WORKERS } from '../constants.js'
import { isP2PError } from '../errors.js'
import { EXIT, exitCodeFor } from './exit-codes.js'
import {
  collectTracker, DOWNLOAD_DEFAULTS, DOWNLOAD_PROTOCOLS, parseTrackerRateLimit, pieceLengthOption, SHARE_DEFAULTS, TRACKER_DEFAULTS, TRACKER_LOG_FORMATS,
  type CreateCommandOptions, type DownloadCommandOptions, type InfoCommandOptions, type ShareCommandOptions, type TrackerCommandOptions,
  type TrackerKeysOptions, type SearchCommandOptions, type TrackerRemoveOptions, SEARCH_DEFAULTS, SEARCH_MAX_LIMIT,
  collectString, NODE_DEFAULTS, REMOTE_DEFAULTS, type NodeCommandOptions
} from './options.js'
import { CATALOGUE_ORDERS, CATALOGUE_SORT_KEYS } from '../discovery/index.js'
import type { CliIO, CommandContext } from './io.js'
import { parseChoice, parseIntIn, parsePort, parseRateLimit } from './parse.js'
import { terminalSafe } from './terminal-safe.js'

export type { CliIO } from './io.js'
export { EXIT } from './exit-codes.js'

const VERSION = '0.1.0'

/**
 * The seed's spelling, `p2pshare --share FILE --port 6000` and `p2pshare --download NAME --port 6001`, becomes
 * `share FILE --port 6000` / `download NAME --port 6001`.
 */
export function rewriteSeedSpelling (argv: readonly string[]): string[] {
  for (const flag of ['--share', '--download']) {
    const at = argv.findIndex(a => a === flag || a.startsWith(flag + '='))
    if (at === -1) continue
    const arg = argv[at] ?? ''
    const inline = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : undefined
    const value = inline ?? argv[at + 1]
    const rest = argv.filter((_, i) => i !== at && (inline !== undefined || i !== at + 1))
    return [flag.slice(2), ...(value === undefined ? [] : [value]), ...rest]
  }
  return [...argv]
}

export async function main (argv: readonly string[], io: CliIO): Promise<number> {
  const controller = new AbortController()
  const detach = io.signal === undefined ? attachProcessSignals(controller) : forward(io.signal, controller)
  const verbose = argv.includes('--verbose') || argv.includes('-v') || (io.env.DEBUG ?? '').includes('p2pshare')
  const ctx: CommandContext = {
    io,
    signal: controller.signal,
    verbose,
    out: (line) => { io.stdout.write(line + '\n') },
    // stderr is for people, one line each (errors, warnings, -v logs), and much of it quotes others: a tracker's
    // error, a peer's reply or client name, a torrent's name. Printed inert (terminal-safe.ts). stdout carries JSON
    // and paths for scripts, so each command makes its own human lines safe there.
    err: (line) => { io.stderr.write(terminalSafe(line) + '\n') }
  }
  let code: number = EXIT.ok
  const program = buildProgram(ctx, (c) => { code = c })
  try {
    await program.parseAsync(rewriteSeedSpelling(argv), { from: 'user' })
    return code
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (controller.signal.aborted && !isP2PError(err)) return EXIT.interrupted
    ctx.err(`Error: ${isP2PError(err) ? err.message : errorLine(err)}`)
    if (verbose && err instanceof Error && err.stack !== undefined) for (const line of err.stack.split('\n')) ctx.err(line)
    return exitCodeFor(err)
  } finally {
    detach()
  }
}

function buildProgram (ctx: CommandContext, setCode: (code: number) => void): Command {
  const program = new Command('p2pshare')
  program
    .description('Peer-to-peer file sharing: a tracker, sharing peers and a multi-peer downloader.')
    .version(VERSION)
    .option('-v, --verbose', 'log details to stderr (also DEBUG=p2pshare)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: (s, write) => { write(s.replace(/^error: /, 'Error: ')) }
    })
    .showSuggestionAfterError()
    .addHelpText('after', `
The seed's spelling works too:
  p2pshare --share FILE --port 6000
  p2pshare --download NAME --port 6001

Exit codes: 0 ok, 2 usage, 3 tracker unreachable, 4 file not found, 5 no peers,
6 peers failed, 7 hash mismatch, 8 port in use, 9 file error, 130 interrupted.`)

  const tracker = program.command('tracker')
    .description('run the tracker (the seed\'s /register, /lookup, /files API) with a persistent catalogue, and BitTorrent announce/scrape over HTTP and UDP')
    .option('--host <addr>', 'address to bind', TRACKER_DEFAULTS.host)
    .option('--port <n>', 'port to listen on', parsePort, TRACKER_DEFAULTS.port)
    .option('--db <file>', 'SQLite file for the catalogue', TRACKER_DEFAULTS.db)
    .option('--probe-interval <s>', 'seconds between liveness checks of registered peers (0: never prune)', parseIntIn(0, 86400, 'probe interval'), TRACKER_DEFAULTS.probeInterval)
    .option('--announce-interval <s>', 'seconds BitTorrent peers are told to wait between announces (peers expire after 2 x this + 120 s)', parseIntIn(1, 86400, 'announce interval'), TRACKER_DEFAULTS.announceInterval)
    .option('--no-udp', 'do not serve the UDP tracker protocol (BEP 15), which otherwise listens on the same port number as HTTP')
    .addOption(new Option('--log <format>', 'log lines on stderr: text, json (one object a line, for log collectors) or off; -v adds debug lines')
      .argParser(parseChoice(TRACKER_LOG_FORMATS, 'log format')).default(TRACKER_DEFAULTS.log))
    .option('--cert <file>', 'serve HTTPS with this certificate (PEM; with --key)')
    .option('--key <file>', 'the private key of --cert (PEM)')
    .option('--shutdown-timeout <s>', 'on Ctrl+C or SIGTERM, seconds to let requests in flight finish before closing their connections', parseIntIn(1, 3600, 'shutdown timeout'), TRACKER_DEFAULTS.shutdownTimeout)
    .option('--private', 'private tracker: every request needs ?passkey=KEY, a key from "tracker keys add" (no UDP then)', TRACKER_DEFAULTS.private)
    .option('--rate-limit <n|off>', 'announces per second per client address (IPv6: per /64), HTTP and UDP each, after a burst of 20 x n (default 100); off: no rate limits on any route', parseTrackerRateLimit)
    .action(async (options: TrackerCommandOptions) => {
      // Commands are loaded when they run: a downloader does not pay for fastify and SQLite, nor --help for anything.
      const { trackerCommand } = await import('./commands/tracker.js')
      setCode(await trackerCommand(options, ctx))
    })
  addTrackerKeysCommands(tracker, ctx, setCode)
  tracker.command('remove')
    .description('remove a file and its registered peers from the catalogue; works while the tracker runs on the same --db')
    .argument('<hash>', 'the file\'s file hash or info hash (40 hex)')
    .option('--db <file>', 'SQLite file of the tracker', TRACKER_DEFAULTS.db)
    .action(async (hash: string, _options: unknown, command: Command) => {
      const { trackerRemoveCommand } = await import('./commands/tracker-remove.js')
      setCode(await trackerRemoveCommand(hash, command.optsWithGlobals<TrackerRemoveOptions>(), ctx))
    })

  program.command('share')
    .description('share a file: hash it, register it with the tracker, serve its chunks; or a folder, as a multi-file torrent over BitTorrent only')
    .argument('<file>', 'file (or folder) to share')
    .option('-p, --port <n>', 'port to serve chunks on (0: any free port)', parsePort, SHARE_DEFAULTS.port)
    .option('--host <addr>', 'address to bind', SHARE_DEFAULTS.host)
    .option('--ip <addr>', 'address to register with the tracker (default: 127.0.0.1 for a loopback tracker, else this machine\'s LAN address)')
    .option('-t, --tracker <url>', 'tracker URL', SHARE_DEFAULTS.tracker)
    .addOption(new Option('--dialect <name>', 'chunk protocol to register with: published (1 MiB, length-prefixed) or readme (1 KiB, base64)')
      .argParser(parseChoice(['published', 'readme'] as const, 'dialect')).default(SHARE_DEFAULTS.dialect))
    .option('--library <dir>', 'where the copy by hash is kept', SHARE_DEFAULTS.library)
    .option('-u, --upload-limit <KiB/s>', 'upload limit, all peers and both protocols together (0: none)', parseRateLimit('upload limit'))
    .action(async (file: string, options: ShareCommandOptions) => {
      const { shareCommand } = await import('./commands/share.js')
      setCode(await shareCommand(file, options, ctx))
    })

  program.command('download')
    .summary('download a file by name, file hash, info hash, .torrent file or magnet link')
    .description('download a file from every peer that has it: by name, file hash or info hash through the tracker (BitTorrent and GET_CHUNK), or from a .torrent file or a magnet link (BitTorrent)')
    .argument('<target>', 'a file name known to the tracker, its file hash or info hash (40 hex), a .torrent file, or a magnet link (quote it)')
    .option('-o, --out <dir>', 'folder to save in: as <file hash> for a name or hash, under the torrent\'s name for a .torrent or magnet link', DOWNLOAD_DEFAULTS.out)
    .option('-t, --tracker <url>', 'tracker URL (name and hash downloads, and a magnet link that names no tracker)', DOWNLOAD_DEFAULTS.tracker)
    .option('-w, --workers <n>', 'chunks fetched in parallel (GET_CHUNK-only downloads)', parseIntIn(1, MAX_LEGACY_WORKERS, 'workers'), DOWNLOAD_DEFAULTS.workers)
    .option('--protocol <name>', 'name/hash downloads: auto (BitTorrent where peers announce the file, GET_CHUNK for legacy peers) or get-chunk (the seed\'s protocol only)', parseChoice(DOWNLOAD_PROTOCOLS, 'protocol'), DOWNLOAD_DEFAULTS.protocol)
    .option('-p, --port <n>', 'the port to serve on during a BitTorrent download and with --seed (default: any free port)', parsePort)
    .option('--host <addr>', 'the address to serve on during a BitTorrent download and with --seed', DOWNLOAD_DEFAULTS.host)
    .option('-q, --quiet', 'print only the saved path (and errors)', false)
    .option('--json', 'print machine-readable JSON lines', false)
    .option('-u, --upload-limit <KiB/s>', 'upload limit, all peers and both protocols together (0: none)', parseRateLimit('upload limit'))
    .option('-d, --download-limit <KiB/s>', 'download limit, all peers and both protocols together (0: none)', parseRateLimit('download limit'))
    .option('--seed', 'keep sharing the file after the download (BitTorrent, and GET_CHUNK for name/hash downloads) until Ctrl+C', false)
    .option('--overwrite', 'replace a different file or folder already at the download\'s name (default: refuse, exit 9)', false)
    .option('--stall-timeout <s>', 'BitTorrent downloads: fail after this many seconds without data (0: wait forever); verified pieces are kept', parseIntIn(0, 86_400, 'stall timeout'), DOWNLOAD_DEFAULTS.stallTimeout)
    .addHelpText('after', `
Examples:
  p2pshare download testfile.txt               a file name the tracker knows
  p2pshare download 4b215d87800ee88aeb06e9...  a file hash or info hash
  p2pshare download movie.torrent -o films     a .torrent file
  p2pshare download 'magnet:?xt=urn:btih:...'  a magnet link, quoted`)
    .action(async (file: string, options: DownloadCommandOptions) => {
      const { downloadCommand } = await import('./commands/download.js')
      setCode(await downloadCommand(file, options, ctx))
    })

  program.command('node')
    .summary('run the long-lived client: many torrents, resume after restarts, REST API and Transmission RPC')
    .description('run a node that holds many torrents and keeps them across restarts (state in --data-dir), driven by its REST API and event stream, Transmission RPC (transmission-remote, Sonarr, Radarr) and the add/list/show/pause/resume/remove/verify commands. Runs until Ctrl+C.')
    .option('-p, --port <n>', 'BitTorrent port for every torrent (0: any free port)', parsePort, NODE_DEFAULTS.port)
    .option('--host <addr>', 'address the BitTorrent port binds', NODE_DEFAULTS.host)
    .option('--api-port <n>', 'port of the API (REST, events, Transmission RPC)', parsePort, NODE_DEFAULTS.apiPort)
    .option('--api-bind <addr>', 'address the API binds (anything but loopback needs --api-auth or --api-token)', NODE_DEFAULTS.apiBind)
    .option('--api-host <name>', 'a host name the API answers to besides 127.0.0.1/localhost (DNS-rebinding check); repeat for more', collectString, [])
    .option('--api-auth <user:pass>', 'require HTTP Basic auth on the API (also what transmission-remote --auth sends)')
    .option('--api-token <token>', 'accept "Authorization: Bearer <token>" on the API')
    .option('--data-dir <dir>', 'where the node keeps its state (node.db, torrents/)', NODE_DEFAULTS.dataDir)
    .option('--download-dir <dir>', 'where new torrents are downloaded (default: <data-dir>/downloads; kept once set)')
    .option('-t, --tracker <url>', 'tracker for names and file hashes from its catalogue, shared paths, and magnet links that name none')
    .option('--watch-dir <dir>', 'add every .torrent file that appears in this folder (renamed .added once added)')
    .option('-u, --upload-limit <KiB/s>', 'global upload limit (0: none)', parseRateLimit('upload limit'))
    .option('-d, --download-limit <KiB/s>', 'global download limit (0: none)', parseRateLimit('download limit'))
    .option('--max-active-downloads <n>', 'torrents downloading at once (the rest are queued; default 5)', parseIntIn(0, 10_000, 'max active downloads'))
    .option('--max-active-seeds <n>', 'torrents seeding at once (default 100)', parseIntIn(0, 10_000, 'max active seeds'))
    .action(async (options: NodeCommandOptions) => {
      const { nodeCommand } = await import('./commands/node.js')
      setCode(await nodeCommand(options, ctx))
    })

  const remote = (name: string, summary: string): Command => program.command(name)
    .description(summary)
    .option('--node <url>', 'the node\'s API (also P2PSHARE_NODE)', ctx.io.env.P2PSHARE_NODE ?? REMOTE_DEFAULTS.node)
    .option('--auth <user:pass>', 'the node\'s --api-auth (also P2PSHARE_NODE_AUTH)')
    .option('--json', 'print JSON', false)
  const runRemote = async (action: string, args: string[], command: Command): Promise<void> => {
    const { remoteCommand } = await import('./commands/remote.js')
    setCode(await remoteCommand(action, args, command.opts(), ctx))
  }
  remote('add', 'add torrents to a running node: .torrent files, magnet links, info hashes, catalogue names or hashes, or paths to share')
    .argument('<what...>', 'a .torrent file, a magnet link (quoted), an info hash, a name or file hash from the tracker catalogue, or a file or folder to share')
    .option('--paused', 'add without starting', false)
    .option('--download-dir <dir>', 'where to download (default: the node\'s)')
    .option('--share', 'the argument is a local file or folder to seed from where it is (default for existing paths that are not .torrent files)', false)
    .option('--catalogue', 'look the argument up in the tracker catalogue by name or file hash', false)
    .action(async (what: string[], _o: unknown, command: Command) => { await runRemote('add', what, command) })
  remote('list', 'list the torrents of a running node')
    .action(async (_o: unknown, command: Command) => { await runRemote('list', [], command) })
  remote('show', 'show one torrent of a running node: files, peers, trackers')
    .argument('<torrent>', 'id or info hash')
    .action(async (ref: string, _o: unknown, command: Command) => { await runRemote('show', [ref], command) })
  for (const [name, summary] of [['pause', 'pause torrents'], ['resume', 'resume paused torrents'], ['verify', 'check torrents\' data again, piece by piece']] as const) {
    remote(name, `${summary} of a running node`)
      .argument('<torrent...>', 'ids or info hashes, or all')
      .action(async (refs: string[], _o: unknown, command: Command) => { await runRemote(name, refs, command) })
  }
  remote('remove', 'remove torrents from a running node (their data stays unless --delete-data)')
    .argument('<torrent...>', 'ids or info hashes, or all')
    .option('--delete-data', 'also delete the downloaded files', false)
    .action(async (refs: string[], _o: unknown, command: Command) => { await runRemote('remove', refs, command) })

  program.command('create')
    .description('write a .torrent for a file or a folder; print its info hash and magnet link')
    .argument('<path>', 'file or folder to describe')
    .option('-o, --out <file>', 'where to write the torrent (default: <name>.torrent here)')
    .option('-t, --tracker <url>', 'tracker base or announce URL (http, https, udp); repeat for more (default: http://127.0.0.1:5000/announce)', collectTracker, [])
    .option('--piece-length <n>', 'piece length, a power of two from 16 KiB to 16 MiB, in bytes or with K/M (default: chosen from the size)', pieceLengthOption)
    .option('--private', 'mark it private (BEP 27: peers from trackers only)', false)
    .option('--comment <text>', 'a comment for the torrent')
    .option('-f, --force', 'overwrite the output file if it exists', false)
    .action(async (path: string, options: Omit<CreateCommandOptions, 'createdBy'>) => {
      const { createCommand } = await import('./commands/create.js')
      setCode(await createCommand(path, { ...options, createdBy: `p2pshare/${VERSION}` }, ctx))
    })

  program.command('info')
    .description('show what a .torrent file or a magnet link describes')
    .argument('<torrent>', 'a .torrent file, a magnet link, or an info hash')
    .option('--json', 'print one JSON object', false)
    .action(async (target: string, options: InfoCommandOptions) => {
      const { infoCommand } = await import('./commands/info.js')
      setCode(await infoCommand(target, options, ctx))
    })

  program.command('search')
    .description('search the tracker\'s catalogue by name: size, seeders, leechers, completed downloads, hashes')
    .argument('[text]', 'text the names contain, case-insensitively (none: every file)')
    .option('-t, --tracker <url>', 'tracker URL', SEARCH_DEFAULTS.tracker)
    .addOption(new Option('--sort <key>', 'sort by name, size, seeders or added (default: registration order)').argParser(parseChoice(CATALOGUE_SORT_KEYS, 'sort')))
    .addOption(new Option('--order <dir>', 'asc or desc (default: asc for name, desc for the others)').argParser(parseChoice(CATALOGUE_ORDERS, 'order')))
    .option('-n, --limit <n>', `files to list (1 to ${SEARCH_MAX_LIMIT})`, parseIntIn(1, SEARCH_MAX_LIMIT, 'limit'), SEARCH_DEFAULTS.limit)
    .option('--offset <n>', 'matches to skip first (paging)', parseIntIn(0, Number.MAX_SAFE_INTEGER, 'offset'), SEARCH_DEFAULTS.offset)
    .option('--json', 'print one JSON object per file, one a line', false)
    .action(async (text: string | undefined, options: SearchCommandOptions) => {
      const { searchCommand } = await import('./commands/search.js')
      setCode(await searchCommand(text, options, ctx))
    })

  return program
}

/**
 * `tracker keys add|list|revoke`: the access keys of a private tracker, in its database. `--db` is the tracker's own
 * option (commander gives it to `tracker` wherever it is written), read here through optsWithGlobals.
 */
function addTrackerKeysCommands (tracker: Command, ctx: CommandContext, setCode: (code: number) => void): void {
  const keys = tracker.command('keys')
    .description('issue, list and revoke the access keys of a private tracker (tracker --private); works while it runs')
  const run = async (action: 'add' | 'list' | 'revoke', arg: string | undefined, command: Command): Promise<void> => {
    const { trackerKeysCommand } = await import('./commands/tracker-keys.js')
    setCode(await trackerKeysCommand(action, arg, command.optsWithGlobals<TrackerKeysOptions>(), ctx))
  }
  keys.command('add')
    .description('issue a key for a user; it is printed once, with the announce URL to give them')
    .argument('<label>', 'who the key is for (1 to 200 characters, not a number)')
    .option('--db <file>', 'SQLite file of the tracker', TRACKER_DEFAULTS.db)
    .option('--url <tracker>', `the tracker's URL as users reach it, for the printed announce URL (default ${DEFAULT_TRACKER_URL})`)
    .option('--json', 'print one JSON object', false)
    .action(async (label: string, _options: unknown, command: Command) => { await run('add', label, command) })
  keys.command('list')
    .description('list the keys: id, label, first characters, created, revoked (never a key)')
    .option('--db <file>', 'SQLite file of the tracker', TRACKER_DEFAULTS.db)
    .option('--json', 'print one JSON array', false)
    .action(async (_options: unknown, command: Command) => { await run('list', undefined, command) })
  keys.command('revoke')
    .description('revoke a key by its id, or every key of a label; a running tracker refuses it within a second')
    .argument('<id|label>', 'a key id (a number) or a label')
    .option('--db <file>', 'SQLite file of the tracker', TRACKER_DEFAULTS.db)
    .action(async (which: string, _options: unknown, command: Command) => { await run('revoke', which, command) })
}

function errorLine (err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] ?? err.name : String(err)
}

/**
 * The first Ctrl+C or SIGTERM stops the command gracefully (trackers told `stopped`, partial downloads kept, each
 * step bounded in time); a second one ends the process at once, as most command-line tools do.
 */
function attachProcessSignals (controller: AbortController): () => void {
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function forward (signal: AbortSignal, controller: AbortController): () => void {
  const onAbort = (): void => { controller.abort() }
  if (signal.aborted) controller.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  return () => { signal.removeEventListener('abort', onAbort) }
}
