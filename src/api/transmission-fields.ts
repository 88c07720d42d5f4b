/**
 * Our torrents as Transmission RPC torrent objects (`torrent-get`): the session's `TorrentSummary` / `TorrentDetail`
 * mapped field by field onto what Transmission 3.00 answers (../shared/specs/transmission-rpc-spec-3.00.txt, 3.3),
 * with the snake_case names of 4.1 accepted too. Pure functions of the torrent, the session's settings and the time:
 * transmission-rpc.ts decides which torrents and which fields.
 *
 * Types matter more than the spec says: transmission-remote reads a field with `tr_variantDictFindInt`, which refuses
 * a JSON number with a fraction, and drops the whole row when one of the fields it needs is missing or mistyped. So
 * every integer field is rounded here, every boolean is a JSON boolean, and every field is always present.
 */
import type { SessionSettings, TorrentDetail, TorrentPeer, TorrentState, TorrentSummary, TorrentTracker } from '../session/types.js'

/** tr_torrent_activity (Transmission 2.40 and later, rpc-version 14). */
export const TR_STATUS = {
  STOPPED: 0,
  CHECK_WAIT: 1,
  CHECK: 2,
  DOWNLOAD_WAIT: 3,
  DOWNLOAD: 4,
  SEED_WAIT: 5,
  SEED: 6
} as const

/** tr_stat_errtype: we only ever have local errors (a tracker's trouble is in `trackerStats`). */
export const TR_ERROR = { NONE: 0, TRACKER_WARNING: 1, TRACKER_ERROR: 2, LOCAL_ERROR: 3 } as const

/** tr_eta: -1 not available (not downloading), -2 unknown (downloading, no estimate yet). */
export const TR_ETA_NOT_AVAILABLE = -1
export const TR_ETA_UNKNOWN = -2

/** tr_ratio: -1 not available (nothing to divide by). */
export const TR_RATIO_NOT_AVAILABLE = -1

/** tr_ratiolimit and tr_idlelimit: 0 the session's default, 1 the torrent's own, 2 unlimited. */
export const TR_LIMIT_MODE = { GLOBAL: 0, SINGLE: 1, UNLIMITED: 2 } as const

/** tr_tracker_state, for trackerStats.announceState / scrapeState. */
const TR_TRACKER = { INACTIVE: 0, WAITING: 1, QUEUED: 2, ACTIVE: 3 } as const

/**
 * Speeds and speed limits in the RPC are in kB/s with k = 1000 (session-get `units.speed-bytes`, and
 * transmission-remote's own fixed SPEED_K); rates (`rateDownload`...) are in bytes per second.
 */
export const SPEED_K = 1000

/**
 * Transmission's defaults, answered where a torrent or the session has no value of its own (Transmission always has
 * one stored: a disabled limit keeps its number). They mean nothing while the matching switch is off.
 */
export const DEFAULT_SEED_RATIO = 2
export const DEFAULT_IDLE_MINUTES = 30
/** `queue-stalled-minutes`: an active torrent with no payload byte for this long is stalled (`isStalled`). */
export const STALLED_MINUTES = 30
/** Reported as `peer-limit` / `maxConnectedPeers`: Transmission's default, informational only (not our bound). */
export const REPORTED_PEER_LIMIT_PER_TORRENT = 50

/** Milliseconds since the epoch (or null: never) as Transmission's whole seconds (0: never). */
export function seconds (ms: number | null): number {
  return ms === null || !Number.isFinite(ms) ? 0 : Math.floor(ms / 1000)
}

/** A number as a JSON integer (transmission-remote refuses fractions where it expects integers). */
export function int (value: number): number {
  return Number.isFinite(value) ? Math.round(value) : 0
}

/** Bytes per second as whole kB/s (a limit of 1,500 B/s reads as 2 kB/s). */
export function toKBps (bytesPerSecond: number | null): number {
  return bytesPerSecond === null ? 0 : int(bytesPerSecond / SPEED_K)
}

/** A torrent whose content is all verified (a magnet without metadata is not). */
export function isComplete (t: TorrentSummary): boolean {
  return t.hasMetadata && t.leftBytes === 0
}

