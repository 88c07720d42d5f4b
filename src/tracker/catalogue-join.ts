/**
 * The join of the catalogue (SQLite, by file hash) and the announce swarms (memory, by info hash): a file whose
 * registration named its info hash is answered in `/lookup`, `/files` and `/register` with its magnet link, the
 * swarm's seeders and leechers, and a peer count over both kinds of peers.
 */
import type { FastifyRequest } from 'fastify'
import { isIP } from 'node:net'
import { magnetLink } from '../content/magnet.js'
import { TRACKER_LOOKUP_MAX_BT_PEERS } from './limits.js'
import type { BtJoin, BtPeer } from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'
import { endpointKey, type SwarmPeer, type Swarms } from './swarms.js'

/** A Host header we put into a magnet link: a DNS name or IPv4, or a bracketed IPv6, with an optional port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/

/**
 * This tracker's announce URL as the client reached it: `http://<Host header>/announce`. Without a usable Host
 * header (HTTP/1.0), the address and port the request came in on. The Host header is the client's own word: a
 * client that lies about it only gets a magnet link that lies back to it.
 */
export function announceUrlOf (request: FastifyRequest): string {
  const host = request.headers.host
  if (typeof host === 'string' && HOST.test(host)) return `http://${host}/announce`
  const address = request.socket.localAddress ?? '127.0.0.1'
  const literal = isIP(address) === 6 ? `[${address}]` : address
  return `http://${literal}:${request.socket.localPort ?? 80}/announce`
}

export class CatalogueJoin {
  readonly #store: TrackerStore
  readonly #swarms: Swarms
  readonly #now: () => number
  readonly #picked: SwarmPeer[] = []

  constructor (store: TrackerStore, swarms: Swarms, now: () => number) {
    this.#store = store
    this.#swarms = swarms
    this.#now = now
  }

  /** The BitTorrent side of a file; undefined when no registration named its info hash. */
  join (file: FileEntry, announceUrl: string): BtJoin | undefined {
    if (file.infoHash === undefined) return undefined
    const swarm = this.#swarms.get(file.infoHash, this.#now())
    return {
      infoHash: file.infoHash,
      magnet: magnetLink({ infoHash: file.infoHash, name: file.fileName, trackers: [announceUrl] }),
      seeders: swarm?.seeders.length ?? 0,
      leechers: swarm?.leechers.length ?? 0
    }
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
