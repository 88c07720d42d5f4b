/**
 * One Mainline DHT node (BEP 5) on one UDP socket: answers ping, find_node, get_peers and announce_peer, keeps a
 * routing table and a peer store, and runs iterative lookups for the session (peers of an info hash, announces).
 *
 * Single-stack, as BEP 32 describes: a node bound to an IPv4 address takes part in the IPv4 DHT (`nodes`, 6-byte
 * values), one bound to an IPv6 address in the IPv6 DHT (`nodes6`, 18-byte values); a dual-stack session runs two,
 * with the same node id. Nothing here contacts any node the caller did not name: bootstrap nodes come from options
 * (and the saved table), never from a built-in list.
 *
 * Lifecycle: `await Dht.start(options)` binds the socket and starts the bootstrap in the background; `ready()`
 * resolves when the bootstrap lookup ended (or DHT_BOOTSTRAP_TIMEOUT_MS passed); lookups started before then wait
 * for it. `close()` is idempotent: it aborts lookups, fails outstanding queries with ERR_DHT_CLOSED, stops the
 * timers and closes the socket.
 */
import { createSocket, type Socket } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns/promises'
import { EventEmitter, setMaxListeners } from 'node:events'
import { isIP } from 'node:net'
import { AbortError, listenError, ValidationError } from '../errors.js'
import {
  DHT_ALPHA, DHT_BOOTSTRAP_REFRESHES, DHT_BOOTSTRAP_TIMEOUT_MS, DHT_BUCKET_REFRESH_MS, DHT_K, DHT_LOOKUP_TIMEOUT_MS,
  DHT_MAINTENANCE_INTERVAL_MS, DHT_MAINTENANCE_PINGS, DHT_MAINTENANCE_REFRESHES, DHT_MAX_ADD_NODE_PINGS,
  DHT_MAX_BOOTSTRAP, DHT_MAX_IMPORT, DHT_MAX_LOOKUPS, DHT_MAX_QUEUED, DHT_MAX_VALUES_PER_REPLY, DHT_QUERY_TIMEOUT_MS,
  DHT_SLOW_QUERY_MS
} from './constants.js'
import { DhtError } from './errors.js'
import { KRPC_PROTOCOL_ERROR, type Contact, type KrpcQuery, type KrpcResponse, type PeerAddress } from './krpc.js'
import { iterativeLookup, type LookupResult, type LookupStats } from './lookup.js'
import {
  bep42NodeId, isBep42Compliant, isLocalAddress, isNodeId, randomIdAtPrefix, randomNodeId, type NodeId
} from './node-id.js'
import { PeerStore, type PeerStoreOptions } from './peer-store.js'
import { AddressRateLimiter, type RateLimiterOptions } from './rate-limiter.js'
import { endpointKey, RoutingTable, type TableNode } from './routing-table.js'
import { KrpcSocket, type Endpoint, type OutgoingQuery, type RpcCounters } from './rpc.js'
import { TokenIssuer } from './tokens.js'

/** The routing table in a JSON-serialisable form, for the session to keep in its data directory. */
export interface DhtTableSnapshot {
  version: 1
  /** Our node id, 40 hex digits: reused at start so the node keeps its place in the DHT. */
  id: string
  family: 4 | 6
  /** Members, good ones first. */
  nodes: Array<{ id: string, host: string, port: number }>
}

export interface DhtOptions {
  /** UDP port (BEP 5: the BitTorrent port number); default 0 (any). */
  port?: number
  /** Address to bind; an IPv6 literal makes an IPv6 DHT node (BEP 32). Default 0.0.0.0. */
  host?: string
  /** Nodes to join through: "host:port", "[v6]:port" or endpoints. No default: the caller names them. */
  bootstrap?: ReadonlyArray<string | Endpoint>
  /** Our node id; default: the saved table's, else a BEP 42 id for `externalIp` (or a public `host`), else random. */
  nodeId?: Uint8Array
  /** A table saved by exportTable(): its nodes are asked first at start, its id reused. */
  table?: DhtTableSnapshot
  /** Our address as others see it, when known: the node id is derived from it (BEP 42). */
  externalIp?: string
  /** BEP 42 enforcement: remote nodes on public addresses whose id does not match it stay out of the table and are not announced to. Default false (as libtorrent). */
  enforceNodeIds?: boolean
  /** At most one node per /24 (IPv6: /64) per bucket, local addresses exempt. Default true. */
  restrictIps?: boolean
  onLog?: (message: string) => void
  k?: number
  alpha?: number
  queryTimeoutMs?: number
  slowQueryMs?: number
  lookupTimeoutMs?: number
  bootstrapTimeoutMs?: number
  maintenanceIntervalMs?: number
  maxInFlight?: number
  maxQueued?: number
  maxLookups?: number
  rateLimit?: Omit<RateLimiterOptions, 'now'>
  peerStore?: Omit<PeerStoreOptions, 'now'>
  /** Host names of bootstrap nodes are resolved with this; default dns.lookup. */
  resolve?: (host: string, family: 4 | 6) => Promise<string>
  /** Clock for the table, tokens, store and rate limits; default Date.now. */
  now?: () => number
}

