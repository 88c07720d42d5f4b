/** Options of `p2pshare tracker`, apart from the command so that parsing them does not load the tracker. */
import { DEFAULT_TRACKER_HOST, DEFAULT_TRACKER_PORT } from '../constants.js'

export interface TrackerCommandOptions {
  host: string
  port: number
  db: string
  /** Seconds between liveness probes of registered peers; 0 disables pruning. */
  probeInterval: number
}

export const TRACKER_DEFAULTS = { host: DEFAULT_TRACKER_HOST, port: DEFAULT_TRACKER_PORT, db: 'p2pshare-tracker.db', probeInterval: 60 }
