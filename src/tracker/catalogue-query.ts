/**
 * The query of `GET /files`: `q` (search text), `limit`, `offset`, `sort` and `order`, parsed from the raw request URL
 * and checked, so a bad value is a 400 with a reason and never a silently different page.
 *
 * Why the raw URL: fastify's query parser turns percent-encoded bytes that are not UTF-8 into U+FFFD, so `?q=%FF`
 * would search for "�" instead of being refused. Values are decoded as application/x-www-form-urlencoded (`%XX` a
 * byte, `+` a space), as browsers' `URLSearchParams` encode them; names are matched literally. A repeated parameter:
 * the first value counts (Flask's `request.args.get`). An empty value counts as absent (as for `/lookup`), so a form
 * that sends every field (`?q=&limit=&offset=&sort=&order=`) gets the defaults. Unknown parameters are ignored.
 */
import { isUtf8 } from 'node:buffer'
import { HttpError } from './http-errors.js'
import { TRACKER_FILES_DEFAULT_LIMIT, TRACKER_FILES_MAX_LIMIT, TRACKER_MAX_QUERY_BYTES } from './limits.js'

/** What `/files` can be sorted by: the name (Unicode lower-cased), the size, the live seeders, the time added. */
export const CATALOGUE_SORTS = ['name', 'size', 'seeders', 'added'] as const
export type CatalogueSort = typeof CATALOGUE_SORTS[number]

export const SORT_ORDERS = ['asc', 'desc'] as const
export type SortOrder = typeof SORT_ORDERS[number]

/** The order a sort uses when the request names none: A to Z for names, biggest / most / newest first otherwise. */
export const DEFAULT_ORDER: Record<CatalogueSort, SortOrder> = { name: 'asc', size: 'desc', seeders: 'desc', added: 'desc' }

export interface CatalogueQuery {
  /** Names containing this text, case-insensitively; '' matches every file. */
  q: string
  /** Entries in the page: 1 to TRACKER_FILES_MAX_LIMIT. */
  limit: number
  /** Matches skipped before the page. */
  offset: number
  /** Absent: registration order (the seed's order). Ties in any sort are in registration order. */
  sort?: CatalogueSort
  order: SortOrder
}

/** The query of a request with no parameters: the seed's `/files`. */
export const DEFAULT_CATALOGUE_QUERY: Readonly<CatalogueQuery> = { q: '', limit: TRACKER_FILES_DEFAULT_LIMIT, offset: 0, order: 'asc' }

const PARAMS = ['q', 'limit', 'offset', 'sort', 'order'] as const
type Param = typeof PARAMS[number]

function invalid (name: Param, reason: string): HttpError {
  return new HttpError(400, `Invalid parameter: ${name}: ${reason}`)
}

function hexValue (code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/**
 * Form-decodes one raw value to bytes; undefined for a `%` without two hex digits or a character above 0xFF (a
 * request line carries neither; only `inject()` can send them).
 */
function formDecode (raw: string): Buffer | undefined {
  const bytes = Buffer.allocUnsafe(raw.length)
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    let code = raw.charCodeAt(i)
    if (code === 0x25) {
      const high = hexValue(raw.charCodeAt(i + 1))
      const low = hexValue(raw.charCodeAt(i + 2))
      if (high < 0 || low < 0) return undefined
      code = (high << 4) | low
      i += 2
    } else if (code === 0x2b) {
      code = 0x20
    } else if (code > 0xff) {
      return undefined
    }
    bytes[n++] = code
  }
  return bytes.subarray(0, n)
}

/** The first raw value of each known parameter in a request URL's query. */
function rawParams (url: string): Partial<Record<Param, string>> {
  const found: Partial<Record<Param, string>> = {}
  const start = url.indexOf('?')
  if (start === -1) return found
  for (const pair of url.slice(start + 1).split('&')) {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    if (!(PARAMS as readonly string[]).includes(name) || Object.hasOwn(found, name)) continue
    found[name as Param] = eq === -1 ? '' : pair.slice(eq + 1)
  }
  return found
}

/** A parameter's value as text: valid UTF-8, or a 400 naming it. */
function text (name: Param, raw: string): string {
  const bytes = formDecode(raw)
  if (bytes === undefined) throw invalid(name, 'malformed percent-encoding')
  if (!isUtf8(bytes)) throw invalid(name, 'not valid UTF-8')
  return bytes.toString('utf8')
}

function integer (name: Param, value: string, min: number, max: number, reason: string): number {
  // Digits only: no sign, no decimals, no exponent, no spaces; a bounded length before Number() reads it.
  if (!/^\d{1,16}$/.test(value)) throw invalid(name, reason)
  const n = Number(value)
  if (n < min || n > max) throw invalid(name, reason)
  return n
}

function choice<T extends string> (name: Param, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw invalid(name, `must be one of ${choices.join(', ')}`)
  return value as T
}

/**
 * Parses and checks the query of a `/files` request URL (`request.raw.url`). Throws HttpError 400
 * `Invalid parameter: <name>: <reason>` for the first bad one, in the order q, limit, offset, sort, order.
 */
export function parseCatalogueQuery (url: string): CatalogueQuery {
  const raw = rawParams(url)
  const query: CatalogueQuery = { ...DEFAULT_CATALOGUE_QUERY }
  const value = (name: Param): string | undefined => {
    const r = raw[name]
    if (r === undefined || r === '') return undefined
    const decoded = text(name, r)
    return decoded === '' ? undefined : decoded
  }
  const q = value('q')
  if (q !== undefined) {
    if (Buffer.byteLength(q, 'utf8') > TRACKER_MAX_QUERY_BYTES) throw invalid('q', `must be at most ${TRACKER_MAX_QUERY_BYTES} bytes of UTF-8`)
    query.q = q
  }
  const limit = value('limit')
  if (limit !== undefined) {
    query.limit = integer('limit', limit, 1, TRACKER_FILES_MAX_LIMIT, `must be an integer from 1 to ${TRACKER_FILES_MAX_LIMIT}`)
  }
  const offset = value('offset')
  if (offset !== undefined) {
    query.offset = integer('offset', offset, 0, Number.MAX_SAFE_INTEGER, 'must be a non-negative integer')
  }
  const sort = value('sort')
  if (sort !== undefined) {
    query.sort = choice('sort', sort, CATALOGUE_SORTS)
    query.order = DEFAULT_ORDER[query.sort]
  }
  const order = value('order')
  if (order !== undefined) query.order = choice('order', order, SORT_ORDERS)
  return query
}
