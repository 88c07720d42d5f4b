/**
 * BitTorrent's HTTP tracker protocol: `GET /announce` (BEP 3, compact peers BEP 23, IPv6 peers BEP 7) and
 * `GET /scrape` (BEP 48). Replies are bencoded, `text/plain`; a refused request is HTTP 200 with a bencoded
 * `failure reason`, since that is what BitTorrent clients read (most ignore the body of any other status).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { limitAnnounce } from './abuse.js'
import { AnnounceFailure, parseAnnounce, parseScrape } from './announce-params.js'
import { compactReply, dictionaryReply, failureReply, scrapeReply, type AnnounceSummary } from './announce-replies.js'
import { minAnnounceIntervalS } from './limits.js'
import { peerAddress } from './peer-address.js'
import type { RateLimiter } from './rate-limit.js'
import { CompactPicks, type Swarm, type SwarmPeer, type SwarmStats, type Swarms } from './swarms.js'

// The address rule is shared with the UDP tracker; kept exported here for existing callers.
export { peerAddress }

export interface AnnounceRoutesContext {
  swarms: Swarms
  now: () => number
  /** `interval` of every reply, seconds. */
  intervalS: number
  /** Abuse limits (abuse.ts): the per-client announce budget; none: no limit. */
  limiter?: RateLimiter | undefined
  /** Private tracker (access.ts): why a request URL is refused (its passkey), or undefined to serve it. */
  passkeyFailure?: (url: string) => string | undefined
}

/** The peers picked for one reply; reused by every request (the handler is synchronous). */
const picked: SwarmPeer[] = []
const compactPicks = new CompactPicks()

function send (reply: FastifyReply, body: Buffer): void {
  void reply.type('text/plain').send(body)
}

export function registerAnnounceRoutes (app: FastifyInstance, { swarms, now, intervalS, passkeyFailure, limiter }: AnnounceRoutesContext): void {
  const minIntervalS = minAnnounceIntervalS(intervalS)

  app.get('/announce', (request: FastifyRequest, reply: FastifyReply): void => {
    // Abuse limits (abuse.ts, helper C): the per-client announce budget, first. Minimal call, to move with the handler.
    const limited = limitAnnounce(limiter, request.ip, now())
    if (limited !== undefined) { send(reply, limited); return }
    // Private tracker (access.ts, helper B): refused without a valid passkey, before anything else is read.
    const refused = passkeyFailure?.(request.raw.url ?? '')
    if (refused !== undefined) { send(reply, failureReply(refused)); return }
    let body: Buffer
    try {
      const params = parseAnnounce(request.raw.url ?? '')
      const ip = peerAddress(request.ip)
      if (ip === undefined) throw new AnnounceFailure('Cannot determine your address')
      const t = now()
      const { swarm, self, early } = swarms.announce(params, ip, t)
      const summary: AnnounceSummary = {
        complete: swarm?.seeders.length ?? 0,
        incomplete: swarm?.leechers.length ?? 0,
        downloaded: swarm?.downloaded ?? 0,
        interval: intervalS,
        minInterval: minIntervalS
      }
      // A stopped peer is given no peers, nor one announcing again before min interval (swarms.ts).
      const want = swarm === undefined || self === undefined || early ? 0 : params.numwant
      if (params.compact) {
        if (want > 0) swarms.pickCompact(swarm as Swarm, self, want, compactPicks)
        else compactPicks.length4 = compactPicks.length6 = 0
        body = compactReply(summary, compactPicks)
      } else {
        if (want > 0) swarms.pick(swarm as Swarm, self, want, picked)
        body = dictionaryReply(summary, picked, params.noPeerId)
        picked.length = 0
      }
    } catch (err) {
      picked.length = 0
      if (!(err instanceof AnnounceFailure)) throw err
      body = failureReply(err.message)
    }
    send(reply, body)
  })

  app.get('/scrape', (request: FastifyRequest, reply: FastifyReply): void => {
    // Abuse limits (abuse.ts, helper C): the per-client announce budget, first. Minimal call, to move with the handler.
    const limited = limitAnnounce(limiter, request.ip, now())
    if (limited !== undefined) { send(reply, limited); return }
    // Private tracker (access.ts, helper B): refused without a valid passkey, before anything else is read.
    const refused = passkeyFailure?.(request.raw.url ?? '')
    if (refused !== undefined) { send(reply, failureReply(refused)); return }
    let body: Buffer
    try {
      const t = now()
      const entries: Array<[string, SwarmStats]> = []
      for (const infoHash of parseScrape(request.raw.url ?? '')) {
        const stats = swarms.stats(infoHash, t)
        if (stats !== undefined) entries.push([infoHash, stats])
      }
      body = scrapeReply(entries)
    } catch (err) {
      if (!(err instanceof AnnounceFailure)) throw err
      body = failureReply(err.message)
    }
    send(reply, body)
  })
}