/** Our state as Transmission's status (0-6). We have no separate "waiting to verify": a check waits in `queued`. */
export function transmissionStatus (t: TorrentSummary): number {
  const byState: Record<TorrentState, number> = {
    paused: TR_STATUS.STOPPED,
    stopped: TR_STATUS.STOPPED,
    error: TR_STATUS.STOPPED,
    checking: TR_STATUS.CHECK,
    queued: isComplete(t) ? TR_STATUS.SEED_WAIT : TR_STATUS.DOWNLOAD_WAIT,
    downloading: TR_STATUS.DOWNLOAD,
    metadata: TR_STATUS.DOWNLOAD,
    seeding: TR_STATUS.SEED
  }
  return byState[t.state]
}

/** Running: dialling, announcing, transferring or about to (the states `torrent-start` leaves alone). */
export function isRunning (state: TorrentState): boolean {
  return state !== 'paused' && state !== 'stopped' && state !== 'error'
}

export function transmissionEta (t: TorrentSummary): number {
  if (t.eta !== null && Number.isFinite(t.eta) && t.eta >= 0) return Math.round(t.eta)
  return transmissionStatus(t) === TR_STATUS.DOWNLOAD ? TR_ETA_UNKNOWN : TR_ETA_NOT_AVAILABLE
}

/** `host:port` or `[v6]:port` as Transmission's separate address and port. */
export function splitAddress (address: string): { host: string, port: number } {
  const colon = address.lastIndexOf(':')
  if (colon <= 0) return { host: address, port: 0 }
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  const port = Number(address.slice(colon + 1))
  return { host, port: Number.isInteger(port) ? port : 0 }
}

/**
 * tr_peer_stat's flagStr (Transmission's peer-mgr.c): D downloading from it, d we want to but it chokes us, U
 * uploading to it, u it wants to but we choke it, K it unchoked us but we are not interested, ? we unchoked it but it
 * is not interested, X from PEX, H from the DHT, I it connected to us. Our peers are never encrypted, never uTP.
 */
export function peerFlags (p: TorrentPeer): string {
  const downloadingFrom = p.amInterested && !p.peerChoking
  const uploadingTo = p.peerInterested && !p.amChoking
  let flags = ''
  if (downloadingFrom) flags += 'D'
  else if (p.amInterested) flags += 'd'
  if (uploadingTo) flags += 'U'
  else if (p.peerInterested) flags += 'u'
  if (!p.peerChoking && !p.amInterested) flags += 'K'
  if (!p.amChoking && !p.peerInterested) flags += '?'
  if (p.source === 'dht') flags += 'H'
  else if (p.source === 'pex') flags += 'X'
  if (p.direction === 'in') flags += 'I'
  return flags
}

/** tr_peer_stat. Transmission's "client" is us: clientIsChoked means the peer chokes us. */
export function peerObject (p: TorrentPeer): Record<string, unknown> {
  const { host, port } = splitAddress(p.address)
  return {
    address: host,
    port,
    clientName: p.client ?? (p.protocol === 'get-chunk' ? 'GET_CHUNK peer' : ''),
    clientIsChoked: p.peerChoking,
    clientIsInterested: p.amInterested,
    peerIsChoked: p.amChoking,
    peerIsInterested: p.peerInterested,
    isDownloadingFrom: p.amInterested && !p.peerChoking,
    isUploadingTo: p.peerInterested && !p.amChoking,
    isIncoming: p.direction === 'in',
    isEncrypted: false,
    isUTP: false,
    flagStr: peerFlags(p),
    progress: Number.isFinite(p.progress) ? p.progress : 0,
    rateToClient: int(p.downloadRate),
    rateToPeer: int(p.uploadRate),
    bytesToClient: 0,
    bytesToPeer: 0,
    peerId: ''
  }
}

/** tr_stat.peersFrom, by our peer sources. Sources Transmission has no name for (magnet, manual) count as fromCache. */
export function peersFrom (peers: readonly TorrentPeer[]): Record<string, number> {
  const from = { fromCache: 0, fromDht: 0, fromIncoming: 0, fromLpd: 0, fromLtep: 0, fromPex: 0, fromTracker: 0 }
  for (const p of peers) {
    if (p.source === 'incoming') from.fromIncoming++
    else if (p.source === 'dht') from.fromDht++
    else if (p.source === 'pex') from.fromPex++
    else if (p.source === 'tracker' || p.source === 'catalogue') from.fromTracker++
    else from.fromCache++
  }
  return from
}

/** BEP 48's convention: the scrape URL is the announce URL with its last `announce` path segment as `scrape`. */
export function scrapeUrl (announce: string): string {
  const match = /^(.*\/)announce([^/]*)$/.exec(announce)
  return match === null ? '' : `${match[1] ?? ''}scrape${match[2] ?? ''}`
}

