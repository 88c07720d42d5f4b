/**
 * Client of the UDP tracker protocol (BEP 15): `udp://host:port` trackers. `announce()` and `scrape()` of
 * announce.ts come here for such URLs.
 *
 * One connected dgram socket per tracker (a "session"): its source port stays the same from request to request, so
 * the connection id the tracker gave it — bound to that address and port — is reused for 1 minute, as BEP 15 allows,
 * and only replies from the tracker's address reach it. A session with nothing to do for UDP_TRACKER_IDLE_MS closes
 * its socket; sockets never keep a process alive (only a request waiting for its answer does).
 *
 * Retransmission follows BEP 15 — a request unanswered after 15 × 2^n seconds is sent again, n counting up to 8, a
 * new connection id asked for when the one held is older than a minute — within one bound for the whole call,
 * `timeoutMs` (default 15 s: a CLI cannot wait BEP 15's hour). Replies are checked: transaction id (others are
 * ignored), action (the one asked, or an error), length. Errors are TrackerError: `ERR_TRACKER_UNREACHABLE` (no
 * answer in time, a refused port, a name that does not resolve), `ERR_TRACKER_FAILURE` (an error reply:
 * TrackerFailureError with the tracker's message), `ERR_TRACKER_REPLY` (a reply that breaks BEP 15); an abort is
 * `ERR_ABORTED`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { AbortError, ProtocolError, TrackerError, ValidationError } from '../errors.js'
import type { AnnounceEventName, AnnounceRequest, AnnounceResult, ScrapeOptions, ScrapeStats } from './announce.js'
import { checkAnnounceRequest, checkInfoHash } from './announce-checks.js'
import { TrackerFailureError } from './tracker-failure.js'
import {
  EVENT_COMPLETED, EVENT_NONE, EVENT_STARTED, EVENT_STOPPED, SCRAPE_MAX_HASHES, decodeReply, encodeRequest,
  type UdpTrackerReply
} from './udp-tracker-messages.js'

/** Default bound of one announce or scrape, retransmissions included. */
export const UDP_TRACKER_TIMEOUT_MS = 15_000
/** BEP 15: retransmit after 15 × 2^n seconds. */
export const UDP_TRACKER_RETRANSMIT_MS = 15_000
/** BEP 15: n grows up to 8 (3,840 s). */
const MAX_RETRANSMIT_EXPONENT = 8
/** BEP 15: "a client can use a connection ID until one minute after it has received it". */
export const UDP_CONNECTION_ID_TTL_MS = 60_000
/** A session's socket is closed after this long without a request (its connection id is stale by then anyway). */
export const UDP_TRACKER_IDLE_MS = 60_000
/** UDP trackers with an open socket at once; past it, the least recently used idle session is closed. */
export const UDP_TRACKER_MAX_SESSIONS = 256
/** Peers taken from one announce reply (a 64 KiB datagram could list ~10,900). */
export const UDP_ANNOUNCE_MAX_PEERS = 1_000

export interface UdpTrackerClientOptions {
  /** Clock for connection id ages, ms; default Date.now. */
  now?: (() => number) | undefined
  /** First retransmission delay (BEP 15: 15 s); later ones double. */
  retransmitMs?: number | undefined
  /** How long a connection id is used after it was received; default 60 s (BEP 15). */
  connectionIdTtlMs?: number | undefined
  /** Idle time after which a session's socket is closed; default 60 s. */
  idleMs?: number | undefined
  /** Sessions (trackers) with an open socket at once; default 256. */
  maxSessions?: number | undefined
}

export interface UdpTrackerAddress {
  /** Host name or IP literal (an IPv6 literal without brackets). */
  host: string
  port: number
}

/** Whether a tracker URL is a UDP one (`udp://`). */
export function isUdpTrackerUrl (url: string): boolean {
  return /^udp:\/\//i.test(url.trim())
}

