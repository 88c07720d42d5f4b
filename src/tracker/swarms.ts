/**
 * The BitTorrent swarms the tracker knows, in memory only (DESIGN: swarms in memory, the catalogue in SQLite):
 * peers re-announce every interval, so a restart loses nothing that does not come back within one.
 *
 * A swarm is its peers keyed by (ip, port), as opentracker keys them: the address is the connection's, so one
 * endpoint is one peer whatever peer id it sends. Each peer sits in a Map (lookup by endpoint) and in one of two
 * dense lists, seeders or leechers (removal moves the last entry into the hole), so counting is free and a
 * random choice of k peers is O(k), never a copy of the swarm. Beside its array of peer objects, a list keeps
 * every peer's compact form (BEP 23 / BEP 7 bytes) in one contiguous buffer: the compact reply, nearly every
 * announce's, copies bytes out of it without touching the peer objects (random reads of 50 objects scattered over
 * the heap cost more than everything else an announce does).
 *
 * Peers that stop announcing expire after two intervals plus a grace. Each swarm also keeps its peers in a
 * doubly linked list in announce order (a re-announce moves a peer to the tail), so the expired ones are always
 * at the head: every read of a swarm first drops them, in O(1) when there are none, which keeps counts and peer
 * lists exact without scanning. A periodic `sweep()` does the same for swarms nobody reads and drops swarms left
 * empty. The clock is passed in by the caller (`now`, ms).
 *
 * Everything is bounded, and a bound makes room rather than refusing (abuse limits, docs/limits.md): the swarms too
 * sit in a doubly linked list in order of activity (an announce moves its swarm to the tail). A new swarm past
 * `maxSwarms` evicts the least recently active one with its peers; a new peer past `maxPeers` evicts the oldest peer
 * of the least recently active swarm that has peers; a new peer past `maxPeersPerSwarm` evicts its swarm's oldest
 * peer. Each is O(1) (pointer moves, no scan), so the bounds cost the announce path nothing measurable.
 *
 * A regular announce (no event) sooner than `min interval` after the peer's last one changes nothing and is answered
 * with counts only (`early`): a client hammering the tracker gets no fresh peers for it, and its place in the
 * announce order is not refreshed. `started`, `completed` and `stopped` are always applied.
 */
import { COMPACT_PEER6_BYTES, COMPACT_PEER_BYTES, parseIPv4, parseIPv6 } from '../discovery/compact.js'
import type { AnnounceParams } from './announce-params.js'
import { pushNewest, touch, unlink, type RecencyEnds } from './recency.js'
import { AnnounceFailure } from './announce-params.js'
import {
  ANNOUNCE_EXPIRY_GRACE_S,
  MAX_NUMWANT,
  minAnnounceIntervalS,
  MIN_INTERVAL_TOLERANCE_MS,
  TRACKER_MAX_ANNOUNCED_PEERS,
  TRACKER_MAX_PEERS_PER_SWARM,
  TRACKER_MAX_SWARMS
} from './limits.js'

export interface SwarmLimits {
  maxPeersPerSwarm: number
  /** Announced peers in all swarms together. */
  maxPeers: number
  maxSwarms: number
}

export interface SwarmsOptions {
  /** The announce interval clients are given, seconds. */
  intervalS: number
  limits?: Partial<SwarmLimits> | undefined
  /**
   * Called once per peer when it first announces `completed` (the swarm's `downloaded` count grows by one), with
   * the swarm's info hash (40 lower-case hex). Synchronous, on the announce path: keep it cheap.
   */
  onCompleted?: ((infoHash: string) => void) | undefined
  /**
   * A regular announce sooner than this after the peer's last one is `early` (answered without peers, nothing
   * changed), seconds; default `min interval` (minAnnounceIntervalS(intervalS)); 0 disables the rule.
   */
  enforcedMinIntervalS?: number | undefined
}

/** One announced peer. Its address is fixed at its first announce (it is its key). */
export interface SwarmPeer {
  readonly key: number | string
  readonly ip: string
  readonly port: number
  /** The latest peer id it sent, 20 bytes as latin1. */
  peerId: string
  left: number
  /** Its latest announce, ms. */
  lastSeen: number
  seeder: boolean
  /** Its index in its swarm's seeders or leechers list. */
  slot: number
  /** It sent `completed` (counted once in the swarm's `downloaded`). */
  completed: boolean
  /** Neighbours in the swarm's announce-order list (older, newer). */
  older: SwarmPeer | undefined
  newer: SwarmPeer | undefined
}

