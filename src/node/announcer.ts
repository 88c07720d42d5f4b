/**
 * Keeps a transfer's trackers informed (BEP 3 announce: started, periodic, completed, stopped) and feeds the peers
 * they return to the transfer. A tracker that fails is retried at the next round; one that does not speak the
 * BitTorrent protocol (the seed's own server.py) simply never returns peers.
 */
import { randomBytes } from 'node:crypto'
import { announce, TrackerFailureError, type AnnounceEventName } from '../discovery/index.js'
import type { PeerSource } from '../swarm/index.js'

/** What an announcer reports for and feeds peers to: a Transfer, or a magnet's MetadataSwarm before it. */
export interface AnnounceTarget {
  readonly infoHash: Buffer
  readonly uploaded: number
  readonly downloaded: number
  readonly verifiedBytes: number
  readonly complete: boolean
  addPeers: (list: Array<{ host: string, port: number }>, source?: PeerSource) => void
}

/** Re-announce this often while downloading (more peers sooner), whatever longer interval the tracker asks for. */
const DOWNLOAD_REANNOUNCE_MS = 30_000
/** Never announce more often than this, whatever the tracker says. */
const MIN_REANNOUNCE_MS = 5_000
/** Never wait longer than this between announces, whatever the tracker says. */
const MAX_REANNOUNCE_MS = 86_400_000
/**
 * The final `stopped` announce may delay shutdown by at most this (libtorrent's stop_tracker_timeout is 1 s too): a
 * process must end soon after its first Ctrl+C, whatever its trackers do.
 */
const STOP_TIMEOUT_MS = 1_000

/** An Azureus-style peer id: `-PS0010-` and 12 random characters. */
export function makePeerId (): Buffer {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
  const tail = [...randomBytes(12)].map(b => alphabet[b % alphabet.length]).join('')
  return Buffer.from(`-PS0010-${tail}`, 'latin1')
}

export interface AnnouncerOptions {
  trackers: readonly string[]
  transfer: AnnounceTarget
  peerId: Buffer
  port: number
  /** Bytes of the content (1 while a magnet's size is unknown: `left` must not say "seed"). */
  totalLength: number
  onLog?: (message: string) => void
}

/** How a tracker answered this announcer's latest announce to it. */
export interface TrackerStatus {
  url: string
  /** `pending`: no answer yet; `ok`: it answered; `refused`: a failure reason; `failed`: unreachable or garbled. */
  state: 'pending' | 'ok' | 'refused' | 'failed'
  /** The refusal or failure, one line. */
  message?: string
  /** Peers its latest answer gave. */
  peers?: number
  /** When its latest answer (or failure) came, ms since the epoch. */
  at?: number
}

export class Announcer {
  readonly #o: AnnouncerOptions
  #target: AnnounceTarget
  #totalLength: number
  readonly #status = new Map<string, TrackerStatus>()
  readonly #intervals = new Map<string, number>()
  readonly #key = randomBytes(4).toString('hex')
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  /**
   * Per tracker, its latest announce: the next one to it waits for it (a tracker must see `started`, `completed`,
   * `stopped` in that order), and a tracker still busy with one does not hold up the others.
   */
  readonly #latest = new Map<string, Promise<void>>()
  /** Trackers with an announce in flight. */
  readonly #busy = new Set<string>()
  /** Ends the announces in flight when the announcer stops (the `stopped` ones have their own timeout). */
  readonly #abort = new AbortController()
  /** Trackers that have answered an announce: the only ones that know this peer, and are told it stopped. */
  readonly #known = new Set<string>()

  constructor (options: AnnouncerOptions) {
    this.#o = options
    this.#target = options.transfer
    this.#totalLength = options.totalLength
    for (const url of options.trackers) this.#status.set(url, { url, state: 'pending' })
  }

