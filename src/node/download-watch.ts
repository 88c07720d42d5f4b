/**
 * Every BitTorrent download (a .torrent, a magnet, a name from the catalogue) waits for its transfer the same way:
 * until it completes, the user interrupts it, or it stalls. Meanwhile it says what it is waiting for (no peers yet,
 * the tracker refused and why, connecting to N peers), so no download ever waits in silence, and a stall ends it with
 * the real cause and the verified pieces kept for a resume.
 */
import { AbortError, TrackerError, TransferError } from '../errors.js'
import type { Transfer } from '../swarm/index.js'
import type { TrackerStatus } from './announcer.js'

/** A download with no payload byte for this long fails (`--stall-timeout`). */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000
/** How often the watch looks at the transfer. */
const STALL_CHECK_MS = 500

export interface WatchOptions {
  signal?: AbortSignal | undefined
  /** 0: never fail for a stall. */
  stallTimeoutMs?: number | undefined
  /** The trackers' latest answers (the transfer's announcer), to say why there are no peers. */
  trackers?: (() => readonly TrackerStatus[]) | undefined
  /** What the download is waiting for, when that changes; undefined once data flows. */
  onWaiting?: ((waiting: string | undefined) => void) | undefined
}

/** What a download is waiting for, in a few words, or undefined while data flows (or it has ended). */
export function waitingFor (transfer: Transfer, trackers: readonly TrackerStatus[]): string | undefined {
  if (transfer.ended) return undefined
  const connected = transfer.peers.size
  if (transfer.legacySources.size > 0) return undefined
  if (connected > 0) {
    for (const peer of transfer.peers.values()) if (!peer.peerChoking) return undefined
    return `${connected} peer(s) connected, waiting for one to send`
  }
  if (transfer.dialing > 0) return `connecting to ${transfer.dialing} peer(s)`
  const answered = trackers.some(t => t.state === 'ok')
  if (!answered) {
    if (trackers.some(t => t.state === 'pending')) return 'asking the tracker for peers'
    const refused = trackers.find(t => t.state === 'refused')
    if (refused !== undefined) return `tracker refused: ${refused.message ?? ''}`
    const failed = trackers.find(t => t.state === 'failed')
    if (failed !== undefined) return `tracker unreachable: ${failed.message ?? ''}`
  }
  return transfer.everConnected > 0 ? 'no peers left; asking the tracker for more' : 'no peers yet; asking the tracker again every 30 s'
}

/**
 * Wait for the transfer to complete. Fails at once when every peer was banned (each sent pieces that failed their
 * check) or every tracker refused with no peer in sight; after `stallTimeoutMs` without a payload byte otherwise,
 * with the cause: the trackers' (exit 3), no peers (exit 5), or peers that gave nothing (exit 6).
 */
export async function untilDoneOrStalled (transfer: Transfer, options: WatchOptions): Promise<void> {
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS
  const trackers = options.trackers ?? (() => [])
  let lastBytes = transfer.downloaded
  let idleSince = Date.now()
  let lastWaiting: string | undefined
  const check = (): void => {
    if (transfer.ended) return
    const now = Date.now()
    if (transfer.downloaded !== lastBytes) { lastBytes = transfer.downloaded; idleSince = now }
    const statuses = trackers()
    const waiting = waitingFor(transfer, statuses)
    if (waiting !== lastWaiting) { lastWaiting = waiting; options.onWaiting?.(waiting) }
    const nobody = transfer.peers.size === 0 && transfer.legacySources.size === 0 && transfer.dialing === 0
    const banned = [...transfer.banned.entries()]
    if (nobody && banned.length > 0 && transfer.everConnected <= banned.length) {
      transfer.fail(new TransferError('ERR_HASH_MISMATCH', `Hash mismatch: every peer sent pieces that failed their SHA-1 check, and was banned (${banned.slice(0, 3).map(([peer, why]) => `${peer}: ${why}`).join('; ')})`))
      return
    }
    if (nobody && transfer.everConnected === 0 && statuses.length > 0 && statuses.every(t => t.state === 'refused')) {
      transfer.fail(new TrackerError('ERR_TRACKER_FAILURE', trackerCause(statuses)))
      return
    }
    if (stallMs <= 0 || now - idleSince < stallMs) return
    const seconds = Math.round(stallMs / 1000)
    const kept = `${transfer.verifiedBytes} of ${transfer.totalLength} bytes verified; the partial download is kept to resume`
    if (transfer.peers.size === 0 && transfer.everConnected === 0) {
      if (statuses.length > 0 && !statuses.some(t => t.state === 'ok' || t.state === 'pending')) {
        const code = statuses.some(t => t.state === 'refused') ? 'ERR_TRACKER_FAILURE' : 'ERR_TRACKER_UNREACHABLE'
        transfer.fail(new TrackerError(code, `${trackerCause(statuses)}; no peers for ${seconds} s`))
      } else if (transfer.dialsFailed > 0 || transfer.dialing > 0) {
        const tried = [transfer.dialsFailed > 0 ? `${transfer.dialsFailed} connection(s) failed or never completed the handshake` : '', transfer.dialing > 0 ? `${transfer.dialing} still connecting` : '']
        transfer.fail(new TransferError('ERR_PEERS_FAILED', `No peer answered in ${seconds} s: ${tried.filter(t => t !== '').join(', ')} (${kept})`))
      } else {
        transfer.fail(new TransferError('ERR_NO_PEERS', `No peers found for this torrent in ${seconds} s (the tracker lists none)`))
      }
      return
    }
    transfer.fail(new TransferError('ERR_PEERS_FAILED', `Download stalled: no data from any peer for ${seconds} s (${transfer.peers.size} connected; ${kept})`))
  }
  const watch = setInterval(check, STALL_CHECK_MS)
  try {
    await untilDoneOrAborted(transfer, options.signal)
  } finally {
    clearInterval(watch)
  }
}

/** Every tracker's refusal or failure, one line. */
function trackerCause (statuses: readonly TrackerStatus[]): string {
  return statuses.map(t => t.message ?? `${t.url}: ${t.state}`).join('; ')
}

export async function untilDoneOrAborted (transfer: Transfer, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) throw new AbortError('Download interrupted')
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { reject(new AbortError('Download interrupted')) }
    signal?.addEventListener('abort', onAbort, { once: true })
    transfer.completed.then(() => { signal?.removeEventListener('abort', onAbort); resolve() }, (err: unknown) => {
      signal?.removeEventListener('abort', onAbort)
      reject(err instanceof Error ? err : new Error(String(err)))
    })
  })
}
