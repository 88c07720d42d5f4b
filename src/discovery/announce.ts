/**
 * Client of the BitTorrent HTTP tracker protocol: announce (BEP 3; compact peers BEP 23, IPv6 peers BEP 7) and
 * scrape (BEP 48). Works against any HTTP tracker (opentracker, bittorrent-tracker, ours). `announce()` and
 * `scrape()` hand `udp://` URLs to the UDP tracker client (BEP 15, udp-tracker-client.ts), which has its own bounds
 * (15 s by default, retransmissions included) and the same error codes.
 *
 * Every request is bounded: TRACKER_REQUEST_TIMEOUT_MS for the whole exchange, ANNOUNCE_MAX_REPLY_BYTES of reply
 * (read as a stream and cut off there, not buffered first). Errors are TrackerError with codes:
 * `ERR_TRACKER_UNREACHABLE` (no connection, no answer in time), `ERR_TRACKER_FAILURE` (the tracker refused, with
 * its `failure reason`: TrackerFailureError), `ERR_TRACKER_REPLY` (an answer that is not a tracker reply).
 */
import { isIP } from 'node:net'
import { TRACKER_REQUEST_TIMEOUT_MS } from '../constants.js'
import { bdecode, bget, isBDict, type BDict, type BValue } from '../content/bencode.js'
import { AbortError, TrackerError, ValidationError, type P2PError } from '../errors.js'
import { checkAnnounceRequest, checkInfoHash } from './announce-checks.js'
import { httpRequest } from './http.js'
import { decodeCompactPeers, decodeCompactPeers6, type PeerAddress } from './compact.js'
import { parseTrackerUrl, trackerBaseUrl } from './seed-tracker.js'
import { TrackerFailureError } from './tracker-failure.js'
import { isUdpTrackerUrl, udpTrackerClient } from './udp-tracker-client.js'

export { TrackerFailureError }

/**
 * Largest announce or scrape reply read. 200 peers in the dictionary form with peer ids and long IPv6 text are
 * ~20 KB, a scrape of 64 hashes ~5 KB; 1 MiB leaves room for trackers that give more peers than asked.
 */
export const ANNOUNCE_MAX_REPLY_BYTES = 1024 * 1024
/** Peers taken from one dictionary-form reply: more than any tracker gives, so a hostile list stays bounded. */
export const ANNOUNCE_MAX_PEERS = 1_000

export type AnnounceEventName = 'started' | 'completed' | 'stopped'

export interface AnnounceRequest {
  /**
   * The tracker: a base URL (`http://host:5000`, `host:5000`), an announce URL (its path ends in `/announce`), or a
   * UDP tracker (`udp://host:port`, BEP 15).
   */
  url: string
  /** 40 hex. */
  infoHash: string
  /** 20 bytes. */
  peerId: Uint8Array
  /** The port this peer listens on, 1-65535. */
  port: number
  uploaded: number
  downloaded: number
  left: number
  event?: AnnounceEventName | undefined
  /** Peers wanted; the tracker's default (50 for ours) when absent. */
  numwant?: number | undefined
  /** BEP 7: a stable per-session key, so the tracker can tell this client from others at the same address. */
  key?: string | undefined
  /** The `tracker id` an earlier reply gave, sent back as `trackerid`. */
  trackerId?: string | undefined
  signal?: AbortSignal | undefined
  /** The whole exchange; default TRACKER_REQUEST_TIMEOUT_MS (HTTP), UDP_TRACKER_TIMEOUT_MS (UDP, retransmissions included). */
  timeoutMs?: number | undefined
}

export interface AnnounceResult {
  /** Seconds until the next regular announce. */
  interval: number
  minInterval?: number
  /** Seeders. */
  complete?: number
  /** Leechers. */
  incomplete?: number
  /** Peers from `peers` (compact or dictionary form) and `peers6`, IPv4 first. */
  peers: PeerAddress[]
  warning?: string
  trackerId?: string
}

/** One swarm's counts in a scrape reply. */
export interface ScrapeStats {
  complete: number
  incomplete: number
  downloaded: number
}

/**
 * The announce URL of what a user gave: an announce URL as it is (query included), else `<base>/announce` with the
 * base URL's query (a private tracker's `?passkey=`).
 */
