export {
  SeedTrackerClient, trackerBaseUrl, passkeyParam,
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
export {
  UdpTrackerClient, udpTrackerClient, isUdpTrackerUrl, parseUdpTrackerUrl,
  UDP_TRACKER_TIMEOUT_MS, UDP_TRACKER_RETRANSMIT_MS, UDP_CONNECTION_ID_TTL_MS, UDP_TRACKER_IDLE_MS, UDP_TRACKER_MAX_SESSIONS,
  UDP_ANNOUNCE_MAX_PEERS, type UdpTrackerClientOptions, type UdpTrackerAddress
} from './udp-tracker-client.js'
export * as udpTrackerMessages from './udp-tracker-messages.js'
export type { UdpTrackerRequest, UdpTrackerReply, UdpAnnounceFields, UdpScrapeEntry } from './udp-tracker-messages.js'
export {
  searchFiles, catalogueUrl, CATALOGUE_SORT_KEYS, CATALOGUE_ORDERS,
  type CatalogueSearch, type CatalogueFile, type CatalogueResult, type CatalogueClientOptions, type CatalogueSortKey, type CatalogueOrder
} from './catalogue-client.js'