/** Host and port of `udp://host:port[/path]`; a path (often `/announce`) is ignored. ValidationError otherwise. */
export function parseUdpTrackerUrl (url: string): UdpTrackerAddress {
  let parsed: URL
  try {
    parsed = new URL(url.trim())
  } catch {
    throw new ValidationError(`Invalid tracker URL: ${url}`)
  }
  if (parsed.protocol !== 'udp:') throw new ValidationError(`Invalid tracker URL: ${url} (udp://host:port)`)
  const port = Number(parsed.port)
  if (parsed.hostname === '' || parsed.port === '' || !(port >= 1 && port <= 65535)) {
    throw new ValidationError(`Invalid tracker URL: ${url} (a UDP tracker URL needs a host and a port)`)
  }
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
  return { host: host.toLowerCase(), port }
}

const EVENTS: Record<AnnounceEventName, number> = { started: EVENT_STARTED, completed: EVENT_COMPLETED, stopped: EVENT_STOPPED }

/** BEP 15's `key` is 32 bits: up to 8 hex digits are taken as they are, anything else is hashed. */
function keyNumber (key: string): number {
  if (/^[0-9a-f]{1,8}$/i.test(key)) return parseInt(key, 16) >>> 0
  return createHash('sha1').update(key).digest().readUInt32BE(0)
}

const TIMEOUT = Symbol('timeout')

function unreachable (url: string, err: unknown): TrackerError {
  if (err instanceof TrackerError) return err
  const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
  return new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to reach UDP tracker ${url} (${why})`, { cause: err })
}

function invalidReply (url: string, why: string): TrackerError {
  return new TrackerError('ERR_TRACKER_REPLY', `UDP tracker ${url} sent an invalid reply: ${why}`)
}

interface CallBounds {
  /** Date.now() past which the call fails. */
  deadline: number
  /** The bound as the caller gave it, for the message. */
  timeoutMs: number
  signal: AbortSignal | undefined
}

function bounds (timeoutMs: number | undefined, signal: AbortSignal | undefined): CallBounds {
  const ms = timeoutMs ?? UDP_TRACKER_TIMEOUT_MS
  return { deadline: Date.now() + ms, timeoutMs: ms, signal }
}

interface Waiter {
  /** The URL as the caller gave it, for messages. */
  url: string
  expect: UdpTrackerReply['type']
  resolve: (reply: UdpTrackerReply) => void
  reject: (err: Error) => void
}

/** One tracker: a connected socket, its connection id, the requests waiting for an answer. */
class Session {
  readonly key: string
  readonly url: string
  readonly socket: Socket
  readonly pending = new Map<number, Waiter>()
  /** Resolves once the socket is connected; rejects (TrackerError) when it cannot be. */
  readonly ready: Promise<void>
  readonly ipv6: boolean
  connectionId: Buffer | undefined
  connectionIdAt = 0
  /** Calls using the session right now (waiting or between two packets). */
  busy = 0
  lastUsed = 0
  idleTimer: NodeJS.Timeout | undefined
  closed = false

  /** `target.host` is an IP literal: its family is the socket's, and the announce reply's (BEP 15). */
  constructor (key: string, url: string, target: UdpTrackerAddress, onClose: (session: Session) => void) {
    this.key = key
    this.url = url
    this.ipv6 = isIP(target.host) === 6
    this.socket = createSocket(this.ipv6 ? 'udp6' : 'udp4')
    // Only a request waiting for its answer (its timer) keeps a process alive, never an idle socket.
    this.socket.unref()
    this.socket.on('message', (packet: Buffer) => { this.#onPacket(packet) })
    this.socket.on('error', (err) => {
      this.fail(unreachable(url, err))
      onClose(this)
    })
    this.ready = new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(unreachable(url, err)) }
      this.socket.once('error', onError)
      // Connected: the kernel picks the source address, keeps the source port, and lets only the tracker answer.
      this.socket.connect(target.port, target.host, () => {
        this.socket.off('error', onError)
        resolve()
      })
    })
  }

  /** A random transaction id (BEP 15) no request of this session is waiting on. */
  transactionId (): number {
    // A handful of requests wait at once: a second draw is already a one-in-a-billion event.
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = randomBytes(4).readUInt32BE(0)
      if (!this.pending.has(id)) return id
    }
    throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Too many requests waiting on UDP tracker ${this.url}`)
  }

  #onPacket (packet: Buffer): void {
    // BEP 15: at least 8 bytes (action, transaction id); an unknown transaction id is not ours (or too late).
    if (packet.length < 8) return
    const waiter = this.pending.get(packet.readUInt32BE(4))
    if (waiter === undefined) return
    let reply: UdpTrackerReply
    try {
      reply = decodeReply(packet, { ipv6: this.ipv6, maxPeers: UDP_ANNOUNCE_MAX_PEERS })
    } catch (err) {
      waiter.reject(invalidReply(waiter.url, (err as ProtocolError).message))
      return
    }
    if (reply.type !== waiter.expect && reply.type !== 'error') {
      waiter.reject(invalidReply(waiter.url, `${reply.type} reply to a ${waiter.expect} request`))
      return
    }
    waiter.resolve(reply)
  }

  /** Rejects every waiting request and closes the socket. */
  fail (err: Error): void {
    for (const waiter of [...this.pending.values()]) waiter.reject(err)
    this.close()
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.idleTimer)
    try {
      this.socket.close()
    } catch {
      // Already closed by node (a failed connect): nothing left to release.
    }
  }
}