export interface DhtLookupOptions {
  signal?: AbortSignal | undefined
  /** Called once per peer found, as found. */
  onPeer?: (peer: PeerAddress) => void
}

export interface DhtAnnounceOptions extends DhtLookupOptions {
  /** BEP 5 implied_port: the announced port is the DHT packet's source port. */
  impliedPort?: boolean
}

export interface DhtAnnounceResult {
  /** Peers the get_peers lookup found on the way. */
  peers: PeerAddress[]
  /** Nodes that accepted our announce_peer. */
  announced: number
  /** Nodes we sent announce_peer to (the closest that gave a token). */
  attempted: number
  stats: LookupStats
}

export interface DhtStats extends RpcCounters {
  id: string
  address: Endpoint & { family: 4 | 6 }
  nodes: number
  goodNodes: number
  buckets: number
  replacements: number
  infoHashes: number
  storedPeers: number
  inFlight: number
  queued: number
  lookups: number
  rateLimitTable: number
  /** The address most nodes told us they see us at (BEP 42 `ip`), if any did. */
  externalIp?: string
}

export interface DhtPeerEvent {
  infoHash: Buffer
  peer: PeerAddress
}

export interface DhtEvents {
  /** A peer found by a lookup of ours (source 'dht' for the torrent's candidate list). */
  peer: [DhtPeerEvent]
  /** Another node announced a peer to us. */
  announce: [DhtPeerEvent]
}

/** "host:port" or "[v6]:port" as an endpoint; ValidationError otherwise (for --dht-bootstrap). */
export function parseDhtEndpoint (text: string): Endpoint {
  const s = text.trim()
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(s)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !(port >= 1 && port <= 65535)) throw new ValidationError(`Invalid DHT node "${text}" (HOST:PORT or [IPv6]:PORT)`)
  return { host: m[1] as string, port }
}

class Slots {
  #free: number
  readonly #waiting: Array<() => void> = []
  constructor (max: number, readonly maxWaiting: number) { this.#free = max }
  async acquire (signal?: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--
      return
    }
    if (this.#waiting.length >= this.maxWaiting) throw new DhtError('ERR_DHT_BUSY', 'Too many DHT lookups waiting')
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(go)
        if (i !== -1) this.#waiting.splice(i, 1)
        reject(new AbortError())
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(go)
    })
  }

  release (): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#free++
  }
}

export class Dht {
  readonly id: NodeId
  readonly family: 4 | 6
  readonly events = new EventEmitter<DhtEvents>()
  readonly #socket: Socket
  readonly #rpc: KrpcSocket
  readonly #table: RoutingTable
  readonly #store: PeerStore
  readonly #tokens: TokenIssuer
  readonly #limiter: AddressRateLimiter
  readonly #o: DhtOptions
  readonly #k: number
  readonly #enforce: boolean
  readonly #lookups: Slots
  readonly #closing = new AbortController()
  readonly #pinging = new Set<string>()
  readonly #ipVotes = new Map<string, number>()
  readonly #address: Endpoint
  readonly #seeds: Contact[]
  #running = 0
  #maintenance: ReturnType<typeof setInterval> | undefined
  #ready: Promise<void> = Promise.resolve()
  #closed: Promise<void> | undefined

