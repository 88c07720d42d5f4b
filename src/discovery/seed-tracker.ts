/**
 * Client of the seed's tracker JSON API (`/register`, `/lookup`, `/files`), as ORIGINAL-PYTHON.md gives it, plus
 * our extensions (`chunk_size`, lookup by `file_hash`, `/files?q=`, chunk lists as ranges). Works against the seed's
 * own server.py too.
 *
 * Lookups ask for `chunk_format=ranges`: our tracker then lists each peer's chunk ids as runs (`"0-1048575"`), a few
 * bytes however big the file, where the seed's plain `chunks` list is one number per chunk (7 MiB for a 1 GiB file in
 * 1 KiB chunks) and our tracker bounds a plain reply's lists to 1 MiB (leaving such a peer out of it). A tracker that
 * does not know the parameter (server.py, older ones) ignores it and sends `chunks`; both are read.
 */
import { isIP } from 'node:net'
import { TRACKER_MAX_REPLY_BYTES, TRACKER_REQUEST_TIMEOUT_MS } from '../constants.js'
import { AbortError, TrackerError, ValidationError, type P2PError } from '../errors.js'
import { httpRequest } from './http.js'

export interface LegacyPeer {
  ip: string
  port: number
  chunks: number[]
  /** Our extension; absent for the seed's peers. */
  chunk_size?: number
}

export interface LookupResult {
  file_hash: string
  file_name: string
  file_size: number
  peers: LegacyPeer[]
  /** Our tracker's extension: the file's BitTorrent info hash, when a sharer registered one. */
  info_hash?: string
  /** Our tracker's extension: peers announcing that info hash over BitTorrent. */
  bt_peers?: Array<{ ip: string, port: number }>
}

export interface CatalogueEntry {
  file_hash: string
  file_name: string
  file_size: number
  peers_count: number
}

export interface Registration {
  file_name: string
  file_hash: string
  file_size: number
  chunks: number[]
  ip: string
  port: number
  chunk_size?: number
  /** Our extension: the file's BitTorrent info hash (40 lowercase hex); trackers that do not know it ignore it. */
  info_hash?: string
  /** Our extension: the file's .torrent, base64 (needs `info_hash`); our tracker keeps it and serves it at `/torrent/<info hash>`. */
  metainfo?: string
}

export interface RegisterResult {
  message: string
  file_hash: string
  peers_count: number
  /** Our tracker, when the registration uploaded `metainfo`: where the catalogue's .torrent of the file is served. */
  torrent_url?: string
}

