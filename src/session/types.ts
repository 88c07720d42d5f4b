/**
 * The session's public face: what a long-running node holds (torrents with states, settings, statistics) as plain
 * data, and the operations the node's APIs (REST, Transmission RPC, the remote CLI, the web UI) drive it with. The
 * API layer knows only this file: `SessionApi` is implemented by `Session`, and by small in-memory stand-ins in the
 * API's own tests.
 */
import type { TypedEmitter, EventMap } from '../swarm/emitter.js'

/**
 * Where a torrent is in its life. `checking`: its files are being hashed (a new torrent over existing data, a
 * resume whose files changed, a re-verify). `metadata`: a magnet waiting for its info dictionary from peers.
 * `queued`: waiting for a place under the queue limits. `downloading`, `seeding`: active. `paused`: stopped by the
 * user (or added paused). `stopped`: finished seeding (its ratio or idle limit was reached). `error`: a local
 * failure (disk full, files gone); `error` says which; resume retries.
 */
export type TorrentState = 'checking' | 'metadata' | 'queued' | 'downloading' | 'seeding' | 'paused' | 'stopped' | 'error'

export const TORRENT_STATES: readonly TorrentState[] = ['checking', 'metadata', 'queued', 'downloading', 'seeding', 'paused', 'stopped', 'error']

/** A torrent named in an API call: its session id (a small integer, stable across restarts) or its info hash (40 hex). */
export type TorrentRef = number | string

/** Per-torrent limits. `null`: none (or, for the seed limits, the session's default applies when `undefined`). */
export interface TorrentLimits {
  /** Bytes per second; null: no limit of its own (the session's global limit still holds). */
  uploadLimit: number | null
  downloadLimit: number | null
  /** Stop seeding once uploaded / size reaches this; null: the session's default (`seedRatioLimit`), which may be none. */
  seedRatioLimit: number | null
  /** Stop seeding after this many minutes without an upload; null: the session's default. */
  seedIdleLimitMinutes: number | null
}

export interface TorrentSummary {
  /** Session id: small, positive, stable across restarts, never reused while the torrent exists. */
  id: number
  /** 40 lowercase hex. */
  infoHash: string
  /** The torrent's name, or the magnet's `dn` (or the info hash) before its metadata. */
  name: string
  state: TorrentState
  /** Set in state `error` (and kept after a failed check): one readable line. */
  error: string | null
  hasMetadata: boolean
  /** Bytes of content; 0 before metadata. */
  totalSize: number
  /** Bytes verified on disk. */
  verifiedBytes: number
  /** totalSize - verifiedBytes. */
  leftBytes: number
  /** verifiedBytes / totalSize (0 before metadata), 0..1. */
  progress: number
  pieceCount: number
  pieceLength: number
  fileCount: number
  /** Payload bytes over the torrent's whole life (persisted), not counting this session's duplicates or junk. */
  downloadedEver: number
  uploadedEver: number
  /** Bytes per second, averaged over the last few seconds. */
  downloadRate: number
  uploadRate: number
  /** Connected peers, and those of them that have everything. */
  peers: number
  seeds: number
  /** Seconds until done at the current rate; null when unknown or not downloading. */
  eta: number | null
  /** uploadedEver / totalSize (0 before metadata). */
  ratio: number
  /** The folder the torrent's content lives in (its name below it). */
  downloadDir: string
  /** Milliseconds since the epoch. */
  addedAt: number
  /** When every piece was verified; null while not complete. */
  doneAt: number | null
  /** When a payload byte last came or went; null: never. */
  activityAt: number | null
  /** Seconds spent downloading and seeding over the torrent's life (what Sonarr's seed-time rules read). */
  secondsDownloading: number
  secondsSeeding: number
  /** When it last started running (downloading or seeding); null: not since it was added. */
  startedAt: number | null
  magnet: string
  limits: TorrentLimits
  /** Position in the session's queue (0 first). */
  queuePosition: number
  /** BEP 27: private torrents talk to their trackers only. */
  isPrivate: boolean
}

export interface TorrentFile {
  index: number
  /** Path inside the torrent, `/`-separated, the torrent's name first for a multi-file torrent. */
  path: string
  length: number
  /** Bytes of this file in verified pieces. */
  completed: number
}

export interface TorrentPeer {
  /** `host:port` */
  address: string
  /** The client named by its peer id or extended handshake, if known. */
  client: string | null
  protocol: 'bittorrent' | 'get-chunk'
  /** Where we learned of it (`incoming`: it connected to us). */
  source: string
  direction: 'in' | 'out'
  downloadRate: number
  uploadRate: number
  /** Of the pieces, the share it has, 0..1. */
  progress: number
  amChoking: boolean
  amInterested: boolean
  peerChoking: boolean
  peerInterested: boolean
}

export interface TorrentTracker {
  url: string
  state: 'pending' | 'ok' | 'refused' | 'failed'
  message: string | null
  /** Peers its last answer gave. */
  peers: number | null
  lastAnnounceAt: number | null
}

