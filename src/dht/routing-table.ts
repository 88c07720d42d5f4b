/**
 * The routing table (BEP 5): k-buckets over the 160-bit id space, finer near our own id.
 *
 * Bucket i holds the nodes whose id shares exactly i leading bits with ours; the last bucket holds every node
 * sharing at least as many. That last bucket is the one "our own node ID falls within", so it is the only one that
 * splits when full; the others, once full of good nodes, discard newcomers. So the table has at most 160 buckets of
 * K nodes, plus a short replacement list per bucket: nodes that did not fit, promoted when a member goes bad.
 *
 * Node states, as BEP 5: good (answered one of our queries, and heard from within 15 minutes), questionable
 * (otherwise), bad (failed DHT_NODE_BAD_FAILURES queries in a row). A node that only sent us queries enters as
 * unverified (questionable) when there is room; it becomes good by answering us. Bad nodes are never handed out.
 *
 * With `restrictIps`, a bucket holds at most one node per /24 (IPv4) or /64 (IPv6), local addresses exempt, as
 * libtorrent's restrict_routing_ips: one host cannot fill a bucket with made-up ids. The table knows no sockets and
 * no time of its own: callers report what they heard and what failed, with an injected clock.
 */
import {
  DHT_K, DHT_MAX_BUCKETS, DHT_NODE_BAD_FAILURES, DHT_NODE_GOOD_MS, DHT_NODE_REMOVE_FAILURES, DHT_REPLACEMENTS_PER_BUCKET
} from './constants.js'
import type { Contact } from './krpc.js'
import { commonPrefixBits, compareDistance, ipBytes, isLocalAddress, type NodeId } from './node-id.js'

export interface TableNode extends Contact {
  /** Last message of any kind from it, ms. */
  lastSeen: number
  /** Last answer to one of our queries, ms; 0 when it never answered. */
  lastResponse: number
  /** Queries in a row it failed to answer. */
  failures: number
}

/** How we heard from a node: it answered our query, or it sent us one. */
export type HeardKind = 'response' | 'query'
/** What heardFrom() did with it. */
export type HeardResult = 'added' | 'updated' | 'replacement' | 'rejected'

export interface RoutingTableOptions {
  id: NodeId
  k?: number
  maxBuckets?: number
  replacements?: number
  /** One node per /24 (/64) per bucket, local addresses exempt; default true. */
  restrictIps?: boolean
  now?: () => number
}

interface Bucket {
  nodes: TableNode[]
  replacements: TableNode[]
  lastChanged: number
}

export class RoutingTable {
  readonly id: NodeId
  readonly k: number
  readonly #maxBuckets: number
  readonly #maxReplacements: number
  readonly #restrictIps: boolean
  readonly #now: () => number
  readonly #buckets: Bucket[]
  /** host:port → member, so one endpoint holds one entry. */
  readonly #byEndpoint = new Map<string, TableNode>()

  constructor (options: RoutingTableOptions) {
    this.id = Buffer.from(options.id)
    this.k = options.k ?? DHT_K
    this.#maxBuckets = Math.min(DHT_MAX_BUCKETS, options.maxBuckets ?? DHT_MAX_BUCKETS)
    this.#maxReplacements = options.replacements ?? DHT_REPLACEMENTS_PER_BUCKET
    this.#restrictIps = options.restrictIps ?? true
    this.#now = options.now ?? Date.now
    this.#buckets = [{ nodes: [], replacements: [], lastChanged: this.#now() }]
  }

  /** Members (replacements not counted). */
  get size (): number {
    return this.#byEndpoint.size
  }

  get bucketCount (): number {
    return this.#buckets.length
  }

  /** Replacement candidates held over all buckets. */
  get replacementCount (): number {
    let n = 0
    for (const b of this.#buckets) n += b.replacements.length
    return n
  }

  isGood (node: TableNode): boolean {
    return node.lastResponse > 0 && node.failures === 0 && this.#now() - node.lastSeen < DHT_NODE_GOOD_MS
  }

  isBad (node: TableNode): boolean {
    return node.failures >= DHT_NODE_BAD_FAILURES
  }

  #indexOf (id: Uint8Array): number {
    return Math.min(commonPrefixBits(id, this.id), this.#buckets.length - 1)
  }

  #bucketOf (id: Uint8Array): Bucket {
    return this.#buckets[this.#indexOf(id)] as Bucket
  }