/** A tracker URL as a user may type it (`host:port` gets `http://`); http or https only. */
export function parseTrackerUrl (input: string): URL {
  let text = input.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ValidationError(`Invalid tracker URL: ${input}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValidationError(`Invalid tracker URL: ${input} (http or https only)`)
  return url
}

/** The tracker's base URL from what a user typed: `host:port`, `http://host:port`, or an `/announce` URL. */
export function trackerBaseUrl (input: string): string {
  const url = parseTrackerUrl(input)
  const path = url.pathname.replace(/\/announce$/, '').replace(/\/+$/, '')
  return `${url.protocol}//${url.host}${path}`
}

/**
 * A private tracker's key in what a user typed (`http://host:5000/?passkey=KEY`, `.../announce?passkey=KEY`), as the
 * query parameter to send with every request (`passkey=KEY`); '' without one.
 */
export function passkeyParam (input: string): string {
  const key = parseTrackerUrl(input).searchParams.get('passkey')
  return key === null || key === '' ? '' : `passkey=${encodeURIComponent(key)}`
}

export class SeedTrackerClient {
  /** Scheme, host and path, without the query: what messages name (a passkey is never shown). */
  readonly baseUrl: string
  readonly #timeoutMs: number
  /** `passkey=KEY` for a private tracker, sent with every request; '' for others. */
  readonly #passkey: string

  constructor (url: string, options: { timeoutMs?: number } = {}) {
    this.baseUrl = trackerBaseUrl(url)
    this.#passkey = passkeyParam(url)
    this.#timeoutMs = options.timeoutMs ?? TRACKER_REQUEST_TIMEOUT_MS
  }

  /** The URL of a request path (`/lookup?file_name=x`), a private tracker's passkey added to its query. */
  #url (path: string): string {
    if (this.#passkey === '') return this.baseUrl + path
    return `${this.baseUrl}${path}${path.includes('?') ? '&' : '?'}${this.#passkey}`
  }

  async register (registration: Registration, signal?: AbortSignal): Promise<RegisterResult> {
    const reply = await this.#request('POST', '/register', registration, signal)
    return reply.body as RegisterResult
  }

  /**
   * Ask our tracker to forget this peer now (it checks the peer no longer accepts connections first); the seed's
   * server.py has no such route (404), which is not an error: its prober forgets the peer later.
   */
  async unregister (endpoint: { ip: string, port: number }, signal?: AbortSignal): Promise<void> {
    await this.#request('POST', '/unregister', endpoint, signal, [404])
  }

  /** Look a file up by name; `undefined` when the tracker does not know it. */
  async lookupByName (name: string, signal?: AbortSignal): Promise<LookupResult | undefined> {
    const reply = await this.#request('GET', `/lookup?file_name=${encodeURIComponent(name)}&${CHUNK_FORMAT_RANGES}`, undefined, signal, [404])
    return reply.status === 404 ? undefined : checkLookup(reply.body)
  }

  /**
   * Look a file up by its file hash. Our tracker answers `/lookup?file_hash=`; the seed's server.py does not know it
   * (400 "Missing file_name parameter"), so then the hash is found in `/files` and looked up by its name.
   */
  async lookupByHash (fileHash: string, signal?: AbortSignal): Promise<LookupResult | undefined> {
    const reply = await this.#request('GET', `/lookup?file_hash=${fileHash}&${CHUNK_FORMAT_RANGES}`, undefined, signal, [400, 404])
    if (reply.status === 200) return checkLookup(reply.body)
    if (reply.status === 404) return undefined
    const entry = (await this.files(undefined, signal)).find(f => f.file_hash === fileHash)
    if (entry === undefined) return undefined
    const byName = await this.lookupByName(entry.file_name, signal)
    return byName?.file_hash === fileHash ? byName : undefined
  }

  /**
   * Look a file up by its BitTorrent info hash (our tracker's `/lookup?info_hash=`, which knows it for files whose
   * sharers registered one). Undefined when unknown, or when the tracker (the seed's server.py) cannot look it up.
   */
  async lookupByInfoHash (infoHash: string, signal?: AbortSignal): Promise<LookupResult | undefined> {
    const reply = await this.#request('GET', `/lookup?info_hash=${infoHash}&${CHUNK_FORMAT_RANGES}`, undefined, signal, [400, 404])
    return reply.status === 200 ? checkLookup(reply.body) : undefined
  }

  async files (query?: string, signal?: AbortSignal): Promise<CatalogueEntry[]> {
    const path = query === undefined || query === '' ? '/files' : `/files?q=${encodeURIComponent(query)}`
    const reply = await this.#request('GET', path, undefined, signal)
    const files = (reply.body as { files?: unknown }).files
    if (!Array.isArray(files)) throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${this.baseUrl} sent a /files reply without a files list`)
    return files as CatalogueEntry[]
  }

  async #request (method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined, passStatus: number[] = []): Promise<{ status: number, body: unknown }> {
    let reply
    try {
      reply = await httpRequest(this.#url(path), {
        method,
        timeoutMs: this.#timeoutMs,
        maxBytes: TRACKER_MAX_REPLY_BYTES,
        ...(signal === undefined ? {} : { signal }),
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
      })
    } catch (err) {
      if (err instanceof AbortError) throw err
      const code = (err as P2PError).code
      if (code === 'ERR_REPLY_TOO_LARGE') throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${this.baseUrl} sent a reply above ${TRACKER_MAX_REPLY_BYTES} bytes`)
      throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to connect to tracker at ${this.baseUrl} (${(err as Error).message})`, { cause: err })
    }
    const route = path.split('?')[0] ?? path
    let parsed: unknown
    try {
      parsed = JSON.parse(reply.body.toString('utf8'))
    } catch {
      throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${this.baseUrl} answered ${method} ${route} with ${reply.status} and no JSON: is this a p2pshare tracker?`)
    }
    if ((reply.status >= 200 && reply.status < 300) || passStatus.includes(reply.status)) return { status: reply.status, body: parsed }
    const message = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String(parsed.error) : `HTTP ${reply.status}`
    throw new TrackerError('ERR_TRACKER_REJECTED', `Tracker refused ${method} ${route}: ${message}`)
  }
}