  /** Bind the UDP socket and start joining the DHT (in the background: see ready()). */
  static async start (options: DhtOptions = {}): Promise<Dht> {
    const host = options.host ?? '0.0.0.0'
    const port = options.port ?? 0
    const family = isIP(host)
    if (family === 0) throw new ValidationError(`Invalid DHT address "${host}" (an IP literal)`)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValidationError(`Invalid DHT port ${port}`)
    if (options.nodeId !== undefined && !isNodeId(options.nodeId)) throw new ValidationError('A DHT node id has 20 bytes')
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close()
        reject(listenError(err, host, port))
      }
      socket.once('error', onError)
      socket.bind({ port, address: host, exclusive: true }, () => {
        socket.off('error', onError)
        resolve()
      })
    })
    const dht = new Dht(socket, family as 4 | 6, options)
    dht.#startBootstrap()
    return dht
  }

  private constructor (socket: Socket, family: 4 | 6, options: DhtOptions) {
    this.#o = options
    this.family = family
    this.#socket = socket
    this.#k = options.k ?? DHT_K
    this.#enforce = options.enforceNodeIds ?? false
    const now = options.now ?? Date.now
    const bound = socket.address()
    this.#address = { host: bound.address, port: bound.port }
    this.id = chooseId(options)
    this.#table = new RoutingTable({ id: this.id, k: this.#k, restrictIps: options.restrictIps ?? true, now })
    this.#store = new PeerStore({ ...options.peerStore, now })
    this.#tokens = new TokenIssuer({ now })
    this.#limiter = new AddressRateLimiter({ ...options.rateLimit, now })
    this.#lookups = new Slots(options.maxLookups ?? DHT_MAX_LOOKUPS, DHT_MAX_QUEUED)
    this.#seeds = importSeeds(options.table, family)
    // Every query in flight listens on it (bounded by maxInFlight and the queue), so the default warning at 10 is noise.
    setMaxListeners(0, this.#closing.signal)
    socket.on('error', (err) => { this.#log(`socket error: ${err.message}`) })
    this.#rpc = new KrpcSocket({
      socket,
      id: this.id,
      limiter: this.#limiter,
      queryTimeoutMs: options.queryTimeoutMs ?? DHT_QUERY_TIMEOUT_MS,
      ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
      ...(options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued }),
      onQuery: (q, from) => { this.#onQuery(q, from) }
    })
    const interval = options.maintenanceIntervalMs ?? DHT_MAINTENANCE_INTERVAL_MS
    this.#maintenance = setInterval(() => { this.#maintain() }, interval)
    this.#maintenance.unref()
  }

  /** The bound address. */
  address (): Endpoint & { family: 4 | 6 } {
    return { ...this.#address, family: this.family }
  }

  /** Resolves when the bootstrap has ended (successfully or not); never rejects. */
  ready (): Promise<void> {
    return this.#ready
  }

  /**
   * Find peers of an info hash (a get_peers lookup). Peers are reported as found, through `onPeer` and the `peer`
   * event, and all of them in the result, with the K closest nodes and their tokens.
   */
  async lookup (infoHash: Uint8Array, options: DhtLookupOptions = {}): Promise<LookupResult> {
    const hash = checkHash(infoHash)
    const report = (peer: PeerAddress): void => {
      options.onPeer?.(peer)
      this.events.emit('peer', { infoHash: hash, peer })
    }
    // Peers announced to us count too (we may be among the closest nodes ourselves).
    const local = this.#store.get(hash, DHT_MAX_VALUES_PER_REPLY, this.family)
    const result = await this.#lookup(hash, 'get_peers', options.signal, report, local)
    return result
  }

  /** Find the K nodes closest to `target` (a find_node lookup). */
  async findNode (target: Uint8Array, options: { signal?: AbortSignal | undefined } = {}): Promise<LookupResult> {
    return await this.#lookup(checkHash(target), 'find_node', options.signal)
  }

  /** Announce that we have `infoHash` on TCP `port`: a get_peers lookup, then announce_peer to the closest nodes with their tokens. */
  async announce (infoHash: Uint8Array, port: number, options: DhtAnnounceOptions = {}): Promise<DhtAnnounceResult> {
    const hash = checkHash(infoHash)
    const implied = options.impliedPort === true
    if (!implied && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new ValidationError(`Invalid port ${port}`)
    const result = await this.lookup(hash, options)
    const targets = result.closest.filter((c) => c.token !== undefined)
    const acks = await Promise.allSettled(targets.map(async (c) => {
      await this.#query(c, { q: 'announce_peer', infoHash: hash, port: implied ? 0 : port, impliedPort: implied, token: c.token as Buffer }, options.signal, c.id)
    }))
    if (options.signal?.aborted === true) throw new AbortError()
    const announced = acks.filter((a) => a.status === 'fulfilled').length
    return { peers: result.peers, announced, attempted: targets.length, stats: result.stats }
  }

  /** Ping a node; resolves with its contact (it also enters the routing table). */
  async ping (host: string, port: number, options: { signal?: AbortSignal | undefined } = {}): Promise<Contact> {
    const reply = await this.#query({ host, port }, { q: 'ping' }, options.signal)
    return { id: reply.id, host, port }
  }

  /**
   * A node heard of elsewhere (BEP 5: the PORT message of a peer): it is pinged, and enters the table if it answers.
   * Fire and forget; at most DHT_MAX_ADD_NODE_PINGS such pings at once, more are dropped.
   */
  addNode (host: string, port: number): void {
    if (isIP(host) !== this.family || !(Number.isInteger(port) && port >= 1 && port <= 65535)) return
    this.#backgroundPing({ host, port })
  }

  /** The routing table in serialisable form (good nodes first). */
  exportTable (): DhtTableSnapshot {
    const nodes = this.#table.nodes()
    nodes.sort((a, b) => Number(this.#table.isGood(b)) - Number(this.#table.isGood(a)) || b.lastSeen - a.lastSeen)
    return {
      version: 1,
      id: this.id.toString('hex'),
      family: this.family,
      nodes: nodes.map((n) => ({ id: n.id.toString('hex'), host: n.host, port: n.port }))
    }
  }

  stats (): DhtStats {
    let best: string | undefined
    let votes = 0
    for (const [ip, n] of this.#ipVotes) if (n > votes) { best = ip; votes = n }
    const nodes = this.#table.nodes()
    return {
      ...this.#rpc.counters,
      id: this.id.toString('hex'),
      address: this.address(),
      nodes: nodes.length,
      goodNodes: nodes.filter((n) => this.#table.isGood(n)).length,
      buckets: this.#table.bucketCount,
      replacements: this.#table.replacementCount,
      infoHashes: this.#store.infoHashes,
      storedPeers: this.#store.peers,
      inFlight: this.#rpc.inFlight,
      queued: this.#rpc.queued,
      lookups: this.#running,
      rateLimitTable: this.#limiter.size,
      ...(best === undefined ? {} : { externalIp: best })
    }
  }

  /** The routing table's closest members to `target` (for tests and for a torrent file's `nodes`). */
  closestNodes (target: Uint8Array, count = this.#k): Contact[] {
    return this.#table.closest(target, count).map((n) => ({ id: n.id, host: n.host, port: n.port }))
  }

  /** Stop: lookups aborted, queries failed with ERR_DHT_CLOSED, timers stopped, socket closed. Idempotent. */
  close (): Promise<void> {
    if (this.#closed !== undefined) return this.#closed
    this.#rpc.close() // first, so queries in flight fail with ERR_DHT_CLOSED rather than as aborted
    this.#closing.abort()
    clearInterval(this.#maintenance)
    this.#closed = new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => { resolve() })
      } catch {
        resolve()
      }
    })
    return this.#closed
  }

  get closed (): boolean {
    return this.#closed !== undefined
  }

  #log (message: string): void {
    try {
      this.#o.onLog?.(`dht: ${message}`)
    } catch { /* the logger's problem */ }
  }

  /** Whether a remote node may enter the table and count in lookups (BEP 42 when enforced; local addresses exempt). */
  #compliant (contact: Contact): boolean {
    return !this.#enforce || isLocalAddress(contact.host) || isBep42Compliant(contact.id, contact.host)
  }

  #accept (contact: Contact): boolean {
    if (contact.id.equals(this.id)) return false
    if (isIP(contact.host) !== this.family) return false
    return !(contact.port === this.#address.port && contact.host === this.#address.host)
  }

  #heard (contact: Contact, kind: 'response' | 'query'): void {
    if (!this.#accept(contact) || !this.#compliant(contact)) return
    if (this.#table.heardFrom(contact, kind) === 'replacement') {
      // BEP 5: the bucket is full; ping its least recently seen questionable member, whose place this one may take.
      const stale = this.#table.questionableIn(contact.id, (n) => this.#pinging.has(endpointKey(n.host, n.port)))
      if (stale !== undefined) this.#backgroundPing(stale, stale.id)
    }
  }

  /** One query with the table kept up to date: an answer is a response from that node, a timeout a failure. */
  async #query (to: Endpoint, query: OutgoingQuery, signal?: AbortSignal, knownId?: NodeId): Promise<KrpcResponse> {
    const combined = signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal])
    try {
      const reply = await this.#rpc.query(to, query, { signal: combined })
      if (knownId !== undefined && !reply.id.equals(knownId) && this.#isMemberAt(knownId, to)) {
        // Another node now answers at that endpoint: the old one is gone.
        this.#table.failed(knownId)
      }
      this.#heard({ id: reply.id, host: to.host, port: to.port }, 'response')
      if (reply.ip !== undefined) this.#vote(reply.ip.ip)
      return reply
    } catch (err) {
      const code = (err as { code?: string }).code
      if (knownId !== undefined && (code === 'ERR_DHT_TIMEOUT' || code === 'ERR_DHT_BAD_REPLY') && this.#isMemberAt(knownId, to)) {
        this.#table.failed(knownId)
      }
      if (code === 'ERR_ABORTED' && this.#closing.signal.aborted && !isAborted(signal)) throw new DhtError('ERR_DHT_CLOSED', 'The DHT node is closed')
      throw err
    }
  }

  /**
   * Whether the table holds `id` at that endpoint. Only then does a failure there count against it: a `nodes` list may
   * pair a member's id with someone else's (or a dead) address, and that must not cost the real member its place.
   */
  #isMemberAt (id: NodeId, to: Endpoint): boolean {
    const m = this.#table.get(id)
    return m !== undefined && m.host === to.host && m.port === to.port
  }

  #vote (ip: string): void {
    if (this.#ipVotes.has(ip) || this.#ipVotes.size < 16) this.#ipVotes.set(ip, (this.#ipVotes.get(ip) ?? 0) + 1)
  }

  #backgroundPing (to: Endpoint, id?: NodeId): void {
    const key = endpointKey(to.host, to.port)
    if (this.#closed !== undefined || this.#pinging.has(key) || this.#pinging.size >= DHT_MAX_ADD_NODE_PINGS) return
    this.#pinging.add(key)
    this.#query(to, { q: 'ping' }, undefined, id).catch(() => {}).finally(() => { this.#pinging.delete(key) })
  }

  async #lookup (target: Buffer, method: 'find_node' | 'get_peers', signal?: AbortSignal, onPeer?: (p: PeerAddress) => void, local: PeerAddress[] = []): Promise<LookupResult> {
    if (this.#closed !== undefined) throw new DhtError('ERR_DHT_CLOSED', 'The DHT node is closed')
    if (signal?.aborted === true) throw new AbortError()
    await raceAbort(this.#ready, signal)
    const combined = signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal])
    await this.#lookups.acquire(combined)
    this.#running++
    try {
      for (const p of local) onPeer?.(p)
      const seeds: Array<Contact | Endpoint> = this.#table.closest(target, this.#k * 2)
      if (seeds.length < this.#k) seeds.push(...this.#seeds, ...await this.#bootstrapEndpoints())
      const result = await this.#runLookup(target, method, seeds, combined, onPeer)
      if (local.length > 0) {
        const seen = new Set(result.peers.map((p) => endpointKey(p.ip, p.port)))
        for (const p of local) if (!seen.has(endpointKey(p.ip, p.port))) result.peers.unshift(p)
      }
      return result
    } catch (err) {
      if (this.#closing.signal.aborted && !isAborted(signal)) throw new DhtError('ERR_DHT_CLOSED', 'The DHT node is closed')
      throw err
    } finally {
      this.#running--
      this.#lookups.release()
    }
  }

  #runLookup (target: Buffer, method: 'find_node' | 'get_peers', seeds: ReadonlyArray<Contact | Endpoint>, signal: AbortSignal, onPeer?: (p: PeerAddress) => void): Promise<LookupResult> {
    const want = this.family === 4 ? undefined : ['n6' as const]
    const query: OutgoingQuery = method === 'find_node'
      ? { q: 'find_node', target, ...(want === undefined ? {} : { want }) }
      : { q: 'get_peers', infoHash: target, ...(want === undefined ? {} : { want }) }
    return iterativeLookup({
      target,
      seeds,
      family: this.family,
      query: (to, id, sig) => this.#query(to, query, sig, id),
      accept: (c) => this.#accept(c),
      counts: (c) => this.#compliant(c),
      ...(onPeer === undefined ? {} : { onPeer }),
      signal,
      k: this.#k,
      alpha: this.#o.alpha ?? DHT_ALPHA,
      slowMs: this.#o.slowQueryMs ?? DHT_SLOW_QUERY_MS,
      timeoutMs: this.#o.lookupTimeoutMs ?? DHT_LOOKUP_TIMEOUT_MS
    })
  }

  #startBootstrap (): void {
    const bootstrap = (async () => {
      const bare = await this.#bootstrapEndpoints()
      if (this.#seeds.length === 0 && bare.length === 0) {
        this.#log('no bootstrap nodes and no saved table: waiting to be contacted')
        return
      }
      // The saved table's nodes are pinged too (the best first, a bounded number), so a restart gets its table back
      // rather than only the nodes one lookup happens to ask.
      const pings = Promise.allSettled(this.#seeds.slice(0, DHT_MAX_ADD_NODE_PINGS).map(async (s) => await this.#query(s, { q: 'ping' }, this.#closing.signal)))
      const first = await this.#runLookup(this.id, 'find_node', [...this.#seeds, ...bare], this.#closing.signal)
      await pings
      // Fill the far buckets too (BEP 5: refresh): a lookup for a random id sharing 0, 1, 2... bits with ours, where
      // the network is largest, unless that bucket is already full. Judged by prefix, not by the table's current
      // shape: a self lookup that happened to end after K answers has not split the table even once.
      const shape = this.#table.shape()
      const sparse = Array.from({ length: DHT_BOOTSTRAP_REFRESHES }, (_, i) => ({ i }))
        .filter(({ i }) => i >= shape.length - 1 || (shape[i]?.nodes ?? 0) < this.#k)
      await Promise.allSettled(sparse.map(async ({ i }) => {
        this.#table.touchBucket(i)
        await this.#runLookup(randomIdAtPrefix(this.id, i), 'find_node', this.#table.closest(randomIdAtPrefix(this.id, i), this.#k * 2), this.#closing.signal)
      }))
      this.#log(`bootstrapped: ${this.#table.size} nodes in ${this.#table.bucketCount} buckets (self lookup ${first.stats.queries} queries, ${first.stats.rounds} rounds)`)
    })().catch((err: unknown) => {
      if (!this.#closing.signal.aborted) this.#log(`bootstrap failed: ${(err as Error).message}`)
    })
    const limit = this.#o.bootstrapTimeoutMs ?? DHT_BOOTSTRAP_TIMEOUT_MS
    this.#ready = Promise.race([bootstrap, new Promise<void>((resolve) => { setTimeout(resolve, limit).unref() })])
  }

  /** The configured bootstrap nodes as endpoints of our family (host names resolved; failures logged and skipped). */
  async #bootstrapEndpoints (): Promise<Endpoint[]> {
    const out: Endpoint[] = []
    for (const entry of (this.#o.bootstrap ?? []).slice(0, DHT_MAX_BOOTSTRAP)) {
      try {
        const ep = typeof entry === 'string' ? parseDhtEndpoint(entry) : entry
        if (isIP(ep.host) !== 0) {
          if (isIP(ep.host) === this.family) out.push(ep)
          continue
        }
        const resolve = this.#o.resolve ?? (async (h: string, f: 4 | 6) => (await dnsLookup(h, { family: f })).address)
        out.push({ host: await resolve(ep.host, this.family), port: ep.port })
      } catch (err) {
        this.#log(`bootstrap node ${typeof entry === 'string' ? entry : `${entry.host}:${entry.port}`} skipped: ${(err as Error).message}`)
      }
    }
    return out
  }

  #maintain (): void {
    if (this.#closed !== undefined) return
    try {
      const busy = (n: TableNode): boolean => this.#pinging.has(endpointKey(n.host, n.port))
      for (const n of this.#table.questionable(DHT_MAINTENANCE_PINGS, busy)) this.#backgroundPing(n, n.id)
      for (const i of this.#table.staleBuckets(DHT_BUCKET_REFRESH_MS).slice(0, DHT_MAINTENANCE_REFRESHES)) {
        this.#table.touchBucket(i)
        const target = randomIdAtPrefix(this.id, Math.min(i, 159))
        this.findNode(target).catch(() => {})
      }
      this.#store.sweep(1_000)
      if (this.#table.size === 0 && this.#running === 0) {
        this.findNode(this.id).catch(() => {}) // lost every node: join again through the bootstrap nodes
      }
    } catch (err) {
      this.#log(`maintenance: ${(err as Error).message}`)
    }
  }

  #onQuery (q: KrpcQuery, from: Endpoint): void {
    const contact: Contact = { id: q.id, host: from.host, port: from.port }
    if (q.ro !== true) this.#heard(contact, 'query') // BEP 43: read-only nodes stay out of routing tables
    const base = { y: 'r' as const, t: q.t, id: this.id, ip: { ip: from.host, port: from.port } }
    switch (q.q) {
      case 'ping':
        this.#rpc.reply(from, base)
        return
      case 'find_node':
        this.#rpc.reply(from, { ...base, ...this.#nodesField(q.target) })
        return
      case 'get_peers': {
        const values = this.#store.get(q.infoHash, DHT_MAX_VALUES_PER_REPLY, this.family)
        this.#rpc.reply(from, {
          ...base,
          token: this.#tokens.issue(from.host),
          ...this.#nodesField(q.infoHash),
          ...(values.length > 0 ? { values } : {})
        })
        return
      }
      case 'announce_peer': {
        if (!this.#tokens.check(from.host, q.token)) {
          this.#rpc.reply(from, { y: 'e', t: q.t, code: KRPC_PROTOCOL_ERROR, message: 'Protocol Error: bad token' })
          return
        }
        const port = q.impliedPort ? from.port : q.port
        if (port === 0) {
          this.#rpc.reply(from, { y: 'e', t: q.t, code: KRPC_PROTOCOL_ERROR, message: 'Protocol Error: bad port' })
          return
        }
        const peer = { ip: from.host, port }
        this.#store.add(q.infoHash, peer)
        this.#rpc.reply(from, base)
        this.events.emit('announce', { infoHash: q.infoHash, peer })
      }
    }
  }

  #nodesField (target: Buffer): { nodes: Contact[] } | { nodes6: Contact[] } {
    const nodes = this.#table.closest(target, this.#k)
    return this.family === 4 ? { nodes } : { nodes6: nodes }
  }
}