/**
 * Bytes per entry of a list's compact buffer: room for the IPv6 form (16 + 2), an IPv4 entry using the first 6, and
 * one byte saying which (IPV6_FLAG).
 */
const ENTRY = COMPACT_PEER6_BYTES + 1
/** Offset in an entry of its flag: 1 for an IPv6 entry, 0 for an IPv4 one. */
const IPV6_FLAG = COMPACT_PEER6_BYTES
const INITIAL_CAPACITY = 8
/** The buffer of every list that has never held a peer: a swarm of leechers only never allocates its seeders' bytes. */
const NO_BYTES = new Uint8Array(0)

/**
 * A dense list of peers: `peers[i]` and its compact bytes at `bytes[i * ENTRY]` (BEP 23's 6 bytes for IPv4, BEP 7's
 * 18 for IPv6, then a byte that says which). One buffer per list, allocated at its first peer: at 100,000 swarms, a
 * typed array costs more in itself than the peers' bytes in it. Removal moves the last entry into the hole.
 */
export class PeerList {
  readonly peers: SwarmPeer[] = []
  bytes = NO_BYTES

  get length (): number {
    return this.peers.length
  }

  /** Whether the entry at `slot` is an IPv6 address (18 bytes) rather than an IPv4 one (6). */
  isIPv6 (slot: number): boolean {
    return this.bytes[slot * ENTRY + IPV6_FLAG] === 1
  }

  /** Appends a peer and returns the offset of its entry, for the caller to write its address at. */
  push (peer: SwarmPeer, ipv6: boolean): number {
    const slot = this.peers.length
    if (slot * ENTRY === this.bytes.length) this.#resize(Math.max(INITIAL_CAPACITY, slot * 2))
    this.peers.push(peer)
    peer.slot = slot
    const o = slot * ENTRY
    this.bytes[o + IPV6_FLAG] = ipv6 ? 1 : 0
    return o
  }

  /** Takes out the entry at `slot`; the last one fills the hole. */
  removeAt (slot: number): void {
    const lastSlot = this.peers.length - 1
    const last = this.peers.pop() as SwarmPeer
    if (slot !== lastSlot) {
      this.peers[slot] = last
      last.slot = slot
      this.bytes.copyWithin(slot * ENTRY, lastSlot * ENTRY, lastSlot * ENTRY + ENTRY)
    }
    // Give memory back when a big swarm has mostly left.
    const capacity = this.bytes.length / ENTRY
    if (capacity > 4 * INITIAL_CAPACITY && lastSlot < capacity / 4) this.#resize(capacity / 2)
  }

  #resize (capacity: number): void {
    const bytes = new Uint8Array(capacity * ENTRY)
    bytes.set(this.bytes.subarray(0, this.peers.length * ENTRY))
    this.bytes = bytes
  }
}

export class Swarm {
  readonly peers = new Map<number | string, SwarmPeer>()
  readonly seeders = new PeerList()
  readonly leechers = new PeerList()
  /** Peers that ever sent `completed` to this swarm (scrape's `downloaded`), while the swarm lives. */
  downloaded = 0
  /** Latest announce of any peer, ms: an empty swarm is dropped when this is older than the peer timeout. */
  lastActivity: number
  /** The peer that announced least recently, and most recently. */
  oldest: SwarmPeer | undefined
  newest: SwarmPeer | undefined
  /** Its info hash (40 lower-case hex), the key of the swarm table. */
  readonly infoHash: string
  /** Neighbours in the tracker's activity-order list of swarms (less recently active, more recently active). */
  older: Swarm | undefined = undefined
  newer: Swarm | undefined = undefined

  constructor (infoHash: string, now: number) {
    this.infoHash = infoHash
    this.lastActivity = now
  }

  get size (): number {
    return this.peers.size
  }
}

/** Counts of one swarm, as scrape reports them (BEP 48). */
export interface SwarmStats {
  /** Seeders (left = 0). */
  complete: number
  /** Leechers. */
  incomplete: number
  /** Peers that announced `completed`. */
  downloaded: number
}

export interface AnnounceOutcome {
  /** The swarm after the announce; undefined only for a `stopped` of a swarm the tracker does not know. */
  swarm: Swarm | undefined
  /** The announcing peer; undefined after `stopped`. */
  self: SwarmPeer | undefined
  /**
   * A regular announce sooner than `min interval` after the peer's last one: nothing was changed, and the reply
   * carries counts but no peers.
   */
  early: boolean
}