/** The lookup parameter asking for chunk ids as ranges (our tracker's `chunk_ranges`). */
const CHUNK_FORMAT_RANGES = 'chunk_format=ranges'

/**
 * Chunk ids one lookup reply may expand to, over all its peers: 2^22 (32 MiB as numbers), four whole 1 GiB files in
 * 1 KiB chunks, or any number of peers of files up to 4 TiB in total in 1 MiB chunks. A plain `chunks` reply within
 * TRACKER_MAX_REPLY_BYTES holds no more distinct ids per peer than this; a few bytes of ranges could claim billions,
 * so peers past it are left out (the first ones, in the tracker's order, are kept).
 */
export const LOOKUP_MAX_CHUNK_IDS = 2 ** 22

/**
 * A peer's `chunk_ranges` text as chunk ids: inclusive runs (`first` or `first-last`), ascending and apart, comma
 * separated; '' for none. Undefined when malformed, or when it holds more than `maxIds` ids.
 */
export function parseChunkRanges (text: string, maxIds: number): number[] | undefined {
  if (text === '') return []
  const ids: number[] = []
  let previous = -1
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf(',', start)
    if (end === -1) end = text.length
    const part = text.slice(start, end)
    const dash = part.indexOf('-')
    const firstText = dash === -1 ? part : part.slice(0, dash)
    const lastText = dash === -1 ? part : part.slice(dash + 1)
    if (!DECIMAL.test(firstText) || !DECIMAL.test(lastText)) return undefined
    const first = Number(firstText)
    const last = Number(lastText)
    if (!Number.isSafeInteger(last) || first > last || first <= previous) return undefined
    if (ids.length + (last - first + 1) > maxIds) return undefined
    for (let id = first; id <= last; id++) ids.push(id)
    previous = last
    start = end + 1
  }
  return ids
}

/** A chunk id as our tracker writes it: decimal, no sign, no leading zero, at most 16 digits. */
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/

/**
 * Each peer's chunk ids as `chunks`: `chunk_ranges` expanded when the tracker sent ranges, else its `chunks` as they
 * came. Peers whose ranges are malformed, and peers past LOOKUP_MAX_CHUNK_IDS in all, are left out.
 */
function readPeers (peers: unknown[]): LegacyPeer[] {
  const out: LegacyPeer[] = []
  let ids = 0
  for (const p of peers) {
    if (typeof p !== 'object' || p === null) continue
    const peer = p as LegacyPeer & { chunk_ranges?: unknown }
    if (peer.chunk_ranges === undefined) {
      out.push(peer)
      continue
    }
    if (typeof peer.chunk_ranges !== 'string') continue
    const chunks = parseChunkRanges(peer.chunk_ranges, LOOKUP_MAX_CHUNK_IDS - ids)
    if (chunks === undefined) continue
    ids += chunks.length
    const { chunk_ranges: _ranges, ...rest } = peer
    out.push({ ...rest, chunks })
  }
  return out
}

function checkLookup (body: unknown): LookupResult {
  const b = body as Partial<LookupResult>
  if (typeof b.file_hash !== 'string' || typeof b.file_size !== 'number' || !Array.isArray(b.peers)) {
    throw new TrackerError('ERR_TRACKER_REPLY', 'Tracker sent a lookup reply without file_hash, file_size and peers')
  }
  const result = b as LookupResult
  result.peers = readPeers(result.peers)
  // Our tracker's BitTorrent keys are hints: a malformed info hash is dropped, and so is any malformed peer.
  if (result.info_hash !== undefined) {
    if (typeof result.info_hash === 'string' && /^[0-9a-f]{40}$/i.test(result.info_hash)) result.info_hash = result.info_hash.toLowerCase()
    else delete result.info_hash
  }
  if (result.bt_peers !== undefined) {
    const peers: unknown = result.bt_peers
    result.bt_peers = Array.isArray(peers) ? peers.filter(isPeerAddress).slice(0, MAX_LOOKUP_BT_PEERS) : []
  }
  return result
}

/** BitTorrent peers taken from one lookup reply, at most. */
const MAX_LOOKUP_BT_PEERS = 200

function isPeerAddress (p: unknown): p is { ip: string, port: number } {
  if (typeof p !== 'object' || p === null) return false
  const { ip, port } = p as { ip?: unknown, port?: unknown }
  return typeof ip === 'string' && isIP(ip) !== 0 && typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535
}