export interface TorrentDetail extends TorrentSummary {
  files: TorrentFile[]
  peerList: TorrentPeer[]
  trackers: TorrentTracker[]
  /** The verified pieces as a BEP 3 bitfield, base64 (empty before metadata). */
  pieces: string
}

/** What to add. Exactly one source. */
export type AddSource =
  /** A .torrent file's bytes. */
  | { kind: 'torrent', data: Buffer }
  /** A magnet URI, or a bare info hash (40 hex or 32 base32). */
  | { kind: 'magnet', uri: string }
  /** A local file or folder to share: a torrent is made of it and seeded from where it is. */
  | { kind: 'path', path: string }
  /** A name or file hash known to the tracker's catalogue. */
  | { kind: 'catalogue', query: string }

export interface AddOptions {
  /** Default: the session's `downloadDir`. */
  downloadDir?: string
  /** Added paused: nothing is dialled or announced until resumed. */
  paused?: boolean
  limits?: Partial<TorrentLimits>
}

export interface TorrentChanges {
  limits?: Partial<TorrentLimits>
}

export interface SessionSettings {
  /** Where new torrents are downloaded. */
  downloadDir: string
  /** BitTorrent listening port (TCP). */
  port: number
  /** Torrents downloading at once (checking and fetching metadata count); the rest wait in `queued`. */
  maxActiveDownloads: number
  /** Torrents seeding at once. */
  maxActiveSeeds: number
  /** Bytes per second for the whole session; null: none. */
  uploadLimit: number | null
  downloadLimit: number | null
  /** Defaults for torrents without their own; null: seed forever. */
  seedRatioLimit: number | null
  seedIdleLimitMinutes: number | null
  /** A folder whose new `.torrent` files are added (then renamed `.torrent.added`); null: none. */
  watchDir: string | null
}

export type SettingsChanges = Partial<Omit<SessionSettings, 'port'>>

export interface SessionStats {
  torrentCount: number
  activeTorrentCount: number
  pausedTorrentCount: number
  downloadRate: number
  uploadRate: number
  /** This run of the node; `piecesChecked`: pieces hashed by checks (a restart that trusted its resume data: 0). */
  current: { downloaded: number, uploaded: number, seconds: number, piecesChecked: number }
  /** Over every run (persisted). */
  cumulative: { downloaded: number, uploaded: number, seconds: number, sessions: number }
}

export interface FreeSpace {
  path: string
  /** Bytes available to us. */
  free: number
  /** Bytes of the file system. */
  total: number
}

/**
 * What the session tells whoever follows it. `stats` is throttled: once a second, with every torrent whose numbers
 * changed; the others come at once.
 */
export interface SessionEventMap extends EventMap {
  added: [TorrentSummary]
  removed: [{ id: number, infoHash: string }]
  /** A torrent's state (or error) changed. */
  state: [TorrentSummary]
  /** A magnet's metadata arrived: name, size and files are known now. */
  metadata: [TorrentSummary]
  /** Every piece verified. */
  complete: [TorrentSummary]
  stats: [TorrentSummary[]]
  /** Session settings changed. */
  settings: [SessionSettings]
  log: [{ torrent: number | null, message: string }]
}

/**
 * Errors the operations throw are P2PErrors with stable codes: ERR_NOT_FOUND (no such torrent), ERR_DUPLICATE (the
 * info hash is already in the session; `existing` carries its id), ERR_VALIDATION (bad input), ERR_INPUT (a
 * .torrent or path that cannot be read or parsed), ERR_NOT_READY (needs metadata), ERR_OUTPUT / ERR_NO_SPACE.
 */
export interface SessionApi {
  readonly events: TypedEmitter<SessionEventMap>
  readonly settings: SessionSettings
  readonly version: string
  list (): TorrentSummary[]
  /** undefined when no torrent has this id or info hash. */
  get (ref: TorrentRef): TorrentDetail | undefined
  add (source: AddSource, options?: AddOptions): Promise<TorrentSummary>
  pause (ref: TorrentRef): Promise<TorrentSummary>
  resume (ref: TorrentRef): Promise<TorrentSummary>
  /** Removes it from the session; with `deleteData` its files (or partial files) too. */
  remove (ref: TorrentRef, options?: { deleteData?: boolean }): Promise<void>
  /** Re-hash every piece on disk (the torrent is `checking` meanwhile); resolves once the check has started. */
  verify (ref: TorrentRef): Promise<TorrentSummary>
  /** Announce to every tracker now. */
  reannounce (ref: TorrentRef): Promise<TorrentSummary>
  set (ref: TorrentRef, changes: TorrentChanges): Promise<TorrentSummary>
  /** Point the torrent at another folder; with `move` its files are moved there first. */
  setLocation (ref: TorrentRef, dir: string, options?: { move?: boolean }): Promise<TorrentSummary>
  queueMove (ref: TorrentRef, to: 'top' | 'up' | 'down' | 'bottom'): Promise<void>
  updateSettings (changes: SettingsChanges): Promise<SessionSettings>
  stats (): SessionStats
  freeSpace (path: string): Promise<FreeSpace>
}