/** Compact peer strings for one reply, filled by `pickCompact` (reused from reply to reply). */
export class CompactPicks {
  /** IPv4 peers, 6 bytes each: the first `length4` bytes count. */
  readonly peers = Buffer.alloc(MAX_NUMWANT * COMPACT_PEER_BYTES)
  length4 = 0
  /** IPv6 peers, 18 bytes each: the first `length6` bytes count. */
  readonly peers6 = Buffer.alloc(MAX_NUMWANT * COMPACT_PEER6_BYTES)
  length6 = 0
}

/** The key of an endpoint: a number for IPv4 (address × 65536 + port, below 2^48), a string for IPv6. */
export function endpointKey (ip: string, port: number, v4 = parseIPv4(ip)): number | string {
  return v4 >= 0 ? v4 * 65536 + port : `${ip}|${port}`
}

/** Most peers one pick hands out (a `/lookup`'s bt_peers and an announce's numwant are both far below). */
const MAX_PICK = 1_000
/** The virtual indices of one pick; module scope, as picks are synchronous. */
const picks = new Int32Array(MAX_PICK)
/** How many of the last pick's virtual indices are seeders (set by #pick, read right after). */
let pickedSeeders = 0
/** An IPv6 address being added, parsed here before its entry exists. */
const scratch6 = new Uint8Array(16)

/**
 * Fills `picks[at, at + want)` with `want` distinct indices of [0, n) (want < n), ascending after a random rotation.
 * Stratified sampling: [0, n) is cut into `want` runs of near-equal length and one index is drawn uniformly in each,
 * and the whole is rotated by a random offset so every index is equally likely. O(want), no set of chosen indices,
 * and the reads that follow walk memory in order.
 */
function sample (n: number, want: number, at = 0): void {
  const base = Math.floor(n / want)
  const longer = n - base * want // the first `longer` runs have base + 1 indices
  const rotation = Math.floor(Math.random() * n)
  let start = 0
  for (let k = 0; k < want; k++) {
    const length = k < longer ? base + 1 : base
    let v = start + Math.floor(Math.random() * length) + rotation
    if (v >= n) v -= n
    picks[at + k] = v
    start += length
  }
}

/** What the bounds have evicted so far (for logs and metrics). */
export interface EvictionStats {
  /** Swarms evicted (with their peers) to make room for a new swarm. */
  swarms: number
  /** Peers evicted to make room for a new peer (in its swarm, or the tracker's oldest), not counting evicted swarms' peers. */
  peers: number
}

export class Swarms {
  readonly #swarms = new Map<string, Swarm>()
  readonly #limits: SwarmLimits
  readonly #peerTimeoutMs: number
  readonly #minIntervalMs: number
  readonly #onCompleted: ((infoHash: string) => void) | undefined
  #peerCount = 0
  /** The swarms in order of activity: the least recently active first (recency.ts). */
  readonly #activity: RecencyEnds<Swarm> = { oldest: undefined, newest: undefined }
  readonly evictions: EvictionStats = { swarms: 0, peers: 0 }

