/** `p2pshare tracker`: the seed's server.py, with a persistent catalogue, and a BitTorrent tracker (HTTP and UDP). Runs until Ctrl+C. */
import { createTracker, trackerBanner } from '../../tracker/index.js'
import { untilAborted, type CommandContext } from '../io.js'
import type { TrackerCommandOptions } from '../options.js'

export async function trackerCommand (options: TrackerCommandOptions, ctx: CommandContext): Promise<number> {
  const tracker = await createTracker({
    db: options.db,
    logger: ctx.verbose,
    probeIntervalMs: options.probeInterval * 1000,
    announceIntervalS: options.announceInterval,
    udp: options.udp
  })
  try {
    const address = await tracker.listen({ host: options.host, port: options.port })
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    ctx.out(trackerBanner(`http://${host}:${address.port}`))
    if (address.udpPort !== undefined) ctx.out(`UDP tracker (BEP 15) on udp://${host}:${address.udpPort}`)
    ctx.out(`Catalogue: ${options.db}. Press Ctrl+C to stop.`)
    await untilAborted(ctx.signal)
  } finally {
    await tracker.close()
  }
  ctx.out('Tracker stopped.')
  return 0
}
