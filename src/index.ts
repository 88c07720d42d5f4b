/**
 * p2pshare's public API. The CLI, the tracker's HTTP routes and (later) the web UI are thin edges over these.
 */
export * from './errors.js'
export * as constants from './constants.js'
export * from './content/index.js'
export * from './storage/index.js'
export * from './wire/index.js'
export * from './swarm/index.js'
export * from './discovery/index.js'
export * from './node/index.js'
export { createTracker, buildTrackerApp, trackerBanner, type Tracker, type TrackerOptions } from './tracker/index.js'
export { main, type CliIO } from './cli/main.js'
export { Session, type SessionOptions, type SessionApi, type TorrentSummary, type TorrentDetail, type TorrentState, type AddSource, type AddOptions, type SessionSettings, type SessionStats } from './session/index.js'
