/**
 * Client of a tracker's catalogue search, `GET /files?q=&sort=&order=&limit=&offset=` (docs/tracker-api.md). Our
 * tracker searches, sorts and pages itself and says how many files matched (`total`); the seed's server.py ignores the
 * parameters and lists every file, so for a reply without `total` the same search, sort and page are done here, over
 * that whole list (bounded by TRACKER_MAX_REPLY_BYTES like every tracker reply).
 *
 * Errors as the seed API's client words them (seed-tracker.ts): `ERR_TRACKER_UNREACHABLE` (no connection or no answer
 * in time), `ERR_TRACKER_REPLY` (not JSON, not a catalogue, too big), `ERR_TRACKER_REJECTED` (a 4xx/5xx with its
 * `error`); an abort through `signal` is `ERR_ABORTED`.
 */
import { TRACKER_MAX_REPLY_BYTES, TRACKER_REQUEST_TIMEOUT_MS } from '../constants.js'
import { AbortError, TrackerError, type P2PError } from '../errors.js'
import { httpRequest } from './http.js'
import { passkeyParam, trackerBaseUrl } from './seed-tracker.js'

export const CATALOGUE_SORT_KEYS = ['name', 'size', 'seeders', 'added'] as const
export type CatalogueSortKey = typeof CATALOGUE_SORT_KEYS[number]
export const CATALOGUE_ORDERS = ['asc', 'desc'] as const
export type CatalogueOrder = typeof CATALOGUE_ORDERS[number]

/** What to ask for; every field optional (the tracker's defaults: every file, registration order, up to its cap). */
export interface CatalogueSearch {
  /** Names containing this text, case-insensitively. */
  q?: string
  sort?: CatalogueSortKey
  /** Default: `asc` for name, `desc` for the others (the tracker's rule). */
  order?: CatalogueOrder
  limit?: number
  offset?: number
}

/** One file of the catalogue, with our tracker's keys where it sent them. */
export interface CatalogueFile {
  file_hash: string
  file_name: string
  file_size: number
  /** Registered and announced peers, an endpoint doing both counted once. */
  peers_count: number
  /** When the file was first registered, ms since the epoch (our tracker). */
  added_at?: number
  /** Completed downloads (our tracker). */
  completed?: number
  /** The BitTorrent side, for a file whose sharer registered its info hash (our tracker). */
  info_hash?: string
  magnet?: string
  seeders?: number
  leechers?: number
  /** Where the tracker serves the file's .torrent. */
  torrent_url?: string
}

export interface CatalogueResult {
  files: CatalogueFile[]
  /** Files that matched, before paging. */
  total: number
  /** False when the tracker ignored the search (the seed's server.py) and it was done here over its whole list. */
  searchedByTracker: boolean
}

export interface CatalogueClientOptions {
  signal?: AbortSignal
  /** Whole request, ms; default TRACKER_REQUEST_TIMEOUT_MS. */
  timeoutMs?: number
}

/** Orders a sort uses when none is given, as our tracker does. */
const DEFAULT_ORDER: Record<CatalogueSortKey, CatalogueOrder> = { name: 'asc', size: 'desc', seeders: 'desc', added: 'desc' }

/** The `/files` URL of a search: the tracker's base URL (a private tracker's passkey kept) and the parameters given. */
export function catalogueUrl (trackerUrl: string, search: CatalogueSearch = {}): string {
  const params = new URLSearchParams()
  if (search.q !== undefined && search.q !== '') params.set('q', search.q)
  if (search.limit !== undefined) params.set('limit', String(search.limit))
  if (search.offset !== undefined && search.offset !== 0) params.set('offset', String(search.offset))
  if (search.sort !== undefined) params.set('sort', search.sort)
  if (search.order !== undefined) params.set('order', search.order)
  // URLSearchParams writes a space as '+', which the tracker (form decoding) reads back as a space.
  const query = [params.toString(), passkeyParam(trackerUrl)].filter((part) => part !== '').join('&')
  return `${trackerBaseUrl(trackerUrl)}/files${query === '' ? '' : `?${query}`}`
}