  get (id: Uint8Array): TableNode | undefined {
    return this.#bucketOf(id).nodes.find((n) => n.id.equals(id))
  }

  /**
   * Report a message from a node. It is added when its bucket has room (splitting the bucket that holds our id when
   * that one is full), takes the place of a bad member, or else waits among the bucket's replacements.
   */
  heardFrom (contact: Contact, kind: HeardKind): HeardResult {
    if (contact.id.length !== this.id.length || this.id.equals(contact.id)) return 'rejected'
    const now = this.#now()
    const bucket = this.#bucketOf(contact.id)
    const member = bucket.nodes.find((n) => n.id.equals(contact.id))
    if (member !== undefined) {
      // An id is not allowed to move: a message from elsewhere claiming a member's id is ignored (BEP 42's concern).
      if (member.host !== contact.host || member.port !== contact.port) return 'rejected'
      member.lastSeen = now
      if (kind === 'response') {
        member.lastResponse = now
        member.failures = 0
        bucket.lastChanged = now
      }
      return 'updated'
    }
    const endpoint = endpointKey(contact.host, contact.port)
    if (this.#byEndpoint.has(endpoint)) return 'rejected' // one entry per endpoint
    const node: TableNode = {
      id: Buffer.from(contact.id), host: contact.host, port: contact.port,
      lastSeen: now, lastResponse: kind === 'response' ? now : 0, failures: 0
    }
    for (;;) {
      const index = this.#indexOf(node.id)
      const b = this.#buckets[index] as Bucket
      if (this.#restrictIps && !this.#ipAllowed(b, node)) return 'rejected'
      if (b.nodes.length < this.k) {
        this.#insert(b, node, now)
        return 'added'
      }
      if (index === this.#buckets.length - 1 && this.#buckets.length < this.#maxBuckets) {
        this.#split()
        continue
      }
      const bad = b.nodes.findIndex((n) => this.isBad(n))
      if (bad !== -1) {
        this.#removeAt(b, bad)
        this.#insert(b, node, now)
        return 'added'
      }
      this.#addReplacement(b, node)
      return 'replacement'
    }
  }

  /** A query to this node went unanswered. A bad node gives way to its best replacement, or goes after repeated failures. */
  failed (id: Uint8Array): void {
    const b = this.#bucketOf(id)
    const i = b.nodes.findIndex((n) => n.id.equals(id))
    if (i === -1) {
      const r = b.replacements.findIndex((n) => n.id.equals(id))
      if (r !== -1) b.replacements.splice(r, 1)
      return
    }
    const node = b.nodes[i] as TableNode
    node.failures++
    if (!this.isBad(node)) return
    if (b.replacements.length > 0 || node.failures >= DHT_NODE_REMOVE_FAILURES) {
      this.#removeAt(b, i)
      this.#promote(b)
    }
  }

  remove (id: Uint8Array): boolean {
    const b = this.#bucketOf(id)
    const i = b.nodes.findIndex((n) => n.id.equals(id))
    if (i === -1) return false
    this.#removeAt(b, i)
    this.#promote(b)
    return true
  }

  /** The `count` members closest to `target`, bad ones left out. */
  closest (target: Uint8Array, count = this.k): TableNode[] {
    const all: TableNode[] = []
    for (const b of this.#buckets) for (const n of b.nodes) if (!this.isBad(n)) all.push(n)
    all.sort((a, b) => compareDistance(target, a.id, b.id))
    return all.slice(0, count)
  }

  /** All members, bucket by bucket. */
  nodes (): TableNode[] {
    return this.#buckets.flatMap((b) => b.nodes)
  }

  /**
   * Members to ping: in each bucket, the least recently seen questionable one (BEP 5 pings those before giving their
   * place away), at most `max` in all, skipping ids `busy` says are being pinged already.
   */
  questionable (max: number, busy: (node: TableNode) => boolean = () => false): TableNode[] {
    const out: TableNode[] = []
    for (const b of this.#buckets) {
      if (out.length >= max) break
      let pick: TableNode | undefined
      for (const n of b.nodes) {
        if (this.isGood(n) || busy(n)) continue
        if (pick === undefined || n.lastSeen < pick.lastSeen) pick = n
      }
      if (pick !== undefined) out.push(pick)
    }
    return out
  }

  /** The least recently seen questionable member of the bucket `id` falls in (the one to ping when it is full). */
  questionableIn (id: Uint8Array, busy: (node: TableNode) => boolean = () => false): TableNode | undefined {
    let pick: TableNode | undefined
    for (const n of this.#bucketOf(id).nodes) {
      if (this.isGood(n) || busy(n)) continue
      if (pick === undefined || n.lastSeen < pick.lastSeen) pick = n
    }
    return pick
  }

  /** Indexes of buckets not changed for `ageMs` (BEP 5: refresh them with a find_node for a random id in range). */
  staleBuckets (ageMs: number): number[] {
    const cutoff = this.#now() - ageMs
    const out: number[] = []
    this.#buckets.forEach((b, i) => { if (b.lastChanged <= cutoff) out.push(i) })
    return out
  }

  /** Mark a bucket refreshed (a lookup into its range was started). */
  touchBucket (index: number): void {
    const b = this.#buckets[index]
    if (b !== undefined) b.lastChanged = this.#now()
  }

  /** Members per bucket and replacements per bucket, for stats and tests. */
  shape (): Array<{ nodes: number, replacements: number }> {
    return this.#buckets.map((b) => ({ nodes: b.nodes.length, replacements: b.replacements.length }))
  }

  #insert (b: Bucket, node: TableNode, now: number): void {
    b.nodes.push(node)
    b.lastChanged = now
    this.#byEndpoint.set(endpointKey(node.host, node.port), node)
    const r = b.replacements.findIndex((n) => n.id.equals(node.id))
    if (r !== -1) b.replacements.splice(r, 1)
  }

  #removeAt (b: Bucket, i: number): void {
    const [node] = b.nodes.splice(i, 1)
    if (node !== undefined) this.#byEndpoint.delete(endpointKey(node.host, node.port))
  }

  /** Move the best replacement (most recently answered, else most recently heard) into the bucket. */
  #promote (b: Bucket): void {
    while (b.nodes.length < this.k && b.replacements.length > 0) {
      let best = 0
      for (let i = 1; i < b.replacements.length; i++) {
        const r = b.replacements[i] as TableNode
        const cur = b.replacements[best] as TableNode
        if (r.lastResponse > cur.lastResponse || (r.lastResponse === cur.lastResponse && r.lastSeen > cur.lastSeen)) best = i
      }
      const [node] = b.replacements.splice(best, 1)
      if (node === undefined) break
      if (this.#byEndpoint.has(endpointKey(node.host, node.port))) continue
      if (this.#restrictIps && !this.#ipAllowed(b, node)) continue
      this.#insert(b, node, this.#now())
    }
  }

  #addReplacement (b: Bucket, node: TableNode): void {
    if (this.#maxReplacements <= 0) return
    const i = b.replacements.findIndex((n) => n.id.equals(node.id))
    if (i !== -1) {
      const old = b.replacements[i] as TableNode
      b.replacements.splice(i, 1)
      if (old.host === node.host && old.port === node.port) node.lastResponse = Math.max(node.lastResponse, old.lastResponse)
    }
    if (b.replacements.length >= this.#maxReplacements) {
      // Drop an unverified one first, else the oldest.
      const unverified = b.replacements.findIndex((n) => n.lastResponse === 0)
      b.replacements.splice(unverified === -1 ? 0 : unverified, 1)
    }
    b.replacements.push(node)
  }

  /** Split the last bucket: nodes sharing more bits with us than its index move to a new last bucket. */
  #split (): void {
    const index = this.#buckets.length - 1
    const old = this.#buckets[index] as Bucket
    const next: Bucket = { nodes: [], replacements: [], lastChanged: old.lastChanged }
    const deeper = (n: TableNode): boolean => commonPrefixBits(n.id, this.id) > index
    next.nodes = old.nodes.filter(deeper)
    old.nodes = old.nodes.filter((n) => !deeper(n))
    next.replacements = old.replacements.filter(deeper)
    old.replacements = old.replacements.filter((n) => !deeper(n))
    this.#buckets.push(next)
  }

  #ipAllowed (b: Bucket, node: Contact): boolean {
    if (isLocalAddress(node.host)) return true
    const prefix = subnetKey(node.host)
    return !b.nodes.some((n) => subnetKey(n.host) === prefix)
  }
}

export function endpointKey (host: string, port: number): string {
  return `${host}|${port}`
}

/** The /24 of an IPv4 address or the /64 of an IPv6 one, as a string. */
function subnetKey (host: string): string {
  const bytes = ipBytes(host)
  if (bytes === undefined) return host
  return bytes.subarray(0, bytes.length === 4 ? 3 : 8).toString('hex')
}
