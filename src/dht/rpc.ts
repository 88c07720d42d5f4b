/**
 * KRPC over one UDP socket: outgoing queries as transactions (2-byte ids, a timeout each, at most `maxInFlight` at
 * once and `maxQueued` waiting), replies matched to their transaction by id *and* source endpoint, and incoming
 * queries handed to `onQuery` after the per-address rate limit.
 *
 * The socket handler never throws: every datagram is decoded by krpc.ts (which never throws either) inside a
 * try/catch, and a bad one costs only its own drop (or, for a query BEP 5 says to answer so, an error reply, itself
 * rate-limited). Before decoding, a datagram from an address whose budget is spent and to which we have no query
 * outstanding is dropped unread, so a flood costs a Map lookup per packet.
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import { AbortError } from '../errors.js'
import { DHT_MAX_IN_FLIGHT, DHT_MAX_PACKET_BYTES, DHT_MAX_QUEUED, DHT_QUERY_TIMEOUT_MS } from './constants.js'
import { DhtError } from './errors.js'
import {
  decodeMessage, encodeMessage, KRPC_METHOD_UNKNOWN, type KrpcError, type KrpcMessage, type KrpcQuery, type KrpcResponse
} from './krpc.js'
import type { NodeId } from './node-id.js'
import type { AddressRateLimiter } from './rate-limiter.js'

/** A query as the caller gives it: the transaction id and our node id are filled in here. */
export type OutgoingQuery = KrpcQuery extends infer Q ? Q extends KrpcQuery ? Omit<Q, 't' | 'id' | 'y'> : never : never

export interface Endpoint {
  host: string
  port: number
}

export interface RpcCounters {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  queriesIn: number
  queriesOut: number
  responsesIn: number
  timeouts: number
  /** Incoming datagrams dropped: undecodable, unmatched replies, wrong sender. */
  dropped: number
  /** Incoming queries (or pre-decode datagrams) dropped by the per-address rate limit. */
  rateLimited: number
  /** KRPC error replies we sent (203, 204). */
  errorsSent: number
  sendErrors: number
}

export interface RpcOptions {
  socket: Socket
  id: NodeId
  limiter: AddressRateLimiter
  onQuery: (query: KrpcQuery, from: Endpoint) => void
  /** A response or error arrived from `from` (any matched reply), before the caller's promise settles. */
  onReply?: (reply: KrpcResponse, from: Endpoint) => void
  queryTimeoutMs?: number
  maxInFlight?: number
  maxQueued?: number
}

interface Pending {
  host: string
  port: number
  timer: ReturnType<typeof setTimeout>
  resolve: (r: KrpcResponse) => void
  reject: (err: Error) => void
  cleanup: () => void
}

interface Waiter {
  start: () => void
  reject: (err: Error) => void
}

export class KrpcSocket {
  readonly counters: RpcCounters = {
    packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, queriesIn: 0, queriesOut: 0, responsesIn: 0,
    timeouts: 0, dropped: 0, rateLimited: 0, errorsSent: 0, sendErrors: 0
  }

  readonly #socket: Socket
  readonly #id: NodeId
  readonly #limiter: AddressRateLimiter
  readonly #onQuery: RpcOptions['onQuery']
  readonly #onReply: RpcOptions['onReply']
  readonly #timeoutMs: number
  readonly #maxInFlight: number
  readonly #maxQueued: number
  readonly #pending = new Map<number, Pending>()
  /** Outstanding queries per remote IP: their replies pass the pre-decode rate check. */
  readonly #pendingIps = new Map<string, number>()
  readonly #queue: Waiter[] = []
  #nextTid = Math.floor(Math.random() * 0x10000)
  #closed = false

