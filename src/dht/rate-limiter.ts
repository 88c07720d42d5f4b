/**
 * Incoming queries per source IP address: a token bucket each, refilled lazily from the time of its last take (no
 * timer per bucket). The table is bounded: past `maxAddresses` the least recently seen address's bucket is forgotten
 * (a Map keeps insertion order; a take re-inserts). A forgotten address comes back with a full bucket, which is what
 * it would have had after `burst / perSecond` seconds idle anyway, so only a flood from more than `maxAddresses`
 * addresses within that time gains anything.
 */
import { DHT_RATE_BURST, DHT_RATE_MAX_ADDRESSES, DHT_RATE_PER_SECOND } from './constants.js'

export interface RateLimiterOptions {
  burst?: number
  perSecond?: number
  maxAddresses?: number
  now?: () => number
}

interface Bucket { tokens: number, at: number }

export class AddressRateLimiter {
  readonly burst: number
  readonly perSecond: number
  readonly #max: number
  readonly #now: () => number
  readonly #buckets = new Map<string, Bucket>()

  constructor (options: RateLimiterOptions = {}) {
    this.burst = options.burst ?? DHT_RATE_BURST
    this.perSecond = options.perSecond ?? DHT_RATE_PER_SECOND
    this.#max = Math.max(1, options.maxAddresses ?? DHT_RATE_MAX_ADDRESSES)
    this.#now = options.now ?? Date.now
    if (!(this.burst >= 1) || !(this.perSecond > 0)) throw new RangeError('DHT rate limit: burst >= 1 and perSecond > 0')
  }

  /** Take one token for `address`; false when its bucket is empty (the query is to be dropped). */
  take (address: string): boolean {
    const now = this.#now()
    let b = this.#buckets.get(address)
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
      b = { tokens: this.burst, at: now }
    } else {
      this.#buckets.delete(address)
      b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.perSecond)
      b.at = now
    }
    this.#buckets.set(address, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Whether `address` has a token left now, without taking one. */
  allows (address: string): boolean {
    const b = this.#buckets.get(address)
    if (b === undefined) return true
    return b.tokens + (Math.max(0, this.#now() - b.at) / 1000) * this.perSecond >= 1
  }

  get size (): number {
    return this.#buckets.size
  }
}
