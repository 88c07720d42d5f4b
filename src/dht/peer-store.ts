/**
 * Peers other nodes announced to us (announce_peer), per info hash: what we answer get_peers with.
 *
 * Bounded three ways (constants.ts): info hashes (the least recently announced dropped first), peers per info hash
 * (the oldest announce dropped first) and peers in all. Each peer is kept as its compact bytes in a latin1 string key
 * (6 characters for IPv4) with its announce time, in a Map whose insertion order is its age: a re-announce moves it
 * to the end, expiry and eviction take from the front. Expired peers are dropped lazily when read and by sweep().
 */
import { DHT_MAX_INFO_HASHES, DHT_MAX_PEERS_PER_INFO_HASH, DHT_MAX_PEERS_TOTAL, DHT_PEER_TTL_MS } from './constants.js'
import { decodePeer, encodePeer, type PeerAddress } from './krpc.js'

export interface PeerStoreOptions {
  maxInfoHashes?: number
  maxPeersPerInfoHash?: number
  maxPeersTotal?: number
  ttlMs?: number
  now?: () => number
}

export class PeerStore {
  readonly #maxHashes: number
  readonly #maxPerHash: number
  readonly #maxTotal: number
  readonly #ttl: number
  readonly #now: () => number
  /** info hash (latin1 of its 20 bytes) → compact peer (latin1) → announce time; outer order = last announce. */
  readonly #hashes = new Map<string, Map<string, number>>()
  #total = 0

  constructor (options: PeerStoreOptions = {}) {
    this.#maxHashes = Math.max(1, options.maxInfoHashes ?? DHT_MAX_INFO_HASHES)
    this.#maxPerHash = Math.max(1, options.maxPeersPerInfoHash ?? DHT_MAX_PEERS_PER_INFO_HASH)
    this.#maxTotal = Math.max(1, options.maxPeersTotal ?? DHT_MAX_PEERS_TOTAL)
    this.#ttl = options.ttlMs ?? DHT_PEER_TTL_MS
    this.#now = options.now ?? Date.now
  }

  /** Store (or refresh) a peer for an info hash. Returns false for an address that is no IP literal or a bad port. */
  add (infoHash: Uint8Array, peer: PeerAddress): boolean {
    const compact = encodePeer(peer.ip, peer.port)
    if (compact === undefined || peer.port === 0) return false
    const key = Buffer.from(infoHash).toString('latin1')
    let peers = this.#hashes.get(key)
    if (peers === undefined) {
      if (this.#hashes.size >= this.#maxHashes) this.#dropOldestHash()
      peers = new Map()
    } else {
      this.#hashes.delete(key)
    }
    this.#hashes.set(key, peers)
    const p = compact.toString('latin1')
    if (peers.delete(p)) this.#total--
    if (peers.size >= this.#maxPerHash) this.#dropOldestPeer(peers)
    while (this.#total >= this.#maxTotal) {
      if (!this.#dropFromOldestHash(key)) break
    }
    peers.set(p, this.#now())
    this.#total++
    return true
  }

  /** Up to `max` live peers of an info hash (a random selection when it has more), IPv4 or IPv6 as `family`. */
  get (infoHash: Uint8Array, max: number, family?: 4 | 6): PeerAddress[] {
    const key = Buffer.from(infoHash).toString('latin1')
    const peers = this.#hashes.get(key)
    if (peers === undefined) return []
    this.#expire(key, peers)
    const live: string[] = []
    for (const p of peers.keys()) if (family === undefined || (p.length === 6) === (family === 4)) live.push(p)
    if (live.length > max) { // partial Fisher-Yates: a random `max` of them
      for (let i = 0; i < max; i++) {
        const j = i + Math.floor(Math.random() * (live.length - i))
        const tmp = live[i] as string
        live[i] = live[j] as string
        live[j] = tmp
      }
      live.length = max
    }
    const out: PeerAddress[] = []
    for (const p of live) {
      const peer = decodePeer(Buffer.from(p, 'latin1'))
      if (peer !== undefined) out.push(peer)
    }
    return out
  }

  /** Drop expired peers; at most `budget` info hashes looked at (the least recently announced first). */
  sweep (budget = Infinity): void {
    let seen = 0
    for (const [key, peers] of this.#hashes) {
      if (seen++ >= budget) break
      this.#expire(key, peers)
    }
  }

  get infoHashes (): number {
    return this.#hashes.size
  }

  get peers (): number {
    return this.#total
  }

  #expire (key: string, peers: Map<string, number>): void {
    const cutoff = this.#now() - this.#ttl
    for (const [p, at] of peers) {
      if (at > cutoff) break // insertion order is announce order
      peers.delete(p)
      this.#total--
    }
    if (peers.size === 0) this.#hashes.delete(key)
  }

  #dropOldestHash (): void {
    const first = this.#hashes.entries().next().value
    if (first === undefined) return
    this.#hashes.delete(first[0])
    this.#total -= first[1].size
  }

  #dropOldestPeer (peers: Map<string, number>): void {
    const oldest = peers.keys().next().value
    if (oldest !== undefined) {
      peers.delete(oldest)
      this.#total--
    }
  }

  /** Drop one peer from the least recently announced info hash other than `keep`'s own turn; false if none. */
  #dropFromOldestHash (keep: string): boolean {
    for (const [key, peers] of this.#hashes) {
      if (peers.size === 0) {
        this.#hashes.delete(key)
        continue
      }
      this.#dropOldestPeer(peers)
      if (peers.size === 0 && key !== keep) this.#hashes.delete(key)
      return true
    }
    return false
  }
}
