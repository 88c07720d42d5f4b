/** `p2pshare tracker`: the seed's server.py, with a persistent catalogue, and a BitTorrent tracker (HTTP and UDP). Runs until Ctrl+C. */
import { readFile } from 'node:fs/promises'
import { P2PError, ValidationError } from '../../errors.js'
import { createTracker, trackerBanner, TrackerLog } from '../../tracker/index.js'
import type { RateBudget } from '../../tracker/limits.js'
import { untilAborted, type CommandContext } from '../io.js'
import type { TrackerCommandOptions } from '../options.js'

/** The announce budgets (HTTP, UDP) for `--rate-limit n`. */
function announceBudgets (perSecond: number): { announce: RateBudget, udp: RateBudget } {
  const budget = { burst: 20 * perSecond, perSecond }
  return { announce: budget, udp: budget }
}

/** `--cert` and `--key` read, both or neither. */
async function readTls (options: TrackerCommandOptions): Promise<{ cert: Buffer, key: Buffer } | undefined> {
  if (options.cert === undefined && options.key === undefined) return undefined
  if (options.cert === undefined || options.key === undefined) {
    throw new ValidationError('HTTPS needs both --cert FILE and --key FILE')
  }
  const read = async (flag: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file)
    } catch (err) {
      throw new P2PError('ERR_INPUT', `Cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return { cert: await read('--cert', options.cert), key: await read('--key', options.key) }
}

export async function trackerCommand (options: TrackerCommandOptions, ctx: CommandContext): Promise<number> {
  const tls = await readTls(options)
  // Logs go to stderr, so stdout keeps the banner alone; -v adds debug lines (health checks and metrics scrapes).
  const log = options.log === 'off'
    ? undefined
    : new TrackerLog({ stream: ctx.io.stderr, format: options.log, level: ctx.verbose ? 'debug' : 'info' })
  const tracker = await createTracker({
    db: options.db,
    logger: log ?? false,
    https: tls,
    shutdownTimeoutMs: options.shutdownTimeout * 1000,
    probeIntervalMs: options.probeInterval * 1000,
    announceIntervalS: options.announceInterval,
    udp: options.udp,
    private: options.private,
    // Abuse limits: --rate-limit sets the announce budgets (a burst of 20 s at that rate, as the defaults); off disables all.
    rateLimits: options.rateLimit === 'off'
      ? false
      : options.rateLimit === undefined ? undefined : announceBudgets(options.rateLimit)
  })
  let listening = false
  try {
    const address = await tracker.listen({ host: options.host, port: options.port })
    listening = true
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    const url = `${tls === undefined ? 'http' : 'https'}://${host}:${address.port}`
    ctx.out(trackerBanner(url))
    if (address.udpPort !== undefined) ctx.out(`UDP tracker (BEP 15) on udp://${host}:${address.udpPort}`)
    ctx.out(`Web page: ${url}/  Metrics: ${url}/metrics`)
    if (options.private) {
      // Private tracker (access.ts): say what users need, and why there is no UDP.
      ctx.out(`Private tracker: every request needs ?passkey=KEY (keys: p2pshare tracker keys add LABEL --db ${options.db}); UDP is off, a BEP 15 announce cannot carry the key`)
    }
    ctx.out(`Catalogue: ${options.db}. Press Ctrl+C to stop.`)
    log?.info({ url, udp: address.udpPort !== undefined, db: options.db, private: options.private }, 'listening')
    await untilAborted(ctx.signal)
    log?.info({ timeout_s: options.shutdownTimeout }, 'shutting down: finishing requests in flight')
  } finally {
    const started = Date.now()
    await tracker.close()
    // A tracker that never listened failed to start: its error is the one line to print.
    if (listening) log?.info({ ms: Date.now() - started }, 'stopped')
  }
  ctx.out('Tracker stopped.')
  return 0
}
