/**
 * The options of every command, their defaults and their parsers: what main.ts needs to parse a command line,
 * apart from the commands themselves, which are loaded only when they run (start-up time: a download process should
 * not load the tracker, nor `--version` the BitTorrent engine).
 */
import { InvalidArgumentError } from 'commander'
import {
  DEFAULT_LEGACY_WORKERS, DEFAULT_LIBRARY_DIR, DEFAULT_PEER_PORT, DEFAULT_TRACKER_HOST, DEFAULT_TRACKER_PORT, DEFAULT_TRACKER_URL
} from '../constants.js'
import { isPieceLength, parsePieceLength, type LegacyDialect } from '../content/index.js'
import { announceUrl } from '../discovery/index.js'
import { TRACKER_FILES_MAX_LIMIT } from '../tracker/limits.js'

export interface TrackerCommandOptions {
  host: string
  port: number
  db: string
  /** Seconds between liveness probes of registered peers; 0 disables pruning. */
  probeInterval: number
  /** The BitTorrent announce `interval` given to peers, seconds. */
  announceInterval: number
  /** Serve the UDP tracker protocol (BEP 15) on the port's number too; `--no-udp` turns it off. */
  udp: boolean
  /** Log lines on stderr: `text` (default), `json` (one object a line) or `off`. */
  log: TrackerLogFormat
  /** HTTPS: certificate chain and private key files (PEM), both or neither. */
  cert?: string
  key?: string
  /** Seconds a shutdown (Ctrl+C, SIGTERM) waits for requests in flight before closing their connections. */
  shutdownTimeout: number
  /** A private tracker: every request needs `?passkey=` with a key from `tracker keys add` (and no UDP). */
  private: boolean
  /** Abuse limits: announces per second per client address (HTTP and UDP each), or `off` for no rate limits at all; absent: the defaults. */
  rateLimit?: number | 'off'
}

export const TRACKER_LOG_FORMATS = ['text', 'json', 'off'] as const
export type TrackerLogFormat = typeof TRACKER_LOG_FORMATS[number]

export const TRACKER_DEFAULTS = { log: 'text' as TrackerLogFormat, shutdownTimeout: 10, host: DEFAULT_TRACKER_HOST, port: DEFAULT_TRACKER_PORT, db: 'p2pshare-tracker.db', probeInterval: 60, announceInterval: 1800, udp: true, private: false }

/** Largest `--rate-limit`: far above what one tracker serves in all (~20,000 announces/s). */
const MAX_RATE_LIMIT = 1_000_000

/** `tracker --rate-limit <n|off>`: announces per second per client address (1 to 1,000,000), or `off`. */
export function parseTrackerRateLimit (value: string): number | 'off' {
  if (value === 'off') return 'off'
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_RATE_LIMIT) {
    throw new InvalidArgumentError(`rate limit must be a whole number of announces per second from 1 to ${MAX_RATE_LIMIT}, or off.`)
  }
  return Number(value)
}

/** `tracker keys add|list|revoke`. `db` is the tracker's `--db` (given before or after the subcommand). */
export interface TrackerKeysOptions {
  db: string
  json?: boolean
  /** `keys add`: the tracker's URL as its users reach it, for the announce URL printed with the key. */
  url?: string
}

export interface ShareCommandOptions {
  /** KiB/s over BitTorrent, all peers together; 0 or absent: no limit. */
  uploadLimit?: number
  port: number
  host: string
  ip?: string
  tracker: string
  dialect: LegacyDialect
  library: string
}

export const SHARE_DEFAULTS = {
  port: DEFAULT_PEER_PORT,
  host: '0.0.0.0',
  tracker: DEFAULT_TRACKER_URL,
  dialect: 'published' as LegacyDialect,
  library: DEFAULT_LIBRARY_DIR
}

export interface DownloadCommandOptions {
  out: string
  tracker: string
  workers: number
  quiet: boolean
  json: boolean
  /** Keep serving the file after the download, until Ctrl+C. */
  seed: boolean
  /** KiB/s over BitTorrent, all peers together; 0 or absent: no limit. */
  uploadLimit?: number
  downloadLimit?: number
  /** The port to serve on: while downloading a torrent, and with --seed (default: any free port). */
  port?: number
  /** The address to serve on (default 0.0.0.0, as share). */
  host: string
  /** Name and hash downloads: `auto` (BitTorrent where peers announce it, GET_CHUNK for the rest) or `get-chunk`. */
  protocol: 'auto' | 'get-chunk'
  /** Replace a different file or folder at the download's name. */
  overwrite: boolean
  /** Seconds without payload after which a BitTorrent download fails; 0: never. */
  stallTimeout: number
}

