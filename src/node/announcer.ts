/**
 * Keeps a transfer's trackers informed (BEP 3 announce: started, periodic, completed, stopped) and feeds the peers
 * they return to the transfer. A tracker that fails is retried at the next round; one that does not speak the
 * BitTorrent protocol (the seed's own server.py) simply never returns peers.
 */
import { randomBytes } from 'node:crypto'
import { announce, type AnnounceEventName } from '../discovery/index.js'
import type { Transfer } from '../swarm/index.js'

/** Re-announce this often while downloading (more peers sooner), whatever longer interval the tracker asks for. */
const DOWNLOAD_REANNOUNCE_MS = 30_000
/** Never announce more often than this, whatever the tracker says. */
const MIN_REANNOUNCE_MS = 5_000
/** Never wait longer than this between announces, whatever the tracker says. */
const MAX_REANNOUNCE_MS = 86_400_000
/** The final `stopped` announce may delay shutdown by at most this. */
const STOP_TIMEOUT_MS = 2_000

/** An Azureus-style peer id: `-PS0010-` and 12 random characters. */
export function makePeerId (): Buffer {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
  const tail = [...randomBytes(12)].map(b => alphabet[b % alphabet.length]).join('')
  return Buffer.from(`-PS0010-${tail}`, 'latin1')
}

export interface AnnouncerOptions {
  trackers: readonly string[]
  transfer: Transfer
  peerId: Buffer
  port: number
  totalLength: number
  onLog?: (message: string) => void
}

export class Announcer {
  readonly #o: AnnouncerOptions
  readonly #intervals = new Map<string, number>()
  readonly #key = randomBytes(4).toString('hex')
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor (options: AnnouncerOptions) {
    this.#o = options
  }

  /** Announce `started` to every tracker, then keep re-announcing. */
  async start (): Promise<void> {
    await this.#round('started')
    this.#schedule()
  }

  async completed (): Promise<void> {
    await this.#round('completed')
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#round('stopped', STOP_TIMEOUT_MS)
  }

  #schedule (): void {
    if (this.#stopped) return
    const asked = Math.min(...this.#o.trackers.map(t => this.#intervals.get(t) ?? DOWNLOAD_REANNOUNCE_MS))
    const wait = Math.max(MIN_REANNOUNCE_MS, this.#o.transfer.complete ? asked : Math.min(asked, DOWNLOAD_REANNOUNCE_MS))
    this.#timer = setTimeout(() => { void this.#round(undefined).then(() => { this.#schedule() }) }, wait)
    this.#timer.unref()
  }

  async #round (event: AnnounceEventName | undefined, timeoutMs?: number): Promise<void> {
    const t = this.#o.transfer
    await Promise.all(this.#o.trackers.map(async (url) => {
      try {
        const reply = await announce({
          url,
          infoHash: t.infoHash.toString('hex'),
          peerId: this.#o.peerId,
          port: this.#o.port,
          uploaded: t.uploaded,
          downloaded: t.downloaded,
          left: this.#o.totalLength - t.verifiedBytes,
          event,
          key: this.#key,
          ...(event === 'stopped' ? { numwant: 0 } : {}),
          ...(timeoutMs === undefined ? {} : { timeoutMs })
        })
        // A tracker's interval is taken within [MIN_REANNOUNCE_MS, a day]: past ~24.8 days a timer would fire at once.
        this.#intervals.set(url, Math.min(MAX_REANNOUNCE_MS, Math.max(MIN_REANNOUNCE_MS, reply.interval * 1000)))
        if (event !== 'stopped') t.addPeers(reply.peers.map(p => ({ host: p.ip, port: p.port })))
      } catch (err) {
        this.#o.onLog?.(`announce to ${url} failed: ${(err as Error).message}`)
      }
    }))
  }
}
