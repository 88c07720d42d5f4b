/**
 * Per-client request budgets: a token bucket per client address (rate-limit budgets in limits.ts).
 *
 * A client is an IPv4 address, or an IPv6 /64 prefix: a host is given a whole /64 (RFC 6177, SLAAC), so it could
 * otherwise rotate addresses to get a fresh budget each time. An IPv4-mapped IPv6 address (a dual-stack listener) is
 * its IPv4 address.
 *
 * `take()` is O(1) and, once the table is full, allocation-free (an IPv6 client costs its /64 key string): a Map
 * from client to bucket, and the buckets in a doubly linked list in order of use (a take moves its bucket to the
 * newest end). No timer per bucket: a bucket refills lazily from the time of its last take. The table is bounded:
 * past `maxAddresses`, the least recently seen client's bucket is reused for the new one. A client idle for
 * `burst / perSecond` seconds has a full bucket, which is exactly what a forgotten client starts with again, so
 * forgetting it loses nothing; only a flood from more than `maxAddresses` clients within that time gains anything.
 */
import { parseIPv4, parseIPv6 } from '../discovery/compact.js'
import { ValidationError } from '../errors.js'
import {
  DEFAULT_ANNOUNCE_RATE,
  DEFAULT_READ_RATE,
  DEFAULT_UDP_RATE,
  DEFAULT_WRITE_RATE,
  RATE_LIMIT_MAX_ADDRESSES,
  READ_REPLY_BYTES_PER_TOKEN,
  type RateBudget
} from './limits.js'
import { peerAddress } from './peer-address.js'
import { pushNewest, touch, unlink, type RecencyEnds } from './recency.js'

export interface RateLimiterOptions extends RateBudget {
  /** Clients tracked at once; default RATE_LIMIT_MAX_ADDRESSES. */
  maxAddresses?: number | undefined
  /** Loopback clients (127.0.0.0/8, ::1) are never limited; default false (they are, like any client). */
  exemptLoopback?: boolean | undefined
}

/** One client's bucket, in the table's use-order list. */
interface Bucket {
  key: number | string
  /** Requests it may still send now (fractional between refills), at `updated`. */
  tokens: number
  /** Time of its last take, ms. */
  updated: number
  older: Bucket | undefined
  newer: Bucket | undefined
}

/** Scratch for parsing an IPv6 client address. */
const scratch6 = Buffer.alloc(16)
/** `clientKey()` of a loopback address. */
const LOOPBACK = -2
/** `clientKey()` of something that is no IP address (the socket is gone): limited as one client. */
const NO_ADDRESS = 'unknown'

/**
 * The budget key of a client address: an IPv4 address as a number, an IPv6 address as its /64 prefix (16 hex
 * digits), LOOPBACK (when `loopback` is true) for 127.0.0.0/8 and ::1.
 */
export function clientKey (address: string | undefined, loopback = false): number | string {
  const ip = peerAddress(address)
  if (ip === undefined) return NO_ADDRESS
  const v4 = parseIPv4(ip)
  if (v4 >= 0) return loopback && v4 >>> 24 === 127 ? LOOPBACK : v4
  if (!parseIPv6(ip, scratch6)) return NO_ADDRESS
  if (loopback && isLoopback6(scratch6)) return LOOPBACK
  return scratch6.toString('hex', 0, 8)
}

/** Whether 16 address bytes are ::1. */
function isLoopback6 (bytes: Uint8Array): boolean {
  for (let i = 0; i < 15; i++) if (bytes[i] !== 0) return false
  return bytes[15] === 1
}

function checkBudget (name: string, budget: RateBudget): void {
  if (!(Number.isSafeInteger(budget.burst) && budget.burst >= 1)) {
    throw new ValidationError(`Invalid ${name} rate limit burst: ${budget.burst} (an integer of at least 1)`)
  }
  if (!(Number.isFinite(budget.perSecond) && budget.perSecond > 0)) {
    throw new ValidationError(`Invalid ${name} rate limit: ${budget.perSecond} per second (more than 0)`)
  }
}

/** A token bucket per client address, in a bounded table. */
export class RateLimiter {
  readonly burst: number
  readonly perSecond: number
  readonly #perMs: number
  readonly #maxAddresses: number
  readonly #exemptLoopback: boolean
  readonly #buckets = new Map<number | string, Bucket>()
  /** The buckets in order of use, the least recently used first (recency.ts). */
  readonly #byUse: RecencyEnds<Bucket> = { oldest: undefined, newest: undefined }
  /** Requests refused so far. */
  limited = 0

  constructor (options: RateLimiterOptions, name = 'request') {
    checkBudget(name, options)
    const maxAddresses = options.maxAddresses ?? RATE_LIMIT_MAX_ADDRESSES
    if (!(Number.isSafeInteger(maxAddresses) && maxAddresses >= 1)) {
      throw new ValidationError(`Invalid rate limit table size: ${maxAddresses} (an integer of at least 1)`)
    }
    this.burst = options.burst
    this.perSecond = options.perSecond
    this.#perMs = options.perSecond / 1000
    this.#maxAddresses = maxAddresses
    this.#exemptLoopback = options.exemptLoopback ?? false
  }

  /** Clients tracked now (at most `maxAddresses`). */
  get size (): number {
    return this.#buckets.size
  }

  /**
   * Takes one request from the budget of the client at `ip` (a socket's remote address) at `now` (ms). Returns 0
   * when it may go ahead, else the whole seconds (at least 1) until it may (an HTTP `Retry-After`). A refused
   * request takes nothing.
   */
  take (ip: string | undefined, now: number): number {
    const bucket = this.#bucketOf(ip, now)
    if (bucket === undefined) return 0
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    this.limited++
    return Math.ceil((1 - bucket.tokens) / this.perSecond)
  }

