/**
 * Abuse limits on the tracker's HTTP routes: the per-client rate limits of rate-limit.ts, answered as each kind of
 * client reads a refusal.
 *
 * JSON routes (the seed API, the catalogue, the web page, health and metrics) over budget: 429 with `Retry-After` and
 * `{"error": "Too many requests: retry in N s"}`, from an onRequest hook, before any parsing. `/announce` and
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

/**
 * Installs the rate limits of every route but `/announce` and `/scrape`: GET and HEAD (and OPTIONS) requests take
 * from the `read` budget, any other method from the `write` budget (`POST /register`, an operator's removals).
 * Unknown routes count as their method says: a flood of 404s costs like any other.
 */
export function registerRateLimits (app: FastifyInstance, limits: RateLimits, now: () => number): void {
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const route = request.routeOptions.url
    if (route !== undefined && ANNOUNCE_ROUTES.has(route)) {
      done()
      return
    }
    const method = request.method
    const read = method === 'GET' || method === 'HEAD' || method === 'OPTIONS'
    const wait = (read ? limits.read : limits.write).take(request.ip, now())
    if (wait === 0) {
      done()
      return
    }
    void reply.code(429).header('retry-after', String(wait)).type('application/json; charset=utf-8')
      .send({ error: tooManyRequests(wait) } satisfies ErrorBody)
  })
}
