export {
  SeedTrackerClient, trackerBaseUrl,
  type LegacyPeer, type LookupResult, type CatalogueEntry, type Registration, type RegisterResult
} from './seed-tracker.js'
export {
  announce, scrape, announceUrl, scrapeUrl, parseAnnounceReply, percentEncodeBytes, TrackerFailureError,
  ANNOUNCE_MAX_REPLY_BYTES, ANNOUNCE_MAX_PEERS,
  type AnnounceRequest, type AnnounceResult, type AnnounceEventName, type ScrapeStats, type ScrapeOptions
} from './announce.js'
export {
  decodeCompactPeers, decodeCompactPeers6, encodeCompactPeers, parseIPv4, parseIPv6, formatIPv4, formatIPv6,
  COMPACT_PEER_BYTES, COMPACT_PEER6_BYTES, type PeerAddress
} from './compact.js'
