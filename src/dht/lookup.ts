/**
 * The iterative lookup (BEP 5, Kademlia): ask the closest nodes we know for nodes closer to the target, α at a time,
 * until the K closest nodes heard of have all answered. A get_peers lookup also collects `values` (peers) and the
 * write token of each node that answered, for announce_peer.
 *
 * Bounded in every direction: queries sent (maxQueries), candidates kept (maxCandidates, the farthest dropped),
 * peers collected (maxPeers), time (timeoutMs), and in flight (α, plus queries that have been out longer than
 * slowMs: those stop counting, so dead nodes slow a lookup down by slowMs, not by the full query timeout, the way
 * libtorrent's lookups branch out). Queries still out when the lookup converges are not cancelled: they end by
 * answer or timeout, so the caller's routing table learns of dead nodes. It knows no socket: `query` is passed in.
 *
 * Each answer's nodes are one round trip further than the node that gave them (a seed is one away): `rounds` in
 * the result is the largest such count among the K closest nodes at the end — the round trips the lookup needed to
 * reach them, which Kademlia says grows as O(log n).
 */
import { setMaxListeners } from 'node:events'
import { AbortError } from '../errors.js'
import {
  DHT_ALPHA, DHT_K, DHT_LOOKUP_MAX_CANDIDATES, DHT_LOOKUP_MAX_PEERS, DHT_LOOKUP_MAX_QUERIES, DHT_LOOKUP_TIMEOUT_MS,
  DHT_SLOW_QUERY_MS
} from './constants.js'
import type { Contact, KrpcResponse, PeerAddress } from './krpc.js'
import { compareDistance } from './node-id.js'
import { endpointKey } from './routing-table.js'
import type { Endpoint } from './rpc.js'

export interface LookupOptions {
  target: Buffer
  /** Starting points: contacts (from the routing table) and bare endpoints (bootstrap nodes, whose id we learn). */
  seeds: ReadonlyArray<Contact | Endpoint>
  /** Send the lookup's query (find_node or get_peers for `target`) to one node. */
  query: (to: Endpoint, id: Buffer | undefined, signal: AbortSignal) => Promise<KrpcResponse>
  /** Which node list of the replies to follow: `nodes` (4) or `nodes6` (6). */
  family: 4 | 6
  /** Contacts to leave out (ourselves, other families, ...). */
  accept?: (contact: Contact) => boolean
  /** BEP 42 enforcement: responders failing this are followed but do not count among the closest (nor get announces). */
  counts?: (contact: Contact) => boolean
  onPeer?: (peer: PeerAddress) => void
  signal?: AbortSignal | undefined
  k?: number
  alpha?: number
  maxQueries?: number
  maxCandidates?: number
  maxPeers?: number
  slowMs?: number
  timeoutMs?: number
  now?: () => number
}

export interface LookupStats {
  queries: number
  responses: number
  failures: number
  /** Round trips needed to reach the K closest nodes found (see above). */
  rounds: number
  durationMs: number
  /** The lookup stopped at its time or query bound rather than converging. */
  truncated: boolean
}

export interface LookupResult {
  /** The K closest nodes that answered, closest first, each with the token it gave (get_peers). */
  closest: Array<Contact & { token?: Buffer }>
  /** Peers found (get_peers), deduplicated, in the order found. */
  peers: PeerAddress[]
  stats: LookupStats
}

type State = 'new' | 'pending' | 'slow' | 'done' | 'failed'

interface Candidate {
  contact: Contact | undefined
  endpoint: Endpoint
  depth: number
  state: State
  counts: boolean
  token?: Buffer
}