export function announceUrl (url: string): string {
  const parsed = parseTrackerUrl(url)
  if (parsed.pathname.endsWith('/announce')) return parsed.href
  return `${trackerBaseUrl(url)}/announce${parsed.search}`
}

/** BEP 48: the scrape URL is the announce URL with `announce` in its last path segment replaced by `scrape`. */
export function scrapeUrl (url: string): string {
  const parsed = parseTrackerUrl(url)
  if (parsed.pathname.endsWith('/announce')) {
    parsed.pathname = `${parsed.pathname.slice(0, -'announce'.length)}scrape`
    return parsed.href
  }
  return `${trackerBaseUrl(url)}/scrape${parsed.search}`
}

/** RFC 3986 unreserved characters stay; every other byte is `%XX`. Binary-safe, unlike encodeURIComponent on a string. */
export function percentEncodeBytes (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
    out += unreserved ? String.fromCharCode(b) : `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`
  }
  return out
}

/** Appends a query to a URL that may already have one (a private tracker's passkey). */
function withQuery (url: string, query: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${query}`
}

/** Announces to a tracker (HTTP, or UDP for a `udp://` URL) and returns its reply. */
export async function announce (request: AnnounceRequest): Promise<AnnounceResult> {
  const infoHash = checkAnnounceRequest(request)
  if (isUdpTrackerUrl(request.url)) return await udpTrackerClient().announce(request)

  const base = announceUrl(request.url)
  let query = `info_hash=${percentEncodeBytes(infoHash)}&peer_id=${percentEncodeBytes(request.peerId)}&port=${request.port}` +
    `&uploaded=${request.uploaded}&downloaded=${request.downloaded}&left=${request.left}&compact=1`
  if (request.event !== undefined) query += `&event=${request.event}`
  if (request.numwant !== undefined) query += `&numwant=${request.numwant}`
  if (request.key !== undefined) query += `&key=${encodeURIComponent(request.key)}`
  if (request.trackerId !== undefined) query += `&trackerid=${encodeURIComponent(request.trackerId)}`

  const shown = redactPasskey(base)
  const reply = await trackerGet(withQuery(base, query), shown, request.signal, request.timeoutMs)
  return parseAnnounceReply(reply, shown)
}

/** Reads an announce reply (already decoded). Exported for tests and other transports. */
export function parseAnnounceReply (reply: BDict, url: string): AnnounceResult {
  const garbage = (why: string): TrackerError => new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${url} sent an invalid announce reply: ${why}`)
  const interval = bget.int(reply, 'interval')
  if (interval === undefined || interval < 0) throw garbage('no interval')
  const result: AnnounceResult = { interval, peers: [] }
  const minInterval = bget.int(reply, 'min interval')
  if (minInterval !== undefined && minInterval >= 0) result.minInterval = minInterval
  const complete = bget.int(reply, 'complete')
  if (complete !== undefined && complete >= 0) result.complete = complete
  const incomplete = bget.int(reply, 'incomplete')
  if (incomplete !== undefined && incomplete >= 0) result.incomplete = incomplete
  const warning = bget.string(reply, 'warning message')
  if (warning !== undefined) result.warning = warning
  const trackerId = bget.string(reply, 'tracker id')
  if (trackerId !== undefined) result.trackerId = trackerId

  const peers = reply.peers
  if (peers instanceof Uint8Array) {
    const compact = decodeCompactPeers(peers)
    if (compact === undefined) throw garbage(`peers is ${peers.length} bytes, not a multiple of 6`)
    result.peers.push(...compact)
  } else if (Array.isArray(peers)) {
    result.peers.push(...dictionaryPeers(peers))
  } else if (peers !== undefined) {
    throw garbage('peers is neither a string nor a list')
  }
  const peers6 = reply.peers6
  if (peers6 instanceof Uint8Array) {
    const compact = decodeCompactPeers6(peers6)
    if (compact === undefined) throw garbage(`peers6 is ${peers6.length} bytes, not a multiple of 18`)
    result.peers.push(...compact)
  } else if (peers6 !== undefined) {
    throw garbage('peers6 is not a string')
  }
  return result
}

/**
 * Peers of the dictionary form (BEP 3): `{ip, port, peer id?}`. Entries that are not an IP literal with a port
 * from 1 to 65535 are skipped (BEP 3 also allows DNS names there; we dial addresses only), and at most
 * ANNOUNCE_MAX_PEERS are taken.
 */
function dictionaryPeers (list: BValue[]): PeerAddress[] {
  const peers: PeerAddress[] = []
  for (const entry of list) {
    if (peers.length >= ANNOUNCE_MAX_PEERS) break
    if (!isBDict(entry)) continue
    const ip = bget.string(entry, 'ip')
    const port = bget.int(entry, 'port')
    if (ip === undefined || port === undefined || port < 1 || port > 65535 || isIP(ip) === 0) continue
    peers.push({ ip, port })
  }
  return peers
}

export interface ScrapeOptions {
  signal?: AbortSignal | undefined
  timeoutMs?: number | undefined
}

/**
 * Scrapes a tracker (BEP 48; BEP 15 for a `udp://` URL) for the counts of some info hashes (40 hex each). The map
 * holds the hashes the tracker reported, by lower-case hex; a hash an HTTP tracker does not know is absent (a UDP
 * tracker reports it with zeros).
 */
export async function scrape (url: string, infoHashes: readonly string[], options: ScrapeOptions = {}): Promise<Map<string, ScrapeStats>> {
  if (infoHashes.length === 0) throw new ValidationError('Scrape needs at least one info hash')
  if (isUdpTrackerUrl(url)) return await udpTrackerClient().scrape(url, infoHashes, options)
  const query = infoHashes.map((h) => `info_hash=${percentEncodeBytes(checkInfoHash(h))}`).join('&')
  const base = scrapeUrl(url)
  const shown = redactPasskey(base)
  const reply = await trackerGet(withQuery(base, query), shown, options.signal, options.timeoutMs)
  const files = bget.dict(reply, 'files')
  if (files === undefined) throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${shown} sent a scrape reply without files`)
  const stats = new Map<string, ScrapeStats>()
  for (const key of Object.keys(files)) {
    const entry = bget.dict(files, key)
    // Keys are the raw 20 bytes, decoded as latin1 (one character per byte).
    if (entry === undefined || key.length !== 20) continue
    stats.set(Buffer.from(key, 'latin1').toString('hex'), {
      complete: nonNegative(bget.int(entry, 'complete')),
      incomplete: nonNegative(bget.int(entry, 'incomplete')),
      downloaded: nonNegative(bget.int(entry, 'downloaded'))
    })
  }
  return stats
}

function nonNegative (n: number | undefined): number {
  return n !== undefined && n > 0 ? n : 0
}

/** A tracker URL as messages show it: a private tracker's passkey replaced by `…` (messages end up in logs and terminals). */
export function redactPasskey (url: string): string {
  return url.replace(/([?&]passkey=)[^&#]*/g, '$1…')
}

/** GETs a tracker URL and returns its bencoded dictionary; a `failure reason` becomes TrackerFailureError. */
async function trackerGet (href: string, shownUrl: string, signal: AbortSignal | undefined, timeoutMs = TRACKER_REQUEST_TIMEOUT_MS): Promise<BDict> {
  let reply
  try {
    reply = await httpRequest(href, { timeoutMs, maxBytes: ANNOUNCE_MAX_REPLY_BYTES, ...(signal === undefined ? {} : { signal }) })
  } catch (err) {
    if (err instanceof AbortError) throw err
    if ((err as P2PError).code === 'ERR_REPLY_TOO_LARGE') throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${shownUrl} sent a reply above ${ANNOUNCE_MAX_REPLY_BYTES} bytes`)
    throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to reach tracker at ${shownUrl} (${(err as Error).message})`, { cause: err })
  }
  let value: BValue
  try {
    // Not strict: some trackers end their reply with a newline.
    value = bdecode(reply.body, { strict: false }).value
  } catch {
    throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${shownUrl} answered HTTP ${reply.status} with no bencoded reply: is this a BitTorrent tracker?`)
  }
  if (!isBDict(value)) throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${shownUrl} answered with a bencoded value that is not a dictionary`)
  const failure = bget.string(value, 'failure reason')
  if (failure !== undefined) throw new TrackerFailureError(shownUrl, failure)
  if (reply.status < 200 || reply.status >= 300) throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${shownUrl} answered HTTP ${reply.status}`)
  return value
}
