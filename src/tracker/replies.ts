/**
 * The JSON replies of the seed's routes, built with their keys in sorted order as server.py's Flask
 * `jsonify` writes them (clients parse JSON, but equal bytes make comparisons with the seed trivial).
 */
import { expandRanges } from './chunk-ranges.js'
import { TRACKER_LOOKUP_MAX_CHUNK_IDS, TRACKER_LOOKUP_MAX_PEERS } from './limits.js'
import type { FileEntry, RegisterResult, StoredPeer } from './store.js'

export interface RegisterReply {
  file_hash: string
  /** Only when the registration named an info hash: the one the catalogue holds for the file. */
  info_hash?: string
  message: string
  peers_count: number
  /** Only when the registration uploaded metainfo and the catalogue holds one for the file: where it is served. */
  torrent_url?: string
}

export interface LookupPeer {
  chunk_size?: number
  chunks: number[]
  ip: string
  port: number
}

/** An announced (BitTorrent) peer in a lookup. */
export interface BtPeer {
  ip: string
  port: number
}

/** The keys a file with a known info hash adds to the seed's shapes (all absent when it has none). */
export interface BtKeys {
  /** Peers that announced `completed` for the info hash, ever (kept in the catalogue). */
  completed: number
  info_hash: string
  /** Peers announcing left = 0 / left > 0 to the info hash's swarm. */
  leechers: number
  /** A magnet link with the file's name and this tracker's announce URL. */
  magnet: string
  seeders: number
}

export interface LookupReply extends Partial<BtKeys> {
  /** Announced peers (at most TRACKER_LOOKUP_MAX_BT_PEERS, picked at random); only with `info_hash`. */
  bt_peers?: BtPeer[]
  file_hash: string
  file_name: string
  file_size: number
  peers: LookupPeer[]
  /** Where the file's metainfo is served, when a registration uploaded it (with the BitTorrent keys only). */
  torrent_url?: string
}

export interface FilesEntry extends Omit<Partial<BtKeys>, 'completed'> {
  /** When the file was first registered, ms since the epoch. */
  added_at: number
  /** Completed downloads (BitTorrent `event=completed`, once per peer); 0 for a file without an info hash. */
  completed: number
  file_hash: string
  file_name: string
  file_size: number
  peers_count: number
  /** Where the file's metainfo is served; only when a registration uploaded it. */
  torrent_url?: string
}

export interface FilesReply {
  files: FilesEntry[]
  /** Files matching the search, before paging. */
  total: number
}

/** What the announce side knows of a file with an info hash. */
export interface BtJoin {
  infoHash: string
  magnet: string
  seeders: number
  leechers: number
  completed: number
  /** The metainfo's URL on this tracker, when one is stored. */
  torrentUrl?: string
}

/**
 * The register reply. `info_hash` only when the registration named one; `torrent_url` only when it uploaded
 * metainfo and the catalogue holds metainfo for the file (`torrentUrl`).
 */
export function registerReply (fileHash: string, result: RegisterResult, peersCount = result.peersCount, namedInfoHash = false, torrentUrl?: string): RegisterReply {
  const message = result.updated ? 'Peer updated successfully' : 'Peer registered successfully'
  // Keys in sorted order, as Flask's jsonify writes them.
  const reply: RegisterReply = namedInfoHash && result.infoHash !== undefined
    ? { file_hash: fileHash, info_hash: result.infoHash, message, peers_count: peersCount }
    : { file_hash: fileHash, message, peers_count: peersCount }
  if (torrentUrl !== undefined) reply.torrent_url = torrentUrl
  return reply
}

export interface LookupBudget {
  maxPeers: number
  maxChunkIds: number
}

/**
 * A lookup reply. Peers come in registration order, their chunk ids expanded ascending, `chunk_size` only
 * for a peer that registered one. The reply is bounded: at most `maxPeers` peers and `maxChunkIds` ids in
 * all; a peer that would pass the id budget is left out (a later, smaller one may still fit).
 */
export function lookupReply (
  file: Pick<FileEntry, 'fileHash' | 'fileName' | 'fileSize'>,
  peers: readonly StoredPeer[],
  budget: LookupBudget = { maxPeers: TRACKER_LOOKUP_MAX_PEERS, maxChunkIds: TRACKER_LOOKUP_MAX_CHUNK_IDS },
  join?: BtJoin & { btPeers: BtPeer[] }
): LookupReply {
  const listed: LookupPeer[] = []
  let ids = 0
  for (const peer of peers) {
    if (listed.length >= budget.maxPeers) break
    if (ids + peer.chunkCount > budget.maxChunkIds) continue
    ids += peer.chunkCount
    const entry: LookupPeer = { chunks: expandRanges(peer.chunks), ip: peer.ip, port: peer.port }
    listed.push(peer.chunkSize === undefined ? entry : { chunk_size: peer.chunkSize, ...entry })
  }
  if (join === undefined) return { file_hash: file.fileHash, file_name: file.fileName, file_size: file.fileSize, peers: listed }
  const reply: LookupReply = {
    bt_peers: join.btPeers,
    completed: join.completed,
    file_hash: file.fileHash,
    file_name: file.fileName,
    file_size: file.fileSize,
    info_hash: join.infoHash,
    leechers: join.leechers,
    magnet: join.magnet,
    peers: listed,
    seeders: join.seeders
  }
  if (join.torrentUrl !== undefined) reply.torrent_url = join.torrentUrl
  return reply
}

/**
 * One `/files` entry. `peersCount` is the caller's count (legacy and announced peers, distinct by endpoint);
 * the BitTorrent keys only for a file with an info hash, `torrent_url` only with stored metainfo.
 */
export function filesEntry (file: FileEntry, peersCount: number, join?: BtJoin): FilesEntry {
  if (join === undefined) {
    return {
      added_at: file.addedAt,
      completed: file.completed,
      file_hash: file.fileHash,
      file_name: file.fileName,
      file_size: file.fileSize,
      peers_count: peersCount
    }
  }
  const entry: FilesEntry = {
    added_at: file.addedAt,
    completed: join.completed,
    file_hash: file.fileHash,
    file_name: file.fileName,
    file_size: file.fileSize,
    info_hash: join.infoHash,
    leechers: join.leechers,
    magnet: join.magnet,
    peers_count: peersCount,
    seeders: join.seeders
  }
  if (join.torrentUrl !== undefined) entry.torrent_url = join.torrentUrl
  return entry
}
