/**
 * The tracker server: the seed's JSON API with a persistent, searchable catalogue and peer pruning, and the
 * BitTorrent HTTP tracker protocol (announce, scrape) over in-memory swarms.
 */
export { createTracker, buildTrackerApp, type Tracker, type TrackerAddress, type TrackerOptions } from './tracker.js'
export { trackerBanner } from './banner.js'
export { tcpProbe, type ProbeFn } from './probe.js'
export type { PruneReport } from './prober.js'
export { SCHEMA_VERSION, type StoreLimits } from './store.js'
export * as trackerLimits from './limits.js'
export { Swarms, type SwarmLimits, type SwarmStats } from './swarms.js'
export { parseAnnounce, parseScrape, AnnounceFailure, type AnnounceParams, type AnnounceEvent } from './announce-params.js'
