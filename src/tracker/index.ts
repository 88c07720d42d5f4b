/**
 * The tracker server: the seed's JSON API with a persistent, searchable catalogue and peer pruning, and the
 * BitTorrent tracker protocols over in-memory swarms: HTTP (announce, scrape) and UDP (BEP 15), sharing the swarms.
 */
export { createTracker, buildTrackerApp, type Tracker, type TrackerAddress, type TrackerOptions } from './tracker.js'
export { trackerBanner } from './banner.js'
export { tcpProbe, type ProbeFn } from './probe.js'
export type { PruneReport } from './prober.js'
export { SCHEMA_VERSION, type StoreLimits } from './store.js'
export * as trackerLimits from './limits.js'
export { Swarms, type SwarmLimits, type SwarmStats } from './swarms.js'
export { parseAnnounce, parseScrape, AnnounceFailure, type AnnounceParams, type AnnounceEvent } from './announce-params.js'
export { UdpTracker, type UdpTrackerContext, type UdpTrackerStats } from './udp.js'
export { ConnectionIds, type ConnectionIdOptions } from './connection-ids.js'
export { peerAddress } from './peer-address.js'
export { TrackerLog, LOG_FORMATS, type LogFormat, type LogLevel, type LogStream } from './log.js'
export { TrackerMetrics, LATENCY_BUCKETS_S, type MetricsSources, type AnnounceResult, type RegistrationResult, type RejectReason } from './metrics.js'
