/**
 * The peers a torrent could connect to, wherever they came from (a tracker, the seed catalogue, a magnet's `x.pe`, a
 * peer that connected to us, by hand; later the DHT and PEX), each tagged with its sources, its failures in a row
 * and when it may be dialled again. A transfer takes the next candidate whenever it has room for a connection, so
 * peers offered past the connection cap wait here instead of being dropped, and a peer that failed is not dialled
 * again before its back-off. Pure bookkeeping: no sockets, time passed in.
 */

import { isIP } from 'node:net'

/** The key of a peer address in candidate lists and peer maps: `host:port`, an IPv6 host in brackets. */
export function peerKey (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** A loopback address (127.0.0.0/8 or ::1): on loopback, peers are told apart by port too. */
export function isLocalHost (host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** Where a candidate was learned of. */
export type PeerSource = 'tracker' | 'catalogue' | 'magnet' | 'manual' | 'incoming' | 'dht' | 'pex'

/**
 * A peer that failed (connect error or timeout, no handshake in time, a refused handshake) is not dialled again
 * before 30 s, doubling with each failure in a row up to 30 min; after 8 failures (about an hour of trying) it is
 * given up on. Without this, every re-announce (30 s) dialled the same silent peers again.
 */
export const DIAL_RETRY_BASE_MS = 30_000
export const DIAL_RETRY_MAX_MS = 30 * 60_000
export const MAX_DIAL_FAILURES = 8
/**
 * Candidates remembered per torrent (a tracker gives at most a few hundred per announce). Past it, the one least
 * recently heard of that is not connected is forgotten (given-up ones first), and may be offered again later.
 */
export const MAX_CANDIDATES = 1_000

export interface Candidate {
  readonly key: string
  readonly host: string
  readonly port: number
  readonly sources: Set<PeerSource>
  /** Failures in a row; a completed handshake resets it. */
  failures: number
  /** Not dialled before this (Infinity: given up). */
  retryAt: number
  /** Being dialled, or connected: not offered by `next()`. */
  busy: boolean
}

export interface CandidateListOptions {
  maxCandidates?: number
  retryBaseMs?: number
  retryMaxMs?: number
  maxFailures?: number
}

export class CandidateList {
  /** Least recently heard of first (a re-offer moves a candidate to the end). */
  readonly #byKey = new Map<string, Candidate>()
  readonly #max: number
  readonly #base: number
  readonly #cap: number
  readonly #maxFailures: number

  constructor (options: CandidateListOptions = {}) {
    this.#max = Math.max(1, options.maxCandidates ?? MAX_CANDIDATES)
    this.#base = options.retryBaseMs ?? DIAL_RETRY_BASE_MS
    this.#cap = options.retryMaxMs ?? DIAL_RETRY_MAX_MS
    this.#maxFailures = options.maxFailures ?? MAX_DIAL_FAILURES
  }

  get size (): number {
    return this.#byKey.size
  }

  get (key: string): Candidate | undefined {
    return this.#byKey.get(key)
  }

  /** Offer a peer: a new candidate, or one more source for a known one. Its back-off, if any, stands. */
  add (key: string, host: string, port: number, source: PeerSource): Candidate {
    const known = this.#byKey.get(key)
    if (known !== undefined) {
      known.sources.add(source)
      this.#byKey.delete(key)
      this.#byKey.set(key, known)
      return known
    }
    if (this.#byKey.size >= this.#max) this.#evict()
    const candidate: Candidate = { key, host, port, sources: new Set([source]), failures: 0, retryAt: 0, busy: false }
    this.#byKey.set(key, candidate)
    return candidate
  }

  /**
   * The candidates that may be dialled now, in the order they were heard of (fewest failures first among them
   * would starve retries of a small swarm; order of arrival is fair), skipping those `skip` rejects.
   */
  * ready (now: number, skip?: (c: Candidate) => boolean): Generator<Candidate> {
    for (const c of this.#byKey.values()) {
      if (c.busy || c.retryAt > now || (skip?.(c) ?? false)) continue
      yield c
    }
  }

  /** A dial to it starts (or it connected to us): not offered again until it ends. */
  busy (key: string): void {
    const c = this.#byKey.get(key)
    if (c !== undefined) c.busy = true
  }

  /** Its handshake completed: failures forgotten. */
  connected (key: string): void {
    const c = this.#byKey.get(key)
    if (c === undefined) return
    c.busy = true
    c.failures = 0
    c.retryAt = 0
  }

  /** A dial failed, or the connection ended before its handshake: back off, or give up after maxFailures. */
  failed (key: string, now: number): void {
    const c = this.#byKey.get(key)
    if (c === undefined) return
    c.busy = false
    c.failures++
    c.retryAt = c.failures >= this.#maxFailures ? Infinity : now + Math.min(this.#cap, this.#base * 2 ** (c.failures - 1))
  }

  /**
   * A connection that had completed its handshake ended: the peer may be dialled again, after the base back-off
   * (it may have closed on purpose: it is complete, or it has no room for us), not at once.
   */
  ended (key: string, now: number): void {
    const c = this.#byKey.get(key)
    if (c === undefined) return
    c.busy = false
    c.retryAt = Math.max(c.retryAt, now + this.#base)
  }

  /** Never dial it again (banned). */
  giveUp (key: string): void {
    const c = this.#byKey.get(key)
    if (c === undefined) return
    c.busy = false
    c.retryAt = Infinity
  }

  #evict (): void {
    let victim: Candidate | undefined
    for (const c of this.#byKey.values()) {
      if (c.busy) continue
      if (c.retryAt === Infinity) { victim = c; break }
      victim ??= c
    }
    // Every candidate busy (more connections than candidates cannot happen with a sane cap): forget the oldest.
    victim ??= this.#byKey.values().next().value
    if (victim !== undefined) this.#byKey.delete(victim.key)
  }
}