export const DOWNLOAD_PROTOCOLS = ['auto', 'get-chunk'] as const
export const DOWNLOAD_DEFAULTS = { out: DEFAULT_LIBRARY_DIR, tracker: DEFAULT_TRACKER_URL, workers: DEFAULT_LEGACY_WORKERS, host: '0.0.0.0', protocol: 'auto' as const, stallTimeout: 60 }

export interface InfoCommandOptions {
  json: boolean
}

/** `search [TEXT]`: the tracker's catalogue, searched, sorted and paged by the tracker. */
export interface SearchCommandOptions {
  tracker: string
  sort?: 'name' | 'size' | 'seeders' | 'added'
  order?: 'asc' | 'desc'
  limit: number
  offset: number
  /** One JSON object per matching file, one a line (JSON Lines), instead of the table. */
  json: boolean
}

/** A screenful: `--limit` and `--offset` page through more. */
export const SEARCH_DEFAULTS = { tracker: DEFAULT_TRACKER_URL, limit: 50, offset: 0 }
/** Most files one search asks for: the tracker's own cap. */
export const SEARCH_MAX_LIMIT = TRACKER_FILES_MAX_LIMIT

/** `tracker remove HASH`: the tracker's `--db` (given before or after the subcommand). */
export interface TrackerRemoveOptions {
  db: string
}

export interface CreateCommandOptions {
  out?: string
  /** Announce URLs, already normalised by parseTrackerOption. */
  tracker: string[]
  pieceLength?: number
  private: boolean
  comment?: string
  force: boolean
  /** `p2pshare/<version>`, from main. */
  createdBy: string
}

/**
 * The announce URL for what a user typed after `--tracker`: a tracker's base URL (`http://host:5000`, `host:5000`) or
 * its announce URL become `<base>/announce` (an announce URL keeps its query, e.g. a passkey); a UDP tracker (`udp://host:port`, BEP 15) is taken as it is.
 */
export function trackerAnnounceUrl (input: string): string {
  if (/^udp:\/\//i.test(input.trim())) {
    let url: URL
    try {
      url = new URL(input.trim())
    } catch {
      throw new InvalidArgumentError(`invalid tracker URL: ${input}`)
    }
    if (url.hostname === '' || url.port === '') throw new InvalidArgumentError(`a UDP tracker URL needs a host and a port: ${input}`)
    return url.href
  }
  try {
    // An announce URL is kept whole, query included (a private tracker's passkey lives there).
    return announceUrl(input)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

/** Commander option parser for a repeatable `--tracker`. */
export function collectTracker (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), trackerAnnounceUrl(value)]
}

/** Commander option parser for `--piece-length`. */
export function pieceLengthOption (value: string): number {
  const n = parsePieceLength(value)
  if (n === undefined || !isPieceLength(n)) throw new InvalidArgumentError('piece length must be a power of two from 16 KiB to 16 MiB, in bytes or with K/M (e.g. 262144, 256K, 1M).')
  return n
}

/**
 * No `--tracker`: the default tracker, as `share` and `download` use it, so that `create FILE` and `share FILE` point
 * at the same place. (A trackerless torrent would be found only through the DHT, which p2pshare does not run yet;
 * trackers are outside the info dictionary, so this choice never changes the info hash.)
 */
export const CREATE_DEFAULT_TRACKERS = [`${DEFAULT_TRACKER_URL}/announce`]

export interface NodeCommandOptions {
  port: number
  host: string
  apiPort: number
  /** Address the API listens on (127.0.0.1 unless told). */
  apiBind: string
  /** Host names the API answers to besides the loopback ones (DNS-rebinding check). */
  apiHost: string[]
  apiAuth?: string
  apiToken?: string
  dataDir: string
  downloadDir?: string
  tracker?: string
  watchDir?: string
  /** KiB/s; 0: none. */
  uploadLimit?: number
  downloadLimit?: number
  maxActiveDownloads?: number
  maxActiveSeeds?: number
}

export const NODE_DEFAULTS = { port: 6881, host: '0.0.0.0', apiPort: 9091, apiBind: '127.0.0.1', dataDir: 'p2pshare-node' }

/** Options every remote command (`add`, `list`, `show`, ...) takes to reach a running node. */
export interface RemoteOptions {
  node: string
  auth?: string
  json: boolean
}

export const REMOTE_DEFAULTS = { node: 'http://127.0.0.1:9091' }

/** Repeatable string option (`--api-host a --api-host b`). */
export function collectString (value: string, previous: string[]): string[] {
  return [...previous, value]
}
