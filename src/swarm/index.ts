export {
  downloadLegacy,
  type LegacyDownloadOptions, type LegacyDownloadResult, type LegacyProgress, type LegacyDownloadEvent
} from './legacy-download.js'
export { Transfer, TICK_MS, MAX_PEERS_PER_TRANSFER, UPLOAD_SLOTS, BAN_STRIKES, type TransferOptions, type TransferEvents, type TransferEventMap } from './transfer.js'
export { TypedEmitter, type EventMap } from './emitter.js'
export { PiecePicker, ENDGAME_MAX_DUPLICATES, type BlockRef, type PickerOptions } from './picker.js'
export { PeerSession } from './peer-session.js'
export { LegacySource, LEGACY_SOURCE_WORKERS, type LegacySourceOptions } from './legacy-source.js'
export { RateMeter } from './rate.js'
export { RateLimiter, LimitPair, type Limit, type LimiterClock } from './rate-limiter.js'
export { CandidateList, DIAL_RETRY_BASE_MS, DIAL_RETRY_MAX_MS, MAX_CANDIDATES, MAX_DIAL_FAILURES, type Candidate, type PeerSource } from './candidates.js'
export type { Peer } from './peer.js'
export { MetadataSwarm, MAX_EARLY_BITFIELD_BYTES, MAX_EARLY_HAVES, type AdoptedWire, type EarlyState } from './metadata-swarm.js'
export { ExtensionRegistry, type ExtensionPeer, type PeerExtension } from './extensions.js'
export { UtPex, UT_PEX, decodePexMessage, encodePexMessage, PEX_INTERVAL_MS, MAX_PEX_ACCEPTED, MAX_PEX_MESSAGE_BYTES, type PexContact, type PexMessage } from './ut-pex.js'
export { UtMetadata, UT_METADATA } from './ut-metadata.js'