export function iterativeLookup (options: LookupOptions): Promise<LookupResult> {
  const k = options.k ?? DHT_K
  const alpha = options.alpha ?? DHT_ALPHA
  const maxQueries = options.maxQueries ?? DHT_LOOKUP_MAX_QUERIES
  const maxCandidates = Math.max(k, options.maxCandidates ?? DHT_LOOKUP_MAX_CANDIDATES)
  const maxPeers = options.maxPeers ?? DHT_LOOKUP_MAX_PEERS
  const slowMs = options.slowMs ?? DHT_SLOW_QUERY_MS
  const now = options.now ?? Date.now
  const accept = options.accept ?? (() => true)
  const counts = options.counts ?? (() => true)
  const target = options.target
  const started = now()

  const candidates: Candidate[] = [] // with ids, closest first
  const bare: Candidate[] = [] // seeds without ids
  const seenEndpoints = new Set<string>()
  const seenIds = new Set<string>()
  const peers: PeerAddress[] = []
  const seenPeers = new Set<string>()
  const stats: LookupStats = { queries: 0, responses: 0, failures: 0, rounds: 0, durationMs: 0, truncated: false }
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one listener per query in flight: α plus slow ones, bounded by maxQueries
  let active = 0 // pending and not slow
  let outstanding = 0 // pending or slow
  let finished = false

  const add = (contact: Contact | undefined, endpoint: Endpoint, depth: number): void => {
    const key = endpointKey(endpoint.host, endpoint.port)
    if (seenEndpoints.has(key)) return
    if (contact === undefined) {
      seenEndpoints.add(key)
      bare.push({ contact, endpoint, depth, state: 'new', counts: false })
      return
    }
    const idKey = contact.id.toString('latin1')
    if (seenIds.has(idKey) || !accept(contact)) return
    seenEndpoints.add(key)
    seenIds.add(idKey)
    const c: Candidate = { contact, endpoint, depth, state: 'new', counts: true }
    // Insert in distance order (binary search), then drop the farthest non-pending entries past the bound.
    let lo = 0
    let hi = candidates.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareDistance(target, (candidates[mid] as Candidate).contact?.id as Buffer, contact.id) < 0) lo = mid + 1
      else hi = mid
    }
    candidates.splice(lo, 0, c)
    for (let i = candidates.length - 1; candidates.length > maxCandidates && i >= 0; i--) {
      const s = (candidates[i] as Candidate).state
      if (s === 'new' || s === 'failed') candidates.splice(i, 1)
    }
  }

  for (const seed of options.seeds) {
    if ('id' in seed) add(seed, { host: seed.host, port: seed.port }, 1)
    else add(undefined, seed, 1)
  }

  return new Promise<LookupResult>((resolve, reject) => {
    const outer = options.signal
    const onAbort = (): void => { finish(new AbortError()) }
    const timer = setTimeout(() => {
      stats.truncated = true
      finish()
    }, options.timeoutMs ?? DHT_LOOKUP_TIMEOUT_MS) // not unref'd: a running lookup is work the caller waits for

    function window (): Candidate[] {
      const out: Candidate[] = []
      for (const c of candidates) {
        if (out.length >= k) break
        if (c.state === 'failed' || c.state === 'slow' || (c.state === 'done' && !c.counts)) continue
        out.push(c)
      }
      return out
    }

    function finish (err?: Error): void {
      if (finished) return
      finished = true
      clearTimeout(timer)
      outer?.removeEventListener('abort', onAbort)
      if (err !== undefined) {
        controller.abort()
        reject(err)
        return
      }
      // Queries still out are left to answer or time out (each is bounded by its own timeout): their outcome still
      // tells the routing table which nodes are dead, which an abort here would hide.
      const closest = window().filter((c) => c.state === 'done')
      stats.rounds = closest.reduce((m, c) => Math.max(m, c.depth), 0)
      stats.durationMs = now() - started
      resolve({
        closest: closest.map((c) => ({ ...(c.contact as Contact), ...(c.token === undefined ? {} : { token: c.token }) })),
        peers,
        stats
      })
    }

    function send (c: Candidate): void {
      c.state = 'pending'
      active++
      outstanding++
      stats.queries++
      const slow = setTimeout(() => {
        if (c.state !== 'pending') return
        c.state = 'slow'
        active--
        pump()
      }, slowMs)
      slow.unref()
      options.query(c.endpoint, c.contact?.id, controller.signal).then((reply) => {
        clearTimeout(slow)
        if (finished) return
        settle(c)
        stats.responses++
        c.state = 'done'
        if (c.contact === undefined) { // a bare seed: now we know its id, and it may count as a candidate
          c.contact = { id: reply.id, host: c.endpoint.host, port: c.endpoint.port }
        }
        c.counts = counts(c.contact) && accept(c.contact)
        if (reply.token !== undefined) c.token = reply.token
        const list = options.family === 4 ? reply.nodes : reply.nodes6
        for (const n of list ?? []) add(n, { host: n.host, port: n.port }, c.depth + 1)
        for (const p of reply.values ?? []) {
          if (peers.length >= maxPeers) break
          const key = endpointKey(p.ip, p.port)
          if (seenPeers.has(key)) continue
          seenPeers.add(key)
          peers.push(p)
          try {
            options.onPeer?.(p)
          } catch { /* a listener's error is its own */ }
        }
        if (bare.includes(c) && c.counts && !seenIds.has(c.contact.id.toString('latin1'))) {
          // A bootstrap node is a candidate like any other once it has answered.
          seenIds.add(c.contact.id.toString('latin1'))
          let i = 0
          while (i < candidates.length && compareDistance(target, (candidates[i] as Candidate).contact?.id as Buffer, c.contact.id) < 0) i++
          candidates.splice(i, 0, c)
        }
        pump()
      }, () => {
        clearTimeout(slow)
        if (finished) return
        settle(c)
        stats.failures++
        c.state = 'failed'
        pump()
      })
    }

    function settle (c: Candidate): void {
      if (c.state === 'pending') active--
      outstanding--
    }

    function pump (): void {
      if (finished) return
      for (const c of bare) {
        if (active >= alpha || stats.queries >= maxQueries) break
        if (c.state === 'new') send(c)
      }
      const w = window()
      const converged = w.length > 0 && w.every((c) => c.state === 'done') && (w.length >= k || outstanding === 0)
      if (converged && bare.every((c) => c.state !== 'pending' && c.state !== 'new')) {
        finish()
        return
      }
      for (const c of w) {
        if (active >= alpha || stats.queries >= maxQueries) break
        if (c.state === 'new') send(c)
      }
      if (outstanding === 0) {
        if (stats.queries >= maxQueries && w.some((c) => c.state === 'new')) stats.truncated = true
        finish()
      }
    }

    if (outer?.aborted === true) {
      finish(new AbortError())
      return
    }
    outer?.addEventListener('abort', onAbort, { once: true })
    pump()
  })
}
