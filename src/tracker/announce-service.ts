/**
 * BitTorrent announce (BEP 3, compact BEP 23, IPv6 BEP 7) and scrape (BEP 48) over HTTP, as one function each from a
 * request target and the client's address to the bencoded reply body. The plain-HTTP front door (front-door.ts) calls
 * them straight from the socket; the fastify routes (routes-announce.ts: HTTPS, `inject()`) call the same ones.
 *
 * Order of checks: the client's rate budget (abuse.ts), then the passkey of a private tracker (access.ts), then the
 * parameters. A refusal is a bencoded `failure reason`, since BitTorrent clients read no other body. Every request is
 * counted in the metrics by result.
 */
import { limitAnnounce } from './abuse.js'
import { AnnounceFailure, parseAnnounce, parseScrape, type AnnounceParams } from './announce-params.js'
import { compactReply, dictionaryReply, failureReply, scrapeReply, type AnnounceSummary } from './announce-replies.js'
import { minAnnounceIntervalS } from './limits.js'
import type { AnnounceResult, TrackerMetrics } from './metrics.js'
import type { RateLimiter } from './rate-limit.js'
import { CompactPicks, type Swarm, type SwarmPeer, type SwarmStats, type Swarms } from './swarms.js'

export interface AnnounceServiceContext {
  swarms: Swarms
  now: () => number
  /** `interval` of every reply, seconds. */
  intervalS: number
  /** The per-client budget of announces and scrapes; none: no limit. */
  limiter?: RateLimiter | undefined
  /** Private tracker: why a request target is refused (its passkey), or undefined to serve it. */
  passkeyFailure?: ((target: string) => string | undefined) | undefined
  metrics?: TrackerMetrics | undefined
  /** Called with every announce that was applied (its parameters and the client's address): a debug log. */
  onAnnounce?: ((params: AnnounceParams, ip: string) => void) | undefined
}

export class AnnounceService {
  readonly #swarms: Swarms
  readonly #now: () => number
  readonly #intervalS: number
  readonly #minIntervalS: number
  readonly #limiter: RateLimiter | undefined
  readonly #passkeyFailure: ((target: string) => string | undefined) | undefined
  readonly #metrics: TrackerMetrics | undefined
  readonly #onAnnounce: ((params: AnnounceParams, ip: string) => void) | undefined
  /** The peers picked for one reply, reused by every request (a request is handled synchronously). */
  readonly #picked: SwarmPeer[] = []
  readonly #compactPicks = new CompactPicks()

  constructor (context: AnnounceServiceContext) {
    this.#swarms = context.swarms
    this.#now = context.now
    this.#intervalS = context.intervalS
    this.#minIntervalS = minAnnounceIntervalS(context.intervalS)
    this.#limiter = context.limiter
    this.#passkeyFailure = context.passkeyFailure
    this.#metrics = context.metrics
    this.#onAnnounce = context.onAnnounce
  }

  /** The reply to `GET <target>` (an `/announce` request target) from `ip`. */
  announce (target: string, ip: string | undefined): Buffer {
    const refusal = this.#refusal(target, ip, 'announce')
    if (refusal !== undefined) return refusal
    let body: Buffer
    try {
      const params = parseAnnounce(target)
      if (ip === undefined) throw new AnnounceFailure('Cannot determine your address')
      const swarms = this.#swarms
      const { swarm, self, early } = swarms.announce(params, ip, this.#now())
      this.#onAnnounce?.(params, ip)
      const summary: AnnounceSummary = {
        complete: swarm?.seeders.length ?? 0,
        incomplete: swarm?.leechers.length ?? 0,
        downloaded: swarm?.downloaded ?? 0,
        interval: this.#intervalS,
        minInterval: this.#minIntervalS
      }
      // A stopped peer is given no peers, nor one announcing again before min interval (swarms.ts).
      const want = swarm === undefined || self === undefined || early ? 0 : params.numwant
      if (params.compact) {
        const picks = this.#compactPicks
        if (want > 0) swarms.pickCompact(swarm as Swarm, self, want, picks)
        else picks.length4 = picks.length6 = 0
        body = compactReply(summary, picks)
      } else {
        if (want > 0) swarms.pick(swarm as Swarm, self, want, this.#picked)
        body = dictionaryReply(summary, this.#picked, params.noPeerId)
      }
    } catch (err) {
      if (!(err instanceof AnnounceFailure)) throw err
      this.#count('announce', 'failure')
      return failureReply(err.message)
    } finally {
      this.#picked.length = 0
    }
    this.#count('announce', 'ok')
    return body
  }

  /** The reply to `GET <target>` (a `/scrape` request target) from `ip`. */
  scrape (target: string, ip: string | undefined): Buffer {
    const refusal = this.#refusal(target, ip, 'scrape')
    if (refusal !== undefined) return refusal
    try {
      const t = this.#now()
      const entries: Array<[string, SwarmStats]> = []
      for (const infoHash of parseScrape(target)) {
        const stats = this.#swarms.stats(infoHash, t)
        if (stats !== undefined) entries.push([infoHash, stats])
      }
      this.#count('scrape', 'ok')
      return scrapeReply(entries)
    } catch (err) {
      if (!(err instanceof AnnounceFailure)) throw err
      this.#count('scrape', 'failure')
      return failureReply(err.message)
    }
  }

  /** The reply refusing a request over its client's budget or without a valid passkey; undefined to serve it. */
  #refusal (target: string, ip: string | undefined, kind: 'announce' | 'scrape'): Buffer | undefined {
    const limited = limitAnnounce(this.#limiter, ip, this.#now())
    if (limited !== undefined) {
      this.#count(kind, 'rate_limited')
      return limited
    }
    const refused = this.#passkeyFailure?.(target)
    if (refused !== undefined) {
      this.#count(kind, 'denied')
      return failureReply(refused)
    }
    return undefined
  }

  #count (kind: 'announce' | 'scrape', result: AnnounceResult): void {
    const metrics = this.#metrics
    if (metrics === undefined) return
    if (kind === 'announce') metrics.announce('http', result)
    else metrics.scrape('http', result)
    // A refusal is a rejected request like a 4xx elsewhere, though BitTorrent clients get it with status 200.
    if (result === 'rate_limited') metrics.rejected('rate_limited')
    else if (result === 'denied') metrics.rejected('denied')
    else if (result === 'failure') metrics.rejected('bad_request')
  }
}