/** Searches a tracker's catalogue. */
export async function searchFiles (trackerUrl: string, search: CatalogueSearch = {}, options: CatalogueClientOptions = {}): Promise<CatalogueResult> {
  const base = trackerBaseUrl(trackerUrl)
  const body = await getJson(catalogueUrl(trackerUrl, search), base, options)
  const reply = typeof body === 'object' && body !== null ? body as { files?: unknown, total?: unknown } : {}
  if (!Array.isArray(reply.files)) throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${base} sent a /files reply without a files list`)
  const files = reply.files.map((entry, i) => checkEntry(entry, i, base))
  if (typeof reply.total === 'number' && Number.isSafeInteger(reply.total) && reply.total >= 0) {
    return { files, total: reply.total, searchedByTracker: true }
  }
  // The seed's server.py: every file, in registration order, whatever was asked.
  const matches = searchHere(files, search)
  const offset = search.offset ?? 0
  const page = matches.slice(offset, search.limit === undefined ? undefined : offset + search.limit)
  return { files: page, total: matches.length, searchedByTracker: false }
}

/** The tracker's search over a full list: name contains q (Unicode lower case), sorted, ties in list order. */
function searchHere (files: CatalogueFile[], search: CatalogueSearch): CatalogueFile[] {
  const q = (search.q ?? '').toLowerCase()
  const matches = q === '' ? [...files] : files.filter((f) => f.file_name.toLowerCase().includes(q))
  if (search.sort === undefined) return search.order === 'desc' ? matches.reverse() : matches
  const sign = (search.order ?? DEFAULT_ORDER[search.sort]) === 'desc' ? -1 : 1
  const key: Record<CatalogueSortKey, (f: CatalogueFile) => number | string> = {
    name: (f) => f.file_name.toLowerCase(),
    size: (f) => f.file_size,
    seeders: (f) => f.seeders ?? 0,
    added: (f) => f.added_at ?? 0
  }
  const of = key[search.sort]
  // Array.prototype.sort is stable: equal keys keep the tracker's (registration) order.
  return matches.sort((a, b) => {
    const x = of(a)
    const y = of(b)
    return x < y ? -sign : x > y ? sign : 0
  })
}

const OPTIONAL_NUMBERS = ['added_at', 'completed', 'seeders', 'leechers'] as const
const OPTIONAL_STRINGS = ['info_hash', 'magnet', 'torrent_url'] as const

/** Checks one entry: the seed's four keys are required; our optional keys are kept only when well-typed. */
function checkEntry (entry: unknown, index: number, base: string): CatalogueFile {
  const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>
  if (typeof e.file_hash !== 'string' || typeof e.file_name !== 'string' || !isCount(e.file_size) || !isCount(e.peers_count)) {
    throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${base} sent a /files entry (#${index + 1}) without file_hash, file_name, file_size and peers_count`)
  }
  const file: CatalogueFile = { file_hash: e.file_hash, file_name: e.file_name, file_size: e.file_size, peers_count: e.peers_count }
  for (const name of OPTIONAL_NUMBERS) {
    const value = e[name]
    if (isCount(value)) file[name] = value
  }
  for (const name of OPTIONAL_STRINGS) {
    const value = e[name]
    if (typeof value === 'string') file[name] = value
  }
  return file
}

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/** GET a JSON reply, its failures as seed-tracker.ts words them. */
async function getJson (url: string, base: string, options: CatalogueClientOptions): Promise<unknown> {
  let reply
  try {
    reply = await httpRequest(url, {
      timeoutMs: options.timeoutMs ?? TRACKER_REQUEST_TIMEOUT_MS,
      maxBytes: TRACKER_MAX_REPLY_BYTES,
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
  } catch (err) {
    if (err instanceof AbortError) throw err
    const code = (err as P2PError).code
    if (code === 'ERR_REPLY_TOO_LARGE') throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${base} sent a reply above ${TRACKER_MAX_REPLY_BYTES} bytes`)
    throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to connect to tracker at ${base} (${(err as Error).message})`, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(reply.body.toString('utf8'))
  } catch {
    throw new TrackerError('ERR_TRACKER_REPLY', `Tracker at ${base} answered GET /files with ${reply.status} and no JSON: is this a p2pshare tracker?`)
  }
  if (reply.status >= 200 && reply.status < 300) return parsed
  const message = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String(parsed.error) : `HTTP ${reply.status}`
  throw new TrackerError('ERR_TRACKER_REJECTED', `Tracker refused GET /files: ${message}`)
}
