/**
 * The join of the catalogue (SQLite, by file hash) and the announce swarms (memory, by info hash): a file whose
 * registration named its info hash is answered in `/lookup`, `/files` and `/register` with its magnet link, the
 * swarm's seeders and leechers, its completed downloads (stored plus not yet written), the URL of its metainfo when
 * one was uploaded, and a peer count over both kinds of peers.
 */
import type { FastifyRequest } from 'fastify'
import { isIP } from 'node:net'
import { magnetLink } from '../content/magnet.js'
import { PASSKEY_PARAM, passkeyOf } from './access.js'
import type { CompletedCounts } from './catalogue-completed.js'
import { TRACKER_LOOKUP_MAX_BT_PEERS } from './limits.js'
import type { BtJoin, BtPeer } from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'
import { endpointKey, type SwarmPeer, type Swarms } from './swarms.js'

/** A Host header we put into a magnet link: a DNS name or IPv4, or a bracketed IPv6, with an optional port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/

/**
 * This tracker's base URL as the client reached it: `http://<Host header>` (`https://` on a TLS connection). Without
 * a usable Host header (HTTP/1.0), the address and port the request came in on. The Host header is the client's own
 * word: a client that lies about it only gets links that lie back to it.
 */
export function trackerBaseOf (request: FastifyRequest): string {
  const scheme = request.protocol === 'https' ? 'https' : 'http'
  const host = request.headers.host
  if (typeof host === 'string' && HOST.test(host)) return `${scheme}://${host}`
  const address = request.socket.localAddress ?? '127.0.0.1'
  const literal = isIP(address) === 6 ? `[${address}]` : address
  return `${scheme}://${literal}:${request.socket.localPort ?? 80}`
}

/** A passkey we echo into a link: URL-safe characters only (a real key is hex), bounded. */
const LINK_PASSKEY = /^[0-9A-Za-z_-]{1,128}$/

/**
 * The query the links a reply hands out (magnet announce URL, torrent_url) carry: `?passkey=KEY` when the request
 * carried one (a private tracker refuses announces and downloads without it; the key is the requester's own), else ''.
 */
export function linkQueryOf (request: FastifyRequest): string {
  const key = passkeyOf(request.raw.url ?? request.url)
  return key !== undefined && LINK_PASSKEY.test(key) ? `?${PASSKEY_PARAM}=${key}` : ''
}

/** This tracker's announce URL as the client reached it (see trackerBaseOf). */
export function announceUrlOf (request: FastifyRequest): string {
  return `${trackerBaseOf(request)}/announce`
}

/** Where this tracker serves the metainfo of an info hash: `<base>/torrent/<info hash>`, `query` (linkQueryOf) after. */
export function torrentUrlOf (base: string, infoHash: string, query = ''): string {
  return `${base}/torrent/${infoHash}${query}`
}

export class CatalogueJoin {
  readonly #store: TrackerStore
  readonly #swarms: Swarms
  readonly #now: () => number
  readonly #completed: CompletedCounts | undefined
  readonly #picked: SwarmPeer[] = []

  constructor (store: TrackerStore, swarms: Swarms, now: () => number, completed?: CompletedCounts) {
    this.#store = store
    this.#swarms = swarms
    this.#now = now
    this.#completed = completed
  }

  /**
   * The BitTorrent side of a file; undefined when no registration named its info hash. `base`: trackerBaseOf; `query`:
   * linkQueryOf, added to the links.
   */
  join (file: FileEntry, base: string, query = ''): BtJoin | undefined {
    if (file.infoHash === undefined) return undefined
    const swarm = this.#swarms.get(file.infoHash, this.#now())
    const join: BtJoin = {
      infoHash: file.infoHash,
      magnet: magnetLink({ infoHash: file.infoHash, name: file.fileName, trackers: [`${base}/announce${query}`] }),
      seeders: swarm?.seeders.length ?? 0,
      leechers: swarm?.leechers.length ?? 0,
      completed: this.completed(file)
    }
    if (file.hasMetainfo) join.torrentUrl = torrentUrlOf(base, file.infoHash, query)
    return join
  }

  /** Completed downloads of a file: those written to the catalogue and those still pending. */
  completed (file: Pick<FileEntry, 'infoHash' | 'completed'>): number {
    return file.completed + (file.infoHash === undefined ? 0 : this.#completed?.pending(file.infoHash) ?? 0)
  }

  /** Live seeders announcing an info hash (0 when it has no swarm). */
  seeders (infoHash: string): number {
    return this.#swarms.get(infoHash, this.#now())?.seeders.length ?? 0
  }

  /** Up to `max` live announced peers of a file, picked at random. */
  btPeers (file: FileEntry, max = TRACKER_LOOKUP_MAX_BT_PEERS): BtPeer[] {
    if (file.infoHash === undefined) return []
    const now = this.#now()
    const swarm = this.#swarms.get(file.infoHash, now)
    if (swarm === undefined) return []
    this.#swarms.pick(swarm, undefined, max, this.#picked)
    const peers = this.#picked.map((peer) => ({ ip: peer.ip, port: peer.port }))
    this.#picked.length = 0
    return peers
  }

  /**
   * Peers of a file: `legacyCount` registered ones plus the announced ones, an endpoint (ip, port) that did both
   * counted once (a hybrid peer serves both protocols on one port).
   */
  peersCount (file: Pick<FileEntry, 'fileHash' | 'infoHash'>, legacyCount: number): number {
    if (file.infoHash === undefined) return legacyCount
    const swarm = this.#swarms.get(file.infoHash, this.#now())
    if (swarm === undefined || swarm.size === 0) return legacyCount
    let both = 0
    if (legacyCount > 0) {
      for (const { ip, port } of this.#store.endpointsOf(file.fileHash)) {
        if (swarm.peers.has(endpointKey(ip, port))) both++
      }
    }
    return legacyCount + swarm.size - both
  }
}