  /** Every tracker's latest answer, in the torrent's order. */
  get trackers (): TrackerStatus[] {
    return [...this.#status.values()]
  }

  /**
   * Announces `started` to every tracker, then keeps re-announcing. Resolves once one tracker has answered (its peers
   * are in the transfer) or every one has failed: a tracker that never answers (a silent UDP one is given up on after
   * 15 s) delays only itself, and the others' peers are used at once.
   */
  async start (): Promise<void> {
    let answered: () => void = () => {}
    const first = new Promise<void>((resolve) => { answered = resolve })
    void this.#round('started', undefined, answered).then(() => {
      answered()
      this.#schedule()
    })
    await first
  }

  /**
   * Announces `completed` to every tracker. Resolves once the trackers that were not busy have answered (or failed);
   * a busy one gets it after the announce it is still on.
   */
  async completed (): Promise<void> {
    await this.#round('completed', undefined, undefined, true)
  }

  /** Report for another target from now on (a magnet's transfer, once its metadata came), without a new `started`. */
  setTarget (target: AnnounceTarget, totalLength: number): void {
    this.#target = target
    this.#totalLength = totalLength
  }

  /** Announce to every tracker now (a user's "reannounce"), outside the schedule; a busy tracker gets it next. */
  announceNow (): void {
    if (!this.#stopped) void this.#round(undefined)
  }

  /**
   * Ends the announces in flight and announces `stopped` to every tracker that ever answered (one that never did does
   * not know this peer), waiting at most STOP_TIMEOUT_MS for each.
   */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#abort.abort()
    await this.#round('stopped', STOP_TIMEOUT_MS, undefined, false, [...this.#known])
  }

  #schedule (): void {
    // No tracker, nothing to schedule (Math.min() of none is Infinity: a timer that fired every millisecond).
    if (this.#stopped || this.#o.trackers.length === 0) return
    const asked = Math.min(...this.#o.trackers.map(t => this.#intervals.get(t) ?? DOWNLOAD_REANNOUNCE_MS))
    const wait = Math.max(MIN_REANNOUNCE_MS, this.#target.complete ? asked : Math.min(asked, DOWNLOAD_REANNOUNCE_MS))
    this.#timer = setTimeout(() => { void this.#round(undefined).then(() => { this.#schedule() }) }, wait)
    this.#timer.unref()
  }

  /**
   * One announce to every tracker (or to `trackers`), each after the one before to that tracker; `onAnswer` is called
   * each time one answers. Settles when all have, or with `skipBusy` when those that were not busy have.
   */
  async #round (event: AnnounceEventName | undefined, timeoutMs?: number, onAnswer?: () => void, skipBusy = false, trackers = this.#o.trackers): Promise<void> {
    const waits: Array<Promise<void>> = []
    for (const url of trackers) {
      const busy = this.#busy.has(url)
      const next = (this.#latest.get(url) ?? Promise.resolve()).then(() => this.#announce(url, event, timeoutMs, onAnswer))
      this.#latest.set(url, next)
      if (!(skipBusy && busy)) waits.push(next)
    }
    await Promise.all(waits)
  }

  async #announce (url: string, event: AnnounceEventName | undefined, timeoutMs: number | undefined, onAnswer: (() => void) | undefined): Promise<void> {
    const t = this.#target
    this.#busy.add(url)
    try {
      const reply = await announce({
        url,
        infoHash: t.infoHash.toString('hex'),
        peerId: this.#o.peerId,
        port: this.#o.port,
        uploaded: t.uploaded,
        downloaded: t.downloaded,
        left: this.#totalLength - t.verifiedBytes,
        event,
        key: this.#key,
        ...(event === 'stopped' ? { numwant: 0 } : { signal: this.#abort.signal }),
        ...(timeoutMs === undefined ? {} : { timeoutMs })
      })
      // A tracker's interval is taken within [MIN_REANNOUNCE_MS, a day]: past ~24.8 days a timer would fire at once.
      this.#intervals.set(url, Math.min(MAX_REANNOUNCE_MS, Math.max(MIN_REANNOUNCE_MS, reply.interval * 1000)))
      this.#known.add(url)
      if (event !== 'stopped') {
        this.#status.set(url, { url, state: 'ok', peers: reply.peers.length, at: Date.now() })
        t.addPeers(reply.peers.map(p => ({ host: p.ip, port: p.port })))
      }
      onAnswer?.()
    } catch (err) {
      if (!this.#abort.signal.aborted) {
        this.#o.onLog?.(`announce to ${url} failed: ${(err as Error).message}`)
        if (event !== 'stopped') this.#status.set(url, { url, state: err instanceof TrackerFailureError ? 'refused' : 'failed', message: (err as Error).message, at: Date.now() })
      }
    } finally {
      this.#busy.delete(url)
    }
  }
}
