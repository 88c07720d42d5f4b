/**
 * Abuse limits on the tracker's HTTP routes: the per-client rate limits of rate-limit.ts, answered as each kind of
 * client reads a refusal.
 *
 * JSON routes (the seed API, the catalogue, the web page, health and metrics) over budget: 429 with `Retry-After` and
 * `{"error": "Too many requests: retry in N s"}`, from an onRequest hook, before any parsing. A read also costs by the
 * size of its reply (ReplyCosts): a client picking the biggest replies gets as many bytes as one picking small ones,
 * not 1,000 times more for the same count of requests (issue 9: 14.6 MB lookups at the read rate). `/announce` and
 * `/scrape` are limited by their handlers (`limitAnnounce()`), since BitTorrent clients ignore the body of any
 * status but 200: there a refusal is HTTP 200 with a bencoded `failure reason`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bencode } from '../content/bencode.js'
import type { ErrorBody } from './http-errors.js'
import type { RateLimiter, RateLimits } from './rate-limit.js'

/** The routes limited by the announce budget, in their handlers (they may move out of fastify). */
const ANNOUNCE_ROUTES = new Set(['/announce', '/scrape'])

/** The message of every rate-limit refusal. */
export function tooManyRequests (retryAfterS: number): string {
  return `Too many requests: retry in ${retryAfterS} s`
}

/**
 * The bencoded refusal of an announce or scrape over budget: `failure reason`; `min interval`, the seconds to wait
 * (libtorrent waits that long before retrying a tracker that failed); and BEP 31's `retry in`, in minutes, rounded up.
 */
export function rateLimitedAnnounceReply (retryAfterS: number): Buffer {
  return bencode({
    'failure reason': tooManyRequests(retryAfterS),
    'min interval': retryAfterS,
    'retry in': Math.ceil(retryAfterS / 60)
  })
}

/**
 * Takes one announce or scrape from the budget of `ip` at `now` (ms): undefined when it may go ahead, else the
 * reply to send (rateLimitedAnnounceReply). No limiter: always undefined. O(1), cheap enough for the raw fast path.
 */
export function limitAnnounce (limiter: RateLimiter | undefined, ip: string | undefined, now: number): Buffer | undefined {
  if (limiter === undefined) return undefined
  const wait = limiter.take(ip, now)
  return wait === 0 ? undefined : rateLimitedAnnounceReply(wait)
}

/** Answers a JSON route's request with the rate-limit refusal: 429, `Retry-After`, `{"error": ...}`. */
export function sendTooManyRequests (reply: FastifyReply, retryAfterS: number): FastifyReply {
  return reply.code(429).header('retry-after', String(retryAfterS)).type('application/json; charset=utf-8')
    .send({ error: tooManyRequests(retryAfterS) } satisfies ErrorBody)
}

/**
 * What big read replies cost their client: a read takes one request from its budget when it comes in, and one more
 * per `readBytesPerToken` bytes of its reply (RateLimitOptions). A route that can tell a reply's size before building it
 * (`/lookup`) pays first, so a client over budget is refused before the work is done; every other read's reply is
 * charged as it is sent, less what was paid first.
 */
export interface ReplyCosts {
  /**
   * Pays, from the budget of `request`'s client, for a reply of at most `bytes` bytes, beyond its one request: 0 to go
   * ahead, else the seconds to wait (answer sendTooManyRequests).
   */
  prepay: (request: FastifyRequest, bytes: number) => number
}

/**
 * Installs the rate limits of every route but `/announce` and `/scrape`: GET and HEAD (and OPTIONS) requests take
 * from the `read` budget, any other method from the `write` budget (`POST /register`, an operator's removals).
 * Unknown routes count as their method says: a flood of 404s costs like any other. A read's reply costs by its size
 * too (ReplyCosts, returned for the routes that pay first).
 */
export function registerRateLimits (app: FastifyInstance, limits: RateLimits, now: () => number): ReplyCosts {
  const perToken = limits.readBytesPerToken
  /** Tokens paid first for a request's reply (ReplyCosts.prepay), taken off what its reply is charged as it is sent. */
  const prepaid = new WeakMap<FastifyRequest, number>()
  const isRead = (method: string): boolean => method === 'GET' || method === 'HEAD' || method === 'OPTIONS'
  const tokensFor = (bytes: number): number => Math.floor(bytes / perToken)
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const route = request.routeOptions.url
    if (route !== undefined && ANNOUNCE_ROUTES.has(route)) {
      done()
      return
    }
    const wait = (isRead(request.method) ? limits.read : limits.write).take(request.ip, now())
    if (wait === 0) {
      done()
      return
    }
    void sendTooManyRequests(reply, wait)
  })
  if (perToken === Infinity) return { prepay: () => 0 }

  app.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void => {
    const route = request.routeOptions.url
    if (isRead(request.method) && !(route !== undefined && ANNOUNCE_ROUTES.has(route)) && reply.statusCode !== 429) {
      const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0
      const owed = tokensFor(bytes) - (prepaid.get(request) ?? 0)
      if (owed > 0) limits.read.charge(request.ip, owed, now())
    }
    done(null, payload)
  })
  return {
    prepay (request, bytes) {
      const tokens = tokensFor(bytes)
      if (tokens === 0) return 0
      const wait = limits.read.spend(request.ip, tokens, now())
      if (wait === 0) prepaid.set(request, (prepaid.get(request) ?? 0) + tokens)
      return wait
    }
  }
}