  /**
   * Takes `tokens` more from the budget of the client at `ip`, for work whose cost is known only once its request was
   * let in (a big reply, before it is built). The cost may exceed what is left, or even the burst: the budget then goes
   * into debt (at most one burst deep), and the client's next requests wait (`take()` refuses) until it is paid off, so
   * a client gets its budget's worth over time whatever it asks for. Returns 0 when the work may go ahead; refused
   * (the whole seconds until the debt is paid, taking nothing) only while the client is already in debt: requests let
   * in together (pipelined, or on parallel connections) before the first of them spent.
   */
  spend (ip: string | undefined, tokens: number, now: number): number {
    const bucket = this.#bucketOf(ip, now)
    if (bucket === undefined) return 0
    if (bucket.tokens < 0) {
      this.limited++
      return Math.ceil((1 - bucket.tokens) / this.perSecond)
    }
    this.#debit(bucket, tokens)
    return 0
  }

  /** Takes `tokens` from the budget of the client at `ip` for work already done (a reply sent), into debt if need be. */
  charge (ip: string | undefined, tokens: number, now: number): void {
    const bucket = this.#bucketOf(ip, now)
    if (bucket !== undefined) this.#debit(bucket, tokens)
  }

  #debit (bucket: Bucket, tokens: number): void {
    if (!(tokens > 0)) return
    const left = bucket.tokens - tokens
    bucket.tokens = left > -this.burst ? left : -this.burst
  }

  /** The client's bucket refilled to `now` (undefined for an exempt loopback client). */
  #bucketOf (ip: string | undefined, now: number): Bucket | undefined {
    const key = clientKey(ip, this.#exemptLoopback)
    if (key === LOOPBACK) return undefined
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return this.#add(key, now)
    const elapsed = now - bucket.updated
    // A clock that steps back refills nothing (and takes nothing back).
    if (elapsed > 0) {
      const tokens = bucket.tokens + elapsed * this.#perMs
      bucket.tokens = tokens < this.burst ? tokens : this.burst
      bucket.updated = now
    }
    touch(this.#byUse, bucket)
    return bucket
  }

  /** A full bucket for a new client; past the bound, the least recently used one is forgotten and its bucket reused. */
  #add (key: number | string, now: number): Bucket {
    let bucket: Bucket
    const oldest = this.#byUse.oldest
    if (this.#buckets.size >= this.#maxAddresses && oldest !== undefined) {
      this.#buckets.delete(oldest.key)
      unlink(this.#byUse, oldest)
      bucket = oldest
      bucket.key = key
      bucket.tokens = this.burst
      bucket.updated = now
    } else {
      bucket = { key, tokens: this.burst, updated: now, older: undefined, newer: undefined }
    }
    this.#buckets.set(key, bucket)
    pushNewest(this.#byUse, bucket)
    return bucket
  }
}

/** The tracker's rate limits, each a budget per client address (TrackerOptions.rateLimits). */
export interface RateLimitOptions {
  /** HTTP `/announce` and `/scrape`. */
  announce: RateBudget
  /** UDP tracker packets (connect, announce, scrape). */
  udp: RateBudget
  /** Seed API writes: `POST /register` and any method other than GET and HEAD. */
  write: RateBudget
  /** Every other request: `/lookup`, `/files`, `/torrent`, the web page, health and metrics. */
  read: RateBudget
  /**
   * A read costs one request plus one per this many bytes of its reply (READ_REPLY_BYTES_PER_TOKEN), so a client
   * picking big replies gets fewer of them; 0 or Infinity: every read costs one request.
   */
  readBytesPerToken: number
  /** Clients tracked per budget. */
  maxAddresses: number
  /** Never limit 127.0.0.0/8 and ::1 (local benchmarks, a trusted local proxy). */
  exemptLoopback: boolean
}

/** One limiter per budget. */
export interface RateLimits {
  announce: RateLimiter
  udp: RateLimiter
  write: RateLimiter
  read: RateLimiter
  /** See RateLimitOptions; Infinity when replies' sizes are not counted. */
  readBytesPerToken: number
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = {
  announce: DEFAULT_ANNOUNCE_RATE,
  udp: DEFAULT_UDP_RATE,
  write: DEFAULT_WRITE_RATE,
  read: DEFAULT_READ_RATE,
  readBytesPerToken: READ_REPLY_BYTES_PER_TOKEN,
  maxAddresses: RATE_LIMIT_MAX_ADDRESSES,
  exemptLoopback: false
}

/** The limiters for `options` over the defaults; undefined for `false` (no rate limits). Throws ValidationError on a bad value. */
export function createRateLimits (options: Partial<RateLimitOptions> | false | undefined): RateLimits | undefined {
  if (options === false) return undefined
  const o = { ...DEFAULT_RATE_LIMITS, ...options }
  const make = (name: 'announce' | 'udp' | 'write' | 'read'): RateLimiter =>
    new RateLimiter({ ...o[name], maxAddresses: o.maxAddresses, exemptLoopback: o.exemptLoopback }, name)
  const perToken = o.readBytesPerToken
  if (!(perToken === Infinity || perToken === 0 || (Number.isSafeInteger(perToken) && perToken > 0))) {
    throw new ValidationError(`Invalid read rate limit bytes per request: ${perToken} (a positive integer, 0 or Infinity)`)
  }
  return {
    announce: make('announce'),
    udp: make('udp'),
    write: make('write'),
    read: make('read'),
    readBytesPerToken: perToken === 0 ? Infinity : perToken
  }
}
