export {
  REQUEST_VERB, LEGACY_ERRORS, encodeChunkRequest, parseChunkRequest, looksComplete, encodePublishedHeader,
  peerErrorReply, decodeBase64Reply, type LegacyRequest
} from './codec.js'
export { fetchChunk, PeerError, type FetchChunkOptions, type Throttle } from './client.js'
export { serveChunkRequest, type ChunkSource, type LegacyOutcome, type ReplyTiming } from './server.js'
