/**
 * The JSON replies of the seed's routes, built with their keys in sorted order as server.py's Flask
 * `jsonify` writes them (clients parse JSON, but equal bytes make comparisons with the seed trivial).
 */
import { expandRanges } from './chunk-ranges.js'
import { TRACKER_LOOKUP_MAX_CHUNK_IDS, TRACKER_LOOKUP_MAX_PEERS } from './limits.js'
import type { FileEntry, FileSummary, RegisterResult, StoredPeer } from './store.js'

export interface RegisterReply {
  file_hash: string
  message: string
  peers_count: number
}

export interface LookupPeer {
  chunk_size?: number
  chunks: number[]
  ip: string
  port: number
}

export interface LookupReply {
  file_hash: string
  file_name: string
  file_size: number
  peers: LookupPeer[]
}

export interface FilesReply {
  files: Array<{ file_hash: string, file_name: string, file_size: number, peers_count: number }>
}

export function registerReply (fileHash: string, result: RegisterResult): RegisterReply {
  return {
    file_hash: fileHash,
    message: result.updated ? 'Peer updated successfully' : 'Peer registered successfully',
    peers_count: result.peersCount
  }
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
  file: FileEntry,
  peers: readonly StoredPeer[],
  budget: LookupBudget = { maxPeers: TRACKER_LOOKUP_MAX_PEERS, maxChunkIds: TRACKER_LOOKUP_MAX_CHUNK_IDS }
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
  return { file_hash: file.fileHash, file_name: file.fileName, file_size: file.fileSize, peers: listed }
}

export function filesReply (files: readonly FileSummary[]): FilesReply {
  return {
    files: files.map((f) => ({ file_hash: f.fileHash, file_name: f.fileName, file_size: f.fileSize, peers_count: f.peersCount }))
  }
}