/** `scheme://host:port` as Transmission's trackerStats.host, and the site name (the host without subdomains). */
function trackerHost (url: string): { host: string, sitename: string } {
  try {
    const u = new URL(url)
    const labels = u.hostname.split('.')
    const sitename = labels.length >= 2 && !/^\d+$/.test(labels[labels.length - 1] ?? '') ? labels[labels.length - 2] ?? u.hostname : u.hostname
    return { host: `${u.protocol}//${u.host}`, sitename }
  } catch {
    return { host: url, sitename: '' }
  }
}

/** tr_tracker_info. Our trackers have no tiers of their own: each is its own tier, in order. */
export function trackerObject (t: TorrentTracker, index: number): Record<string, unknown> {
  return { announce: t.url, id: index, scrape: scrapeUrl(t.url), sitename: trackerHost(t.url).sitename, tier: index }
}

/**
 * tr_tracker_stat. We keep no scrape results and no announce schedule: counts are -1 (unknown), a running torrent's
 * trackers are "queued" (transmission-remote: "Queued to ask for more peers"), a stopped one's inactive.
 */
export function trackerStatsObject (t: TorrentTracker, index: number, running: boolean): Record<string, unknown> {
  const announced = t.lastAnnounceAt !== null
  const { host, sitename } = trackerHost(t.url)
  return {
    id: index,
    tier: index,
    announce: t.url,
    scrape: scrapeUrl(t.url),
    host,
    sitename,
    isBackup: false,
    announceState: running ? TR_TRACKER.QUEUED : TR_TRACKER.INACTIVE,
    scrapeState: TR_TRACKER.INACTIVE,
    hasAnnounced: announced,
    hasScraped: false,
    lastAnnouncePeerCount: int(t.peers ?? 0),
    lastAnnounceResult: t.state === 'ok' ? 'Success' : t.message ?? '',
    lastAnnounceStartTime: seconds(t.lastAnnounceAt),
    lastAnnounceSucceeded: t.state === 'ok',
    lastAnnounceTime: seconds(t.lastAnnounceAt),
    lastAnnounceTimedOut: t.state === 'failed' && /timed? ?out/i.test(t.message ?? ''),
    lastScrapeResult: '',
    lastScrapeStartTime: 0,
    lastScrapeSucceeded: false,
    lastScrapeTime: 0,
    lastScrapeTimedOut: false,
    nextAnnounceTime: 0,
    nextScrapeTime: 0,
    seederCount: -1,
    leecherCount: -1,
    downloadCount: -1,
    downloaderCount: -1
  }
}

/** tr_file plus 4.1's piece span (`endPiece` exclusive). */
function fileObjects (detail: TorrentDetail): Array<Record<string, unknown>> {
  let offset = 0
  const pieceLength = detail.pieceLength
  return detail.files.map((f) => {
    const begin = offset
    offset += f.length
    return {
      name: f.path,
      length: f.length,
      bytesCompleted: f.completed,
      beginPiece: pieceLength > 0 ? Math.floor(begin / pieceLength) : 0,
      endPiece: pieceLength > 0 ? Math.ceil(offset / pieceLength) : 0
    }
  })
}

/** What a field is computed from. `detail` is there whenever one of the requested fields needs it. */
export interface FieldContext {
  torrent: TorrentSummary
  detail: TorrentDetail | undefined
  settings: SessionSettings
  /** Milliseconds since the epoch. */
  now: number
  /** 4.1 (JSON-RPC) answers `wanted` as booleans; the old protocol as 0/1 (as Transmission 3.00 did). */
  jsonRpc: boolean
}

export interface FieldSpec {
  /** The Transmission 3.00 name (4.0's for fields 3.00 lacks). */
  name: string
  /** Needs the torrent's detail (files, peers, trackers, pieces): one `session.get()` per torrent. */
  detail: boolean
  get: (c: FieldContext) => unknown
}

/** The fields that read the detail get an empty one when the session has none (a torrent removed meanwhile). */
function files (c: FieldContext): TorrentDetail['files'] { return c.detail?.files ?? [] }
function peers (c: FieldContext): TorrentPeer[] { return c.detail?.peerList ?? [] }
function trackers (c: FieldContext): TorrentTracker[] { return c.detail?.trackers ?? [] }

