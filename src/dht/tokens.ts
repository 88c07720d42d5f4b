/**
 * announce_peer write tokens (BEP 5): "the SHA1 hash of the IP address concatenated onto a secret that changes every
 * five minutes and tokens up to ten minutes old are accepted". Stateless: two secrets, nothing stored per token, so
 * handing out tokens costs no memory; a token is good for the querier's IP only, for 5 to 10 minutes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { DHT_TOKEN_BYTES, DHT_TOKEN_ROTATE_MS } from './constants.js'
import { ipBytes } from './node-id.js'

export interface TokenOptions {
  now?: () => number
  rotateMs?: number
}

export class TokenIssuer {
  readonly #now: () => number
  readonly #rotateMs: number
  #current = randomBytes(20)
  #previous = randomBytes(20)
  #rotatedAt: number

  constructor (options: TokenOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#rotateMs = options.rotateMs ?? DHT_TOKEN_ROTATE_MS
    this.#rotatedAt = this.#now()
  }

  /** Rotate the secret if its time has come (lazily, from any call: no timer). */
  #tick (): void {
    const elapsed = this.#now() - this.#rotatedAt
    if (elapsed < this.#rotateMs) return
    // Two periods or more without a call: both secrets are stale.
    this.#previous = elapsed >= 2 * this.#rotateMs ? randomBytes(20) : this.#current
    this.#current = randomBytes(20)
    this.#rotatedAt = this.#now()
  }

  /** The token for a querier at `ip` (an IP literal). */
  issue (ip: string): Buffer {
    this.#tick()
    return this.#make(this.#current, ip)
  }

  /** Whether `token` was issued to `ip` under the current or the previous secret. */
  check (ip: string, token: Uint8Array): boolean {
    this.#tick()
    if (token.length !== DHT_TOKEN_BYTES) return false
    return timingSafeEqual(token, this.#make(this.#current, ip)) || timingSafeEqual(token, this.#make(this.#previous, ip))
  }

  #make (secret: Buffer, ip: string): Buffer {
    const h = createHash('sha1').update(secret).update(ipBytes(ip) ?? Buffer.from(ip, 'latin1'))
    return h.digest().subarray(0, DHT_TOKEN_BYTES)
  }
}