  constructor (options: SwarmsOptions) {
    this.#limits = {
      maxPeersPerSwarm: options.limits?.maxPeersPerSwarm ?? TRACKER_MAX_PEERS_PER_SWARM,
      maxPeers: options.limits?.maxPeers ?? TRACKER_MAX_ANNOUNCED_PEERS,
      maxSwarms: options.limits?.maxSwarms ?? TRACKER_MAX_SWARMS
    }
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!(Number.isSafeInteger(value) && value >= 1)) throw new RangeError(`Invalid swarm limit ${name}: ${value} (an integer of at least 1)`)
    }
    this.#peerTimeoutMs = (2 * options.intervalS + ANNOUNCE_EXPIRY_GRACE_S) * 1000
    const enforcedS = options.enforcedMinIntervalS ?? minAnnounceIntervalS(options.intervalS)
    // A peer that waited `min interval` by its own clock is not early (see MIN_INTERVAL_TOLERANCE_MS).
    this.#minIntervalMs = Math.max(0, enforcedS * 1000 - (options.enforcedMinIntervalS === undefined ? MIN_INTERVAL_TOLERANCE_MS : 0))
    this.#onCompleted = options.onCompleted
  }

  /** A regular announce sooner than this after the peer's last one is `early`, ms (0: never). */
  get minIntervalMs (): number {
    return this.#minIntervalMs
  }

  /** A peer that has not announced for longer than this is gone: two intervals plus a grace, ms. */
  get peerTimeoutMs (): number {
    return this.#peerTimeoutMs
  }

  /** Swarms held (including empty ones not yet swept away). */
  get swarmCount (): number {
    return this.#swarms.size
  }

  /** Announced peers held in all swarms (including expired ones of swarms not read since). */
  get peerCount (): number {
    return this.#peerCount
  }

  /**
   * Applies one announce from `ip` (the connection's address, normalised). `stopped` removes the peer; any
   * other event adds or refreshes it; `completed` counts it once in `downloaded`; `left = 0` makes it a seeder.
   * A regular announce sooner than `min interval` after the peer's last one changes nothing (`early`). A new peer
   * or swarm past a bound evicts the least recently active (see the file comment). Throws AnnounceFailure only
   * for an address it cannot use.
   */
  announce (params: AnnounceParams, ip: string, now: number): AnnounceOutcome {
    let swarm = this.#swarms.get(params.infoHash)
    if (swarm !== undefined) this.#expire(swarm, now)
    const v4 = parseIPv4(ip)
    const key = endpointKey(ip, params.port, v4)
    if (params.event === 'stopped') {
      if (swarm !== undefined) {
        const peer = swarm.peers.get(key)
        if (peer !== undefined) this.#remove(swarm, peer)
        swarm.lastActivity = now
        touch(this.#activity, swarm)
      }
      return { swarm, self: undefined, early: false }
    }

    let peer = swarm?.peers.get(key)
    if (peer === undefined) {
      if (v4 < 0 && !parseIPv6(ip, scratch6)) throw new AnnounceFailure('Cannot use your address')
      if (swarm === undefined) {
        if (this.#swarms.size >= this.#limits.maxSwarms) this.#evictSwarm()
        swarm = new Swarm(params.infoHash, now)
        this.#swarms.set(params.infoHash, swarm)
        pushNewest(this.#activity, swarm)
      } else {
        // Active now: it is the last swarm the global bound takes a peer from.
        touch(this.#activity, swarm)
        if (swarm.size >= this.#limits.maxPeersPerSwarm) {
          this.#remove(swarm, swarm.oldest as SwarmPeer)
          this.evictions.peers++
        }
      }
      if (this.#peerCount >= this.#limits.maxPeers) this.#evictPeer(swarm)
      const seeder = params.left === 0
      peer = {
        key, ip, port: params.port, peerId: params.peerId, left: params.left, lastSeen: now, seeder,
        slot: 0, completed: false, older: undefined, newer: undefined
      }
      const list = seeder ? swarm.seeders : swarm.leechers
      const o = list.push(peer, v4 < 0)
      const bytes = list.bytes
      if (v4 >= 0) {
        bytes[o] = v4 >>> 24
        bytes[o + 1] = (v4 >>> 16) & 0xff
        bytes[o + 2] = (v4 >>> 8) & 0xff
        bytes[o + 3] = v4 & 0xff
        bytes[o + 4] = params.port >> 8
        bytes[o + 5] = params.port & 0xff
      } else {
        bytes.set(scratch6, o)
        bytes[o + 16] = params.port >> 8
        bytes[o + 17] = params.port & 0xff
      }
      swarm.peers.set(key, peer)
      pushNewest(swarm, peer)
      this.#peerCount++
    } else if (params.event === '' && now - peer.lastSeen < this.#minIntervalMs) {
      return { swarm: swarm as Swarm, self: peer, early: true }
    } else {
      touch(this.#activity, swarm as Swarm)
      // The endpoint is the peer: a restarted client on the same port may send a new peer id.
      if (peer.peerId !== params.peerId) peer.peerId = params.peerId
      peer.left = params.left
      peer.lastSeen = now
      if ((params.left === 0) !== peer.seeder) this.#move(swarm as Swarm, peer)
      touch(swarm as Swarm, peer)
    }
    if (params.event === 'completed' && !peer.completed) {
      peer.completed = true
      ;(swarm as Swarm).downloaded++
      this.#onCompleted?.(params.infoHash)
    }
    ;(swarm as Swarm).lastActivity = now
    return { swarm, self: peer, early: false }
  }

  /** Makes room for a swarm: drops the least recently active one, with its peers (left to the garbage collector). */
  #evictSwarm (): void {
    const victim = this.#activity.oldest
    if (victim === undefined) return
    this.#peerCount -= victim.size
    this.#dropSwarm(victim)
    this.evictions.swarms++
  }

  /**
   * Makes room for a peer in `into` (already the most recently active swarm): drops the oldest peer of the least
   * recently active swarm that has one. Empty swarms met on the way are dropped (each once: amortised O(1)); `into`
   * is never dropped, and gives up its own oldest peer when it is the only swarm with peers.
   */
  #evictPeer (into: Swarm): void {
    let swarm = this.#activity.oldest
    while (swarm !== undefined) {
      const next = swarm.newer
      if (swarm.size > 0) {
        this.#remove(swarm, swarm.oldest as SwarmPeer)
        this.evictions.peers++
        return
      }
      if (swarm !== into) this.#dropSwarm(swarm)
      swarm = next
    }
  }

  #dropSwarm (swarm: Swarm): void {
    this.#swarms.delete(swarm.infoHash)
    unlink(this.#activity, swarm)
  }

  /**
   * Picks up to `want` (at most MAX_PICK) peers of `swarm` uniformly at random, never `self`, and returns how
   * many; `pickedPeer(i)` / the compact forms read them. Without `self`, or for a leecher, any peer. A seeder
   * (`self.seeder`) is given leechers first, the ones it has something for, and only when there are fewer of them
   * than it wants, other seeders for the rest (see #pickForSeeder). The swarm must have been read at this time
   * (announce() or get()), so it holds no expired peer.
   */
  #pick (swarm: Swarm, self: SwarmPeer | undefined, want: number): number {
    if (self?.seeder === true) return this.#pickForSeeder(swarm, self, want)
    // Virtual index space: seeders then leechers.
    const s = swarm.seeders.length
    const total = s + swarm.leechers.length
    // Self is excluded by giving its index the last one's place and picking from one fewer.
    const selfIndex = self === undefined ? -1 : s + self.slot
    const n = selfIndex === -1 ? total : total - 1
    const count = Math.min(want, n, MAX_PICK)
    if (count === n) {
      for (let v = 0; v < n; v++) picks[v] = v
    } else if (count > 0) {
      sample(n, count)
    }
    if (selfIndex !== -1) {
      for (let k = 0; k < count; k++) if (picks[k] === selfIndex) picks[k] = total - 1
    }
    pickedSeeders = s
    return count
  }

  /**
   * A seeder's pick: up to `want` leechers at random, then, while it wants more, other seeders at random (leechers
   * first in the reply). Seeders are not withheld from a seeder: `left=0` is also what a peer sends that does not know
   * the size yet: aria2 fetching a magnet link's metadata (BEP 9) announces `event=started&left=0&downloaded=0`, and
   * given leechers only it would never meet the seed that has the metadata. opentracker gives every peer, seeders
   * included, a random pick of the whole swarm (seeders placed last); we keep the preference for leechers, which is
   * what a real seeder wants from a big swarm, and give seeders when the leechers do not fill the reply.
   */
  #pickForSeeder (swarm: Swarm, self: SwarmPeer, want: number): number {
    const s = swarm.seeders.length
    const l = swarm.leechers.length
    const fromLeechers = Math.min(want, l, MAX_PICK)
    // Other seeders: [0, s - 1) with self's slot given the last seeder's place.
    const fromSeeders = Math.min(want - fromLeechers, s - 1, MAX_PICK - fromLeechers)
    if (fromLeechers === l) {
      for (let k = 0; k < l; k++) picks[k] = s + k
    } else if (fromLeechers > 0) {
      sample(l, fromLeechers)
      for (let k = 0; k < fromLeechers; k++) picks[k] = (picks[k] as number) + s
    }
    if (fromSeeders === s - 1) {
      let k = fromLeechers
      for (let v = 0; v < s; v++) if (v !== self.slot) picks[k++] = v
    } else if (fromSeeders > 0) {
      sample(s - 1, fromSeeders, fromLeechers)
      const end = fromLeechers + fromSeeders
      for (let k = fromLeechers; k < end; k++) if (picks[k] === self.slot) picks[k] = s - 1
    }
    pickedSeeders = s
    return fromLeechers + fromSeeders
  }

  /** Fills `out` with up to `want` peers of `swarm` picked at random, never `self` (see #pick). */
  pick (swarm: Swarm, self: SwarmPeer | undefined, want: number, out: SwarmPeer[]): void {
    const count = this.#pick(swarm, self, want)
    out.length = 0
    for (let k = 0; k < count; k++) {
      const v = picks[k] as number
      out.push(v < pickedSeeders ? swarm.seeders.peers[v] as SwarmPeer : swarm.leechers.peers[v - pickedSeeders] as SwarmPeer)
    }
  }

  /**
   * Like pick(), into compact strings: IPv4 peers' 6 bytes into `into.peers`, IPv6 peers' 18 bytes into
   * `into.peers6`. At most MAX_NUMWANT peers.
   */
  pickCompact (swarm: Swarm, self: SwarmPeer | undefined, want: number, into: CompactPicks): void {
    const count = this.#pick(swarm, self, Math.min(want, MAX_NUMWANT))
    let o4 = 0
    let o6 = 0
    const out4 = into.peers
    const out6 = into.peers6
    for (let k = 0; k < count; k++) {
      let v = picks[k] as number
      let list = swarm.seeders
      if (v >= pickedSeeders) {
        v -= pickedSeeders
        list = swarm.leechers
      }
      const bytes = list.bytes
      let o = v * ENTRY
      if (bytes[o + IPV6_FLAG] === 0) {
        out4[o4] = bytes[o] as number
        out4[o4 + 1] = bytes[o + 1] as number
        out4[o4 + 2] = bytes[o + 2] as number
        out4[o4 + 3] = bytes[o + 3] as number
        out4[o4 + 4] = bytes[o + 4] as number
        out4[o4 + 5] = bytes[o + 5] as number
        o4 += COMPACT_PEER_BYTES
      } else {
        for (const end = o + COMPACT_PEER6_BYTES; o < end; o++) out6[o6++] = bytes[o] as number
      }
    }
    into.length4 = o4
    into.length6 = o6
  }

  /** The swarm of an info hash (40 lower-case hex), its expired peers dropped; undefined when none. */
  get (infoHash: string, now: number): Swarm | undefined {
    const swarm = this.#swarms.get(infoHash)
    if (swarm !== undefined) this.#expire(swarm, now)
    return swarm
  }

  /** Scrape counts of an info hash; undefined for a swarm the tracker does not hold. */
  stats (infoHash: string, now: number): SwarmStats | undefined {
    const swarm = this.get(infoHash, now)
    if (swarm === undefined) return undefined
    return { complete: swarm.seeders.length, incomplete: swarm.leechers.length, downloaded: swarm.downloaded }
  }

  /**
   * Drops every expired peer, and every swarm that is empty and has seen no announce for a peer timeout (it
   * keeps its `downloaded` count that long). Returns how many peers were dropped. O(swarms + peers dropped).
   */
  sweep (now: number): number {
    let dropped = 0
    for (const swarm of this.#swarms.values()) {
      dropped += this.#expire(swarm, now)
      if (swarm.size === 0 && now - swarm.lastActivity > this.#peerTimeoutMs) this.#dropSwarm(swarm)
    }
    return dropped
  }

  /** Drops the expired peers of a swarm: they are the oldest in announce order. */
  #expire (swarm: Swarm, now: number): number {
    const limit = now - this.#peerTimeoutMs
    let dropped = 0
    let peer = swarm.oldest
    while (peer !== undefined && peer.lastSeen < limit) {
      const next = peer.newer
      this.#remove(swarm, peer)
      dropped++
      peer = next
    }
    return dropped
  }

  #remove (swarm: Swarm, peer: SwarmPeer): void {
    ;(peer.seeder ? swarm.seeders : swarm.leechers).removeAt(peer.slot)
    unlink(swarm, peer)
    swarm.peers.delete(peer.key)
    this.#peerCount--
  }

  /** Moves a peer between the seeders and the leechers, its compact bytes with it. */
  #move (swarm: Swarm, peer: SwarmPeer): void {
    const from = peer.seeder ? swarm.seeders : swarm.leechers
    const to = peer.seeder ? swarm.leechers : swarm.seeders
    const slot = peer.slot
    const o = to.push(peer, from.isIPv6(slot))
    to.bytes.set(from.bytes.subarray(slot * ENTRY, slot * ENTRY + COMPACT_PEER6_BYTES), o)
    from.removeAt(slot)
    peer.seeder = !peer.seeder
  }
}