function ratioLimit (c: FieldContext): number {
  return c.torrent.limits.seedRatioLimit ?? c.settings.seedRatioLimit ?? DEFAULT_SEED_RATIO
}
function idleLimit (c: FieldContext): number {
  return int(c.torrent.limits.seedIdleLimitMinutes ?? c.settings.seedIdleLimitMinutes ?? DEFAULT_IDLE_MINUTES)
}
function isStalled (c: FieldContext): boolean {
  const t = c.torrent
  if (t.state !== 'downloading' && t.state !== 'seeding' && t.state !== 'metadata') return false
  return (t.activityAt ?? t.addedAt) < c.now - STALLED_MINUTES * 60_000
}

const summary = (name: string, get: (c: FieldContext) => unknown): FieldSpec => ({ name, detail: false, get })
const detailed = (name: string, get: (c: FieldContext) => unknown): FieldSpec => ({ name, detail: true, get })

/**
 * Every torrent field we answer, by its Transmission 3.00 name. Fields we have no data for answer Transmission's
 * "none" value (0, "", false, []), so that clients that need them to be present still show the rest.
 */
export const TORRENT_FIELDS: readonly FieldSpec[] = [
  summary('activityDate', (c) => seconds(c.torrent.activityAt)),
  summary('addedDate', (c) => seconds(c.torrent.addedAt)),
  summary('bandwidthPriority', () => 0),
  summary('comment', () => ''),
  summary('corruptEver', () => 0),
  summary('creator', () => ''),
  summary('dateCreated', () => 0),
  // Bytes still wanted that connected peers have: all of them when a seed is connected, else unknown (0).
  summary('desiredAvailable', (c) => (c.torrent.seeds > 0 ? c.torrent.leftBytes : 0)),
  summary('doneDate', (c) => seconds(c.torrent.doneAt)),
  summary('downloadDir', (c) => c.torrent.downloadDir),
  summary('downloadedEver', (c) => int(c.torrent.downloadedEver)),
  summary('downloadLimit', (c) => toKBps(c.torrent.limits.downloadLimit)),
  summary('downloadLimited', (c) => c.torrent.limits.downloadLimit !== null),
  summary('editDate', () => 0),
  summary('error', (c) => (c.torrent.error !== null ? TR_ERROR.LOCAL_ERROR : TR_ERROR.NONE)),
  summary('errorString', (c) => c.torrent.error ?? ''),
  summary('eta', (c) => transmissionEta(c.torrent)),
  summary('etaIdle', () => TR_ETA_NOT_AVAILABLE),
  summary('fileCount', (c) => int(c.torrent.fileCount)),
  detailed('files', (c) => (c.detail === undefined ? [] : fileObjects(c.detail))),
  detailed('fileStats', (c) => files(c).map((f) => ({ bytesCompleted: f.completed, wanted: true, priority: 0 }))),
  detailed('bytesCompleted', (c) => files(c).map((f) => f.completed)),
  summary('group', () => ''),
  summary('hashString', (c) => c.torrent.infoHash),
  summary('haveUnchecked', () => 0),
  summary('haveValid', (c) => int(c.torrent.verifiedBytes)),
  summary('honorsSessionLimits', () => true),
  summary('id', (c) => c.torrent.id),
  // "Finished": stopped after reaching its seed ratio or idle limit (Transmission's tr_stat.finished).
  summary('isFinished', (c) => c.torrent.state === 'stopped'),
  summary('isPrivate', (c) => c.torrent.isPrivate),
  summary('isStalled', isStalled),
  summary('labels', () => []),
  summary('leftUntilDone', (c) => int(c.torrent.leftBytes)),
  summary('magnetLink', (c) => c.torrent.magnet),
  summary('manualAnnounceTime', () => 0),
  summary('maxConnectedPeers', () => REPORTED_PEER_LIMIT_PER_TORRENT),
  summary('metadataPercentComplete', (c) => (c.torrent.hasMetadata ? 1 : 0)),
  summary('name', (c) => c.torrent.name),
  summary('peer-limit', () => REPORTED_PEER_LIMIT_PER_TORRENT),
  detailed('peers', (c) => peers(c).map(peerObject)),
  summary('peersConnected', (c) => int(c.torrent.peers)),
  detailed('peersFrom', (c) => peersFrom(peers(c))),
  // Peers a payload byte is moving to or from right now (Transmission: tr_peerIsTransferringPieces).
  detailed('peersGettingFromUs', (c) => peers(c).filter((p) => p.uploadRate > 0).length),
  detailed('peersSendingToUs', (c) => peers(c).filter((p) => p.downloadRate > 0).length),
  // Every file is wanted (no file selection yet), so "done" and "complete" are the same share.
  summary('percentComplete', (c) => c.torrent.progress),
  summary('percentDone', (c) => c.torrent.progress),
  detailed('pieces', (c) => c.detail?.pieces ?? ''),
  summary('pieceCount', (c) => int(c.torrent.pieceCount)),
  summary('pieceSize', (c) => int(c.torrent.pieceLength)),
  summary('primary-mime-type', () => 'application/octet-stream'),
  summary('priorities', (c) => new Array<number>(int(c.torrent.fileCount)).fill(0)),
  summary('queuePosition', (c) => int(c.torrent.queuePosition)),
  summary('rateDownload', (c) => int(c.torrent.downloadRate)),
  summary('rateUpload', (c) => int(c.torrent.uploadRate)),
  // The share verified so far while a check runs (pieces verify in order).
  summary('recheckProgress', (c) => (c.torrent.state === 'checking' ? c.torrent.progress : 0)),
  summary('secondsDownloading', (c) => int(c.torrent.secondsDownloading)),
  summary('secondsSeeding', (c) => int(c.torrent.secondsSeeding)),
  summary('seedIdleLimit', idleLimit),
  summary('seedIdleMode', (c) => (c.torrent.limits.seedIdleLimitMinutes !== null ? TR_LIMIT_MODE.SINGLE : TR_LIMIT_MODE.GLOBAL)),
  summary('seedRatioLimit', ratioLimit),
  summary('seedRatioMode', (c) => (c.torrent.limits.seedRatioLimit !== null ? TR_LIMIT_MODE.SINGLE : TR_LIMIT_MODE.GLOBAL)),
  summary('sequentialDownload', () => false),
  summary('sizeWhenDone', (c) => int(c.torrent.totalSize)),
  summary('startDate', (c) => seconds(c.torrent.startedAt)),
  summary('status', (c) => transmissionStatus(c.torrent)),
  summary('torrentFile', () => ''),
  summary('totalSize', (c) => int(c.torrent.totalSize)),
  detailed('trackers', (c) => trackers(c).map(trackerObject)),
  detailed('trackerList', (c) => trackers(c).map((t) => `${t.url}\n`).join('\n')),
  detailed('trackerStats', (c) => trackers(c).map((t, i) => trackerStatsObject(t, i, isRunning(c.torrent.state)))),
  summary('uploadedEver', (c) => int(c.torrent.uploadedEver)),
  summary('uploadLimit', (c) => toKBps(c.torrent.limits.uploadLimit)),
  summary('uploadLimited', (c) => c.torrent.limits.uploadLimit !== null),
  summary('uploadRatio', (c) => (c.torrent.hasMetadata && c.torrent.totalSize > 0 ? c.torrent.ratio : TR_RATIO_NOT_AVAILABLE)),
  // Transmission 3.00 answers 0/1 here despite its spec; 4.1's JSON-RPC answers booleans.
  summary('wanted', (c) => new Array<number | boolean>(int(c.torrent.fileCount)).fill(c.jsonRpc ? true : 1)),
  summary('webseeds', () => []),
  summary('webseedsSendingToUs', () => 0)
]

/**
 * A name in any of Transmission's spellings reduced to one key: `hashString`, `hash_string` and `hash-string` are
 * the same field (4.1 renamed everything to snake_case; 4.0 added `file-count` beside the Vuze `fileCount`).
 */
export function nameKey (name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '')
}

const FIELD_BY_KEY = new Map<string, FieldSpec>(TORRENT_FIELDS.map((f) => [nameKey(f.name), f]))

/** The field a requested name means, in any spelling; undefined for a name we do not know (ignored, as Transmission does). */
export function torrentField (name: string): FieldSpec | undefined {
  return FIELD_BY_KEY.get(nameKey(name))
}

/** `hashString`, `peer-limit`, `isUTP` as 4.1's `hash_string`, `peer_limit`, `is_utp`. */
export function snakeName (name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toLowerCase()
}

/** A value built here with every object key in snake_case (JSON-RPC replies); arrays and primitives as they are. */
export function snakeKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys)
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [key, inner] of Object.entries(value)) out[snakeName(key)] = snakeKeys(inner)
    return out
  }
  return value
}