export class UdpTrackerClient {
  readonly #now: () => number
  readonly #retransmitMs: number
  readonly #ttlMs: number
  readonly #idleMs: number
  readonly #maxSessions: number
  readonly #sessions = new Map<string, Session>()
  /** BEP 15 `key` when the request names none: one per client, so the tracker can tell our announces apart. */
  readonly #key = randomBytes(4).readUInt32BE(0)

  constructor (options: UdpTrackerClientOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#retransmitMs = options.retransmitMs ?? UDP_TRACKER_RETRANSMIT_MS
    this.#ttlMs = options.connectionIdTtlMs ?? UDP_CONNECTION_ID_TTL_MS
    this.#idleMs = options.idleMs ?? UDP_TRACKER_IDLE_MS
    this.#maxSessions = options.maxSessions ?? UDP_TRACKER_MAX_SESSIONS
  }

  /** Trackers with an open socket. */
  get sessionCount (): number {
    return this.#sessions.size
  }

  /** Announces to a `udp://` tracker (BEP 15). The reply's peers are of the tracker's address family. */
  async announce (request: AnnounceRequest): Promise<AnnounceResult> {
    checkAnnounceRequest(request)
    const key = request.key === undefined ? this.#key : keyNumber(request.key)
    const reply = await this.#call(request.url, 'announce', (connectionId, transactionId) => encodeRequest({
      type: 'announce',
      connectionId,
      transactionId,
      infoHash: request.infoHash.toLowerCase(),
      peerId: Buffer.from(request.peerId).toString('latin1'),
      downloaded: request.downloaded,
      left: request.left,
      uploaded: request.uploaded,
      event: request.event === undefined ? EVENT_NONE : EVENTS[request.event],
      // BEP 15: 0 = the packet's source address (the only value trackers honour).
      ip: 0,
      key,
      numWant: request.numwant === undefined ? -1 : Math.min(request.numwant, 0x7fffffff),
      port: request.port
    }), bounds(request.timeoutMs, request.signal))
    if (reply.type !== 'announce') throw new Error('unreachable')
    return { interval: reply.interval, complete: reply.seeders, incomplete: reply.leechers, peers: reply.peers }
  }

  /**
   * Scrapes a `udp://` tracker for the counts of some info hashes (40 hex each), SCRAPE_MAX_HASHES per packet. BEP 15
   * answers every hash, so every one asked is in the map (a swarm the tracker does not know counts zeros).
   */
  async scrape (url: string, infoHashes: readonly string[], options: ScrapeOptions = {}): Promise<Map<string, ScrapeStats>> {
    if (infoHashes.length === 0) throw new ValidationError('Scrape needs at least one info hash')
    for (const h of infoHashes) checkInfoHash(h)
    const hashes = [...new Set(infoHashes.map((h) => h.toLowerCase()))]
    // One bound for the whole scrape, however many packets it takes.
    const callBounds = bounds(options.timeoutMs, options.signal)
    const stats = new Map<string, ScrapeStats>()
    for (let start = 0; start < hashes.length; start += SCRAPE_MAX_HASHES) {
      const batch = hashes.slice(start, start + SCRAPE_MAX_HASHES)
      const reply = await this.#call(url, 'scrape', (connectionId, transactionId) => encodeRequest({
        type: 'scrape', connectionId, transactionId, infoHashes: batch
      }), callBounds)
      if (reply.type !== 'scrape') throw new Error('unreachable')
      if (reply.entries.length < batch.length) {
        throw invalidReply(url, `${reply.entries.length} scrape entries for ${batch.length} info hashes`)
      }
      batch.forEach((hash, i) => {
        const e = reply.entries[i] as { seeders: number, completed: number, leechers: number }
        stats.set(hash, { complete: e.seeders, incomplete: e.leechers, downloaded: e.completed })
      })
    }
    return stats
  }

  /** Closes every socket; requests waiting fail with ERR_ABORTED. */
  close (): void {
    for (const session of this.#sessions.values()) session.fail(new AbortError('The UDP tracker client was closed'))
    this.#sessions.clear()
  }

  /**
   * One request with BEP 15's connect and retransmission, bounded by `timeoutMs`. `packet` builds the request for a
   * connection id and a transaction id (a new one for every send: a late answer to an earlier send is then ignored).
   */
  async #call (
    url: string,
    expect: 'announce' | 'scrape',
    packet: (connectionId: Buffer, transactionId: number) => Buffer,
    { deadline, timeoutMs, signal }: CallBounds
  ): Promise<UdpTrackerReply> {
    if (signal?.aborted === true) throw new AbortError()
    const session = await this.#session(url, signal)
    session.busy++
    clearTimeout(session.idleTimer)
    try {
      let n = 0
      // An error answering an id held from an earlier call may mean the tracker restarted (a new secret): such an
      // id is dropped and the request tried once more with a fresh one.
      let retriedStaleId = false
      for (;;) {
        let fresh = false
        if (session.connectionId === undefined || this.#now() - session.connectionIdAt >= this.#ttlMs) {
          session.connectionId = undefined
          const wait = this.#wait(n, deadline, url, timeoutMs)
          const reply = await this.#roundTrip(session, url, 'connect', (tid) => encodeRequest({ type: 'connect', transactionId: tid }), wait.ms, signal)
          if (reply === TIMEOUT) {
            if (wait.last) throw this.#timedOut(url, timeoutMs)
            n = Math.min(n + 1, MAX_RETRANSMIT_EXPONENT)
            continue
          }
          if (reply.type === 'error') throw new TrackerFailureError(url, reply.message)
          if (reply.type !== 'connect') throw new Error('unreachable')
          session.connectionId = reply.connectionId
          session.connectionIdAt = this.#now()
          fresh = true
        }
        const connectionId = session.connectionId
        const wait = this.#wait(n, deadline, url, timeoutMs)
        const reply = await this.#roundTrip(session, url, expect, (tid) => packet(connectionId, tid), wait.ms, signal)
        if (reply === TIMEOUT) {
          if (wait.last) throw this.#timedOut(url, timeoutMs)
          n = Math.min(n + 1, MAX_RETRANSMIT_EXPONENT)
          continue
        }
        if (reply.type === 'error') {
          if (!fresh && !retriedStaleId) {
            retriedStaleId = true
            if (session.connectionId === connectionId) session.connectionId = undefined
            continue
          }
          throw new TrackerFailureError(url, reply.message)
        }
        return reply
      }
    } finally {
      session.busy--
      session.lastUsed = Date.now()
      this.#idle(session)
    }
  }

  /**
   * How long to wait for the answer to the next send: 15 × 2^n s (BEP 15), cut at the deadline (`last`: no send
   * after this one).
   */
  #wait (n: number, deadline: number, url: string, timeoutMs: number): { ms: number, last: boolean } {
    const left = deadline - Date.now()
    if (left <= 0) throw this.#timedOut(url, timeoutMs)
    const ms = this.#retransmitMs * 2 ** n
    return ms < left ? { ms, last: false } : { ms: left, last: true }
  }

  #timedOut (url: string, timeoutMs: number): TrackerError {
    return new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to reach UDP tracker ${url} (no answer within ${timeoutMs} ms)`)
  }

  /** Sends one request and waits `waitMs` for its answer: the reply, or TIMEOUT. */
  async #roundTrip (
    session: Session, url: string, expect: UdpTrackerReply['type'], packet: (transactionId: number) => Buffer, waitMs: number,
    signal: AbortSignal | undefined
  ): Promise<UdpTrackerReply | typeof TIMEOUT> {
    if (session.closed) throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to reach UDP tracker ${url} (socket closed)`)
    const transactionId = session.transactionId()
    const bytes = packet(transactionId)
    return await new Promise<UdpTrackerReply | typeof TIMEOUT>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        session.pending.delete(transactionId)
      }
      const onAbort = (): void => { done(); reject(new AbortError()) }
      const timer = setTimeout(() => { done(); resolve(TIMEOUT) }, waitMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      session.pending.set(transactionId, {
        url,
        expect,
        resolve: (reply) => { done(); resolve(reply) },
        reject: (err) => { done(); reject(err) }
      })
      session.socket.send(bytes, (err) => {
        if (err !== null && err !== undefined && session.pending.has(transactionId)) {
          done()
          reject(unreachable(url, err))
        }
      })
    })
  }

  /** The session of a tracker, made (and connected) if there is none. A name is resolved to its first address. */
  async #session (url: string, signal: AbortSignal | undefined): Promise<Session> {
    const target = parseUdpTrackerUrl(url)
    const key = `${target.host}|${target.port}`
    let session = this.#sessions.get(key)
    if (session === undefined || session.closed) {
      let host = target.host
      if (isIP(host) === 0) {
        try {
          host = (await lookup(host)).address
        } catch (err) {
          throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Failed to reach UDP tracker ${url} (cannot resolve ${target.host})`, { cause: err })
        }
      }
      // Another call may have opened it while the name was being resolved.
      session = this.#sessions.get(key)
      if (session === undefined || session.closed) {
        this.#makeRoom()
        session = new Session(key, url, { host, port: target.port }, (s) => { this.#drop(s) })
        this.#sessions.set(key, session)
      }
    }
    try {
      await session.ready
    } catch (err) {
      this.#drop(session)
      throw unreachable(url, err)
    }
    if (signal?.aborted === true) throw new AbortError()
    return session
  }

  #drop (session: Session): void {
    session.close()
    if (this.#sessions.get(session.key) === session) this.#sessions.delete(session.key)
  }

  /** Closes the least recently used idle session when the bound is reached; refuses when none is idle. */
  #makeRoom (): void {
    if (this.#sessions.size < this.#maxSessions) return
    let oldest: Session | undefined
    for (const s of this.#sessions.values()) {
      if (s.busy === 0 && (oldest === undefined || s.lastUsed < oldest.lastUsed)) oldest = s
    }
    if (oldest === undefined) throw new TrackerError('ERR_TRACKER_UNREACHABLE', `Too many UDP trackers in use at once (${this.#maxSessions})`)
    this.#drop(oldest)
  }

  #idle (session: Session): void {
    if (session.busy > 0 || session.closed) return
    clearTimeout(session.idleTimer)
    session.idleTimer = setTimeout(() => { this.#drop(session) }, this.#idleMs)
    session.idleTimer.unref()
  }
}

let shared: UdpTrackerClient | undefined

/** The client `announce()` and `scrape()` use for `udp://` trackers: one per process. */
export function udpTrackerClient (): UdpTrackerClient {
  shared ??= new UdpTrackerClient()
  return shared
}
