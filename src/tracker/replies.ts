/**
 * The JSON replies of the seed's routes, built with their keys in sorted order as server.py's Flask
 * `jsonify` writes them (clients parse JSON, but equal bytes make comparisons with the seed trivial).
 */
import { decodeRanges, expandRanges } from './chunk-ranges.js'
import { DEFAULT_BOUND_CHUNK_SIZE, TRACKER_LOOKUP_MAX_CHUNK_BYTES, TRACKER_LOOKUP_MAX_PEERS } from './limits.js'
import type { FileEntry, PeerListing, RegisterResult } from './store.js'

export interface RegisterReply {
  file_hash: string
  /** Only when the registration named an info hash: the one the catalogue holds for the file. */
  info_hash?: string
  message: string
  peers_count: number
  /** Only when the registration uploaded metainfo and the catalogue holds one for the file: where it is served. */
  torrent_url?: string
}

/**
 * A peer in a lookup. `chunks` (the seed's key: every chunk id) in the plain form; `chunk_ranges` instead when the
 * client asked for `chunk_format=ranges`: the same ids as our stored text, inclusive runs ascending and comma separated
 * (`0-1023,2000,2005-2010`; '' for none).
 */
export interface LookupPeer {
  chunk_ranges?: string
  chunk_size?: number
  chunks?: number[]
  ip: string
  port: number
}

/** How a lookup lists each peer's chunk ids: `list` (the seed's `chunks`, the default) or `ranges` (`chunk_ranges`). */
export type ChunkFormat = 'list' | 'ranges'
export const CHUNK_FORMATS: readonly ChunkFormat[] = ['list', 'ranges']

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
  /** Bytes of chunk lists (as they are written in the reply's JSON) in one reply. */
  maxChunkBytes: number
}

export const DEFAULT_LOOKUP_BUDGET: Readonly<LookupBudget> = { maxPeers: TRACKER_LOOKUP_MAX_PEERS, maxChunkBytes: TRACKER_LOOKUP_MAX_CHUNK_BYTES }

/** Decimal digits of a non-negative integer. */
function digits (n: number): number {
  let d = 1
  while (n >= 10) {
    n = Math.floor(n / 10)
    d++
  }
  return d
}

/**
 * Bytes of a peer's chunk list in a reply's JSON, without reading the list: for `ranges` exactly its stored text and
 * two quotes; for `list` at most its ids as wide as the file's largest possible id, each with a comma, and two
 * brackets (the peer's `chunk_size`, else the 1 KiB dialect that bounds its ids at register, gives that id).
 */
export function chunkListBytes (listing: Pick<PeerListing, 'chunkCount' | 'chunkSize' | 'chunksBytes'>, fileSize: number, format: ChunkFormat): number {
  if (format === 'ranges') return listing.chunksBytes + 2
  if (listing.chunkCount === 0) return 2
  const lastId = Math.max(0, Math.ceil(fileSize / (listing.chunkSize ?? DEFAULT_BOUND_CHUNK_SIZE)) - 1)
  return listing.chunkCount * (digits(lastId) + 1) + 1
}

/** The peers a lookup lists, and what their chunk lists cost. */
export interface LookupPlan {
  peers: PeerListing[]
  /** Bytes of their chunk lists in the reply (at most: see chunkListBytes), at most the budget's. */
  chunkBytes: number
}

/**
 * Chooses a lookup's peers: in registration order, at most `maxPeers`, their chunk lists at most `maxChunkBytes` in
 * all; a peer whose list would pass the budget is left out (a later, smaller one may still fit). O(listings), no list
 * is read.
 */
export function planLookup (listings: readonly PeerListing[], fileSize: number, format: ChunkFormat, budget: LookupBudget = DEFAULT_LOOKUP_BUDGET): LookupPlan {
  const peers: PeerListing[] = []
  let chunkBytes = 0
  for (const listing of listings) {
    if (peers.length >= budget.maxPeers) break
    const bytes = chunkListBytes(listing, fileSize, format)
    if (chunkBytes + bytes > budget.maxChunkBytes) continue
    chunkBytes += bytes
    peers.push(listing)
  }
  return { peers, chunkBytes }
}

/**
 * A lookup reply of the planned peers, their chunk lists read by `chunksOf` (the stored text; undefined for a peer
 * gone since it was listed, which is left out). Peers in registration order, `chunk_size` only for a peer that
 * registered one; `chunks` expanded ascending, or `chunk_ranges` as stored.
 */
export function lookupReply (
  file: Pick<FileEntry, 'fileHash' | 'fileName' | 'fileSize'>,
  plan: LookupPlan,
  chunksOf: (id: number) => string | undefined,
  format: ChunkFormat = 'list',
  join?: BtJoin & { btPeers: BtPeer[] }
): LookupReply {
  const listed: LookupPeer[] = []
  for (const peer of plan.peers) {
    const text = chunksOf(peer.id)
    if (text === undefined) continue
    // Keys in sorted order, as Flask's jsonify writes them.
    listed.push({
      ...(format === 'ranges' ? { chunk_ranges: text } : {}),
      ...(peer.chunkSize === undefined ? {} : { chunk_size: peer.chunkSize }),
      ...(format === 'list' ? { chunks: expandRanges(decodeRanges(text)) } : {}),
      ip: peer.ip,
      port: peer.port
    })
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
