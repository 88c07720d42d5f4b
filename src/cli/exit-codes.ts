/**
 * Exit codes of the CLI: one per failure a user can act on (the seed's Troubleshooting section), documented in the
 * README. Scripts can rely on them.
 */
import { isP2PError } from '../errors.js'

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  trackerUnreachable: 3,
  notFound: 4,
  noPeers: 5,
  peersFailed: 6,
  hashMismatch: 7,
  portInUse: 8,
  inputFile: 9,
  nodeUnreachable: 10,
  nodeRefused: 11,
  interrupted: 130
} as const

const BY_CODE: Record<string, number> = {
  ERR_VALIDATION: EXIT.usage,
  ERR_TRACKER_UNREACHABLE: EXIT.trackerUnreachable,
  ERR_TRACKER_REPLY: EXIT.trackerUnreachable,
  ERR_TRACKER_REJECTED: EXIT.error,
  // A download's tracker refused its announce (a failure reason: a revoked passkey, an unregistered torrent).
  ERR_TRACKER_FAILURE: EXIT.trackerUnreachable,
  ERR_NOT_FOUND: EXIT.notFound,
  ERR_NO_PEERS: EXIT.noPeers,
  ERR_NO_METADATA: EXIT.noPeers,
  ERR_PEERS_FAILED: EXIT.peersFailed,
  ERR_HASH_MISMATCH: EXIT.hashMismatch,
  ERR_PORT_IN_USE: EXIT.portInUse,
  ERR_PORT_DENIED: EXIT.portInUse,
  ERR_LISTEN: EXIT.portInUse,
  ERR_INPUT: EXIT.inputFile,
  ERR_OUTPUT: EXIT.inputFile,
  ERR_OUTPUT_EXISTS: EXIT.inputFile,
  ERR_NO_SPACE: EXIT.inputFile,
  ERR_TRACKER_DB: EXIT.inputFile,
  // A .torrent that cannot be used: malformed, or naming paths we refuse to write.
  ERR_METAINFO: EXIT.inputFile,
  ERR_BENCODE: EXIT.inputFile,
  ERR_ABORTED: EXIT.interrupted,
  // Remote commands: no node at --node, or it refused the credentials.
  ERR_NODE_UNREACHABLE: EXIT.nodeUnreachable,
  ERR_AUTH: EXIT.nodeRefused
}

export function exitCodeFor (err: unknown): number {
  if (!isP2PError(err)) return EXIT.error
  if (err.code.startsWith('ERR_PATH_')) return EXIT.inputFile
  return BY_CODE[err.code] ?? EXIT.error
}