function checkHash (value: Uint8Array): Buffer {
  if (!isNodeId(value)) throw new ValidationError('An info hash or node id has 20 bytes')
  return Buffer.from(value)
}

function chooseId (options: DhtOptions): NodeId {
  if (options.nodeId !== undefined) return Buffer.from(options.nodeId)
  const saved = options.table?.id
  if (saved !== undefined && /^[0-9a-f]{40}$/i.test(saved)) {
    const id = Buffer.from(saved, 'hex')
    // A saved id stays unless we know our address and it does not fit it (BEP 42).
    if (options.externalIp === undefined || isLocalAddress(options.externalIp) || isBep42Compliant(id, options.externalIp)) return id
  }
  const ip = options.externalIp ?? options.host
  if (ip !== undefined && isIP(ip) !== 0 && !isLocalAddress(ip) && ip !== '0.0.0.0' && ip !== '::') {
    const id = bep42NodeId(ip)
    if (id !== undefined) return id
  }
  return randomNodeId()
}

/** The contacts of a saved table (checked: a file on disk is input like any other). */
function importSeeds (table: DhtTableSnapshot | undefined, family: 4 | 6): Contact[] {
  if (table === undefined || table === null || typeof table !== 'object' || !Array.isArray(table.nodes)) return []
  const out: Contact[] = []
  for (const n of table.nodes.slice(0, DHT_MAX_IMPORT)) {
    if (typeof n !== 'object' || n === null) continue
    const { id, host, port } = n as { id?: unknown, host?: unknown, port?: unknown }
    if (typeof id !== 'string' || !/^[0-9a-f]{40}$/i.test(id) || typeof host !== 'string' || isIP(host) !== family) continue
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue
    out.push({ id: Buffer.from(id, 'hex'), host, port })
  }
  return out
}

/** Read the signal's state afresh (TypeScript keeps an earlier narrowing across awaits). */
function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

async function raceAbort (p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return await p
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { reject(new AbortError()) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