  constructor (options: RpcOptions) {
    this.#socket = options.socket
    this.#id = options.id
    this.#limiter = options.limiter
    this.#onQuery = options.onQuery
    this.#onReply = options.onReply
    this.#timeoutMs = options.queryTimeoutMs ?? DHT_QUERY_TIMEOUT_MS
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? DHT_MAX_IN_FLIGHT)
    this.#maxQueued = Math.max(0, options.maxQueued ?? DHT_MAX_QUEUED)
    this.#socket.on('message', (buf, rinfo) => {
      try {
        this.#onMessage(buf, rinfo)
      } catch {
        this.counters.dropped++ // a bug of ours on one packet must not take the node down
      }
    })
  }

  get inFlight (): number {
    return this.#pending.size
  }

  get queued (): number {
    return this.#queue.length
  }

  /** Send a query and wait for its answer: a KrpcResponse, or DhtError (timeout, remote error, busy, closed). */
  query (to: Endpoint, query: OutgoingQuery, options: { signal?: AbortSignal | undefined, timeoutMs?: number | undefined } = {}): Promise<KrpcResponse> {
    if (this.#closed) return Promise.reject(new DhtError('ERR_DHT_CLOSED', 'The DHT node is closed'))
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(new AbortError())
    if (this.#pending.size < this.#maxInFlight) return this.#send(to, query, options)
    if (this.#queue.length >= this.#maxQueued) return Promise.reject(new DhtError('ERR_DHT_BUSY', `More than ${this.#maxQueued} DHT queries waiting`))
    return new Promise<KrpcResponse>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort)
          this.#send(to, query, options).then(resolve, reject)
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        }
      }
      const onAbort = (): void => {
        const i = this.#queue.indexOf(waiter)
        if (i !== -1) this.#queue.splice(i, 1)
        reject(new AbortError())
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(waiter)
    })
  }

  /** Answer a query (a response or an error). */
  reply (to: Endpoint, message: KrpcResponse | KrpcError): void {
    if (message.y === 'e') this.counters.errorsSent++
    this.#write(encodeMessage(message), to)
  }

  /** Reject every outstanding and queued query with ERR_DHT_CLOSED; later calls fail at once. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    const err = new DhtError('ERR_DHT_CLOSED', 'The DHT node is closed')
    for (const p of [...this.#pending.values()]) {
      p.cleanup()
      p.reject(err)
    }
    this.#pending.clear()
    this.#pendingIps.clear()
    for (const w of this.#queue.splice(0)) w.reject(err)
  }

  #send (to: Endpoint, query: OutgoingQuery, options: { signal?: AbortSignal | undefined, timeoutMs?: number | undefined }): Promise<KrpcResponse> {
    const tid = this.#allocateTid()
    const t = Buffer.from([tid >>> 8, tid & 0xff])
    const message = { ...query, y: 'q', t, id: this.#id } as KrpcMessage
    const signal = options.signal
    return new Promise<KrpcResponse>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#finish(tid)) reject(new AbortError())
      }
      const timer = setTimeout(() => {
        if (this.#finish(tid)) {
          this.counters.timeouts++
          reject(new DhtError('ERR_DHT_TIMEOUT', `No answer from ${to.host}:${to.port} to ${query.q}`))
        }
      }, options.timeoutMs ?? this.#timeoutMs)
      timer.unref()
      const pending: Pending = {
        host: to.host,
        port: to.port,
        timer,
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        }
      }
      this.#pending.set(tid, pending)
      this.#pendingIps.set(to.host, (this.#pendingIps.get(to.host) ?? 0) + 1)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.counters.queriesOut++
      this.#write(encodeMessage(message), to)
    })
  }

  /** Remove a transaction (timer, abort listener, slot); false when it was already gone. Starts a waiting query. */
  #finish (tid: number): boolean {
    const p = this.#pending.get(tid)
    if (p === undefined) return false
    this.#pending.delete(tid)
    const n = (this.#pendingIps.get(p.host) ?? 1) - 1
    if (n <= 0) this.#pendingIps.delete(p.host)
    else this.#pendingIps.set(p.host, n)
    p.cleanup()
    const next = this.#closed ? undefined : this.#queue.shift()
    if (next !== undefined) queueMicrotask(next.start)
    return true
  }

  #allocateTid (): number {
    for (;;) { // at most maxInFlight (< 65,536) ids are taken, so this ends
      this.#nextTid = (this.#nextTid + 1) & 0xffff
      if (!this.#pending.has(this.#nextTid)) return this.#nextTid
    }
  }

  #write (buf: Buffer, to: Endpoint): void {
    if (this.#closed) return
    this.counters.packetsOut++
    this.counters.bytesOut += buf.length
    try {
      this.#socket.send(buf, to.port, to.host, (err) => { if (err != null) this.counters.sendErrors++ })
    } catch {
      this.counters.sendErrors++ // socket closed under us, or a bad address
    }
  }

  #onMessage (buf: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return
    this.counters.packetsIn++
    this.counters.bytesIn += buf.length
    const host = rinfo.address
    if (rinfo.port === 0 || buf.length > DHT_MAX_PACKET_BYTES) {
      this.counters.dropped++
      return
    }
    if (!this.#pendingIps.has(host) && !this.#limiter.allows(host)) {
      this.counters.rateLimited++
      return
    }
    const from: Endpoint = { host, port: rinfo.port }
    const decoded = decodeMessage(buf)
    if (!decoded.ok) {
      if (decoded.y === 'q' && decoded.t !== undefined && decoded.errorCode !== undefined) {
        if (!this.#limiter.take(host)) {
          this.counters.rateLimited++
          return
        }
        this.counters.queriesIn++
        const text = decoded.errorCode === KRPC_METHOD_UNKNOWN ? 'Method Unknown' : `Protocol Error: ${decoded.reason}`
        this.reply(from, { y: 'e', t: decoded.t, code: decoded.errorCode, message: text })
        return
      }
      const p = decoded.t === undefined ? undefined : this.#match(decoded.t, from)
      if (p !== undefined) {
        p.reject(new DhtError('ERR_DHT_BAD_REPLY', `Bad reply from ${host}:${rinfo.port}: ${decoded.reason}`))
        return
      }
      this.counters.dropped++
      return
    }
    const message = decoded.message
    if (message.y === 'q') {
      if (!this.#limiter.take(host)) {
        this.counters.rateLimited++
        return
      }
      this.counters.queriesIn++
      this.#onQuery(message, from)
      return
    }
    const p = this.#match(message.t, from)
    if (p === undefined) {
      this.counters.dropped++
      return
    }
    if (message.y === 'e') {
      p.reject(new DhtError('ERR_DHT_REMOTE', `${host}:${rinfo.port} answered error ${message.code}: ${message.message.slice(0, 80)}`, { krpcCode: message.code }))
      return
    }
    this.counters.responsesIn++
    this.#onReply?.(message, from)
    p.resolve(message)
  }

  /** The transaction `t` names, if it went to `from`; it is finished (removed) when found. */
  #match (t: Buffer, from: Endpoint): Pending | undefined {
    if (t.length !== 2) return undefined
    const tid = t.readUInt16BE(0)
    const p = this.#pending.get(tid)
    // A reply must come from where the query went: anything else is a guess at our transaction ids.
    if (p === undefined || p.host !== from.host || p.port !== from.port) return undefined
    this.#finish(tid)
    return p
  }
}
