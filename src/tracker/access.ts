/**
 * Access control of a private tracker. Every announce, scrape and seed-API request carries its user's key as the
 * query parameter `passkey=<32 hex>`, the common private-tracker convention (`http://host:5000/announce?passkey=KEY`):
 * BitTorrent clients keep the query of an announce URL and append their own parameters to it. A key anywhere else
 * (the path, a header, the body) does not count.
 *
 * A refused request gets a reason a user can act on: on `/announce` and `/scrape` a bencoded `failure reason`
 * (HTTP 200, what BitTorrent clients read), on the JSON routes 403 `{"error": ...}`. `/healthz`, `/metrics` and the
 * web page stay open: they show nothing a key protects (the page's own API calls carry the passkey of the page's URL).
 *
 * The check is on the announce hot path, so it mostly reads no database: `PasskeyIndex` remembers the status of every
 * key it has looked up, by SHA-256 (only keys the operator issued are remembered, so no remote party can grow it), and
 * forgets everything when the table changes. A key issued or revoked through this process counts at once; through
 * another process (`p2pshare tracker keys ...` on the same file) within PASSKEY_REFRESH_MS. A key not remembered is
 * looked up in the database, so a key issued a moment ago works at once.
 */
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ACCESS_KEY_LENGTH, hashKey, isKeyShaped, type AccessKeys, type KeyStatus } from './access-keys.js'
import { serializeJson, type ErrorBody } from './http-errors.js'

/** The query parameter that carries the key. */
export const PASSKEY_PARAM = 'passkey'

/**
 * Longest time a revocation made by another process (the CLI, on the same database file) takes to reach a running
 * tracker: once per this period a check asks SQLite whether the file changed (`PRAGMA data_version`, ~1 µs) and
 * reloads the keys if it did. Short enough that a revoked user is out at once for any practical purpose (their client
 * announces every few minutes), long enough that the question is not asked on every request.
 */
export const PASSKEY_REFRESH_MS = 1_000

export const MISSING_PASSKEY = 'Missing passkey: this tracker is private'
export const UNKNOWN_PASSKEY = 'Unknown passkey'
export const REVOKED_PASSKEY = 'Passkey revoked'

/** Whatever tells a key's status: `AccessKeys` (a database read per key) or `PasskeyIndex` (memory). */
export interface KeyChecker {
  status: (key: string) => KeyStatus
}

/** `passkey=` as char codes, matched in place (no substring per request). */
const NEEDLE = `${PASSKEY_PARAM}=`
const AMPERSAND = 0x26
const QUESTION = 0x3f

/**
 * The value of the first `passkey` parameter in a request target's query (`/announce?passkey=KEY&...`), as it is
 * written (not percent-decoded: a key is hex), `''` for `passkey=` with no value, undefined without one. Only a
 * parameter named exactly `passkey` counts (not `xpasskey`, not one in the path). No URL object, no array: one
 * `indexOf` per candidate.
 */
export function passkeyOf (url: string): string | undefined {
  const query = url.indexOf('?')
  if (query === -1) return undefined
  let at = query + 1
  for (;;) {
    const found = url.indexOf(NEEDLE, at)
    if (found === -1) return undefined
    const before = url.charCodeAt(found - 1)
    if (before === AMPERSAND || before === QUESTION) {
      const start = found + NEEDLE.length
      const end = url.indexOf('&', start)
      return url.slice(start, end === -1 ? url.length : end)
    }
    at = found + 1
  }
}

/**
 * Why a request to a private tracker is refused, or undefined when its passkey is valid. `url` is the raw request
 * target (path and query). For the raw announce path: a few string operations and, with a `PasskeyIndex`, a SHA-256
 * and a map read (about 1 µs, see the report in docs/private-tracker.md).
 */
