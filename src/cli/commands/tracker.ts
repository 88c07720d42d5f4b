/** `p2pshare tracker`: the seed's server.py, with a persistent catalogue. Runs until Ctrl+C. */
import { DEFAULT_TRACKER_HOST, DEFAULT_TRACKER_PORT } from '../../constants.js'
import { createTracker, trackerBanner } from '../../tracker/index.js'
import { untilAborted, type CommandContext } from '../io.js'

export interface TrackerCommandOptions {
  host: string
  port: number
  db: string
  /** Seconds between liveness probes of registered peers; 0 disables pruning. */
  probeInterval: number
}

export const TRACKER_DEFAULTS = { host: DEFAULT_TRACKER_HOST, port: DEFAULT_TRACKER_PORT, db: 'p2pshare-tracker.db', probeInterval: 60 }

export async function trackerCommand (options: TrackerCommandOptions, ctx: CommandContext): Promise<number> {
  const tracker = await createTracker({ db: options.db, logger: ctx.verbose, probeIntervalMs: options.probeInterval * 1000 })
  try {
    const address = await tracker.listen({ host: options.host, port: options.port })
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    ctx.out(trackerBanner(`http://${host}:${address.port}`))
    ctx.out(`Catalogue: ${options.db}. Press Ctrl+C to stop.`)
    await untilAborted(ctx.signal)
  } finally {
    await tracker.close()
  }
  ctx.out('Tracker stopped.')
  return 0
}