export function passkeyFailure (url: string, keys: KeyChecker): string | undefined {
  let key = passkeyOf(url)
  if (key === undefined || key === '') return MISSING_PASSKEY
  // Hex in upper case is the same key.
  if (key.length === ACCESS_KEY_LENGTH && !isKeyShaped(key)) key = key.toLowerCase()
  switch (keys.status(key)) {
    case 'valid': return undefined
    case 'revoked': return REVOKED_PASSKEY
    case 'unknown': return UNKNOWN_PASSKEY
  }
}

export interface PasskeyIndexOptions {
  /** See PASSKEY_REFRESH_MS. */
  refreshMs?: number
  /** Monotonic milliseconds; default `performance.now`. */
  clock?: () => number
}

/**
 * The status of the keys seen, in memory, for checks without a database read: one entry (~150 bytes) per issued key
 * presented since the keys last changed. Any change empties it (O(1), no pause however many keys there are); it
 * fills again as keys are presented, one indexed read each (~10 µs). Unknown keys are never remembered: they are
 * looked up each time, which is what a refused request costs.
 */
export class PasskeyIndex implements KeyChecker {
  readonly #keys: AccessKeys
  readonly #refreshMs: number
  readonly #clock: () => number
  /** Key hash → revoked. */
  readonly #byHash = new Map<string, boolean>()
  #mark: number
  #localChanges: number
  #nextCheck: number

  constructor (keys: AccessKeys, options: PasskeyIndexOptions = {}) {
    this.#keys = keys
    this.#refreshMs = options.refreshMs ?? PASSKEY_REFRESH_MS
    this.#clock = options.clock ?? (() => performance.now())
    this.#mark = keys.changeMark()
    this.#localChanges = keys.localChanges
    this.#nextCheck = this.#clock() + this.#refreshMs
  }

  status (key: string): KeyStatus {
    if (!isKeyShaped(key)) return 'unknown'
    this.#forgetIfChanged()
    const keyHash = hashKey(key)
    const revoked = this.#byHash.get(keyHash)
    if (revoked !== undefined) return revoked ? 'revoked' : 'valid'
    const status = this.#keys.statusOfHash(keyHash)
    if (status !== 'unknown') this.#byHash.set(keyHash, status === 'revoked')
    return status
  }

  /** Empties the index if the keys changed: through this process (free to tell), or another (asked once per refresh period). */
  #forgetIfChanged (): void {
    const local = this.#keys.localChanges
    const t = this.#clock()
    if (local === this.#localChanges && t < this.#nextCheck) return
    this.#nextCheck = t + this.#refreshMs
    this.#localChanges = local
    const mark = this.#keys.changeMark()
    if (mark !== this.#mark) {
      this.#mark = mark
      this.#byHash.clear()
    }
  }
}

/**
 * Paths a private tracker serves without a key: health, metrics, and the web page with its static files (routes-web.ts;
 * they hold no catalogue data, and the page's API calls carry the passkey of its own URL).
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/', '/healthz', '/metrics', '/web/app.js', '/web/style.css'])

/**
 * BitTorrent routes: they answer a refused request with a bencoded `failure reason` themselves (`passkeyFailure` at
 * the top of their handler, or the raw announce path), so the JSON hook leaves them alone.
 */
export const BITTORRENT_PATHS: ReadonlySet<string> = new Set(['/announce', '/scrape'])

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/**
 * Makes every JSON route of `app` (`/register`, `/lookup`, `/get_file/*`, `/files`, `/torrent/*`, and any route
 * added later, or an unknown path) refuse a request without a valid passkey: 403 `{"error": reason}`, before its
 * body is read. OPEN_PATHS and BITTORRENT_PATHS are left out.
 */
export function registerAccessControl (app: FastifyInstance, keys: KeyChecker): void {
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const url = request.raw.url ?? '/'
    const path = pathOf(url)
    const failure = OPEN_PATHS.has(path) || BITTORRENT_PATHS.has(path) ? undefined : passkeyFailure(url, keys)
    if (failure === undefined) {
      done()
      return
    }
    void reply.code(403).type('application/json; charset=utf-8').serializer(serializeJson).send({ error: failure } satisfies ErrorBody)
  })
}
