/**
 * Every one-shot BitTorrent download (a .torrent, a magnet, a name from the catalogue) is a session torrent, watched
 * the same way: until it is complete, the user interrupts it, it fails, or it stalls. Meanwhile it says what it is
 * waiting for (no peers yet, the tracker refused and why, connecting to N, fetching the metadata from N), so no
 * download ever waits in silence, and a stall ends it with the real cause and the verified pieces kept for a resume.
 * The metadata phase of a magnet is bounded by the same stall timeout as the pieces are.
 */
import { AbortError, P2PError, TrackerError, TransferError } from '../errors.js'
import type { Torrent } from '../session/torrent.js'
import type { SessionEventMap } from '../session/types.js'
import type { TypedEmitter } from '../swarm/index.js'
import type { TrackerStatus } from './announcer.js'

/** A download with no payload byte (or, before it, no metadata) for this long fails (`--stall-timeout`). */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000
/** How often the watch looks at the torrent. */
const STALL_CHECK_MS = 500

export interface WatchOptions {
  signal?: AbortSignal | undefined
  /** 0: never fail for a stall. */
  stallTimeoutMs?: number | undefined
  /** What the download is waiting for, when that changes; undefined once data flows. */
  onWaiting?: ((waiting: string | undefined) => void) | undefined
}

/** What the watch reads of the torrent's connections in either phase: before its metadata, and while it downloads. */
export interface SwarmView {
  phase: 'metadata' | 'pieces'
  /** Handshaken peers; GET_CHUNK peers being fetched from. */
  peers: number
  legacy: number
  /** A peer is sending (has unchoked us). */
  sending: boolean
  dialing: number
  everConnected: number
  dialsFailed: number
  /** Payload bytes received so far. */
  bytes: number
  banned: ReadonlyMap<string, string>
  /** What a failure keeps, in words. */
  kept: string
}

/** The torrent's connections as the watch sees them, or undefined in a phase without any (checking, queued, done). */
export function swarmView (torrent: Torrent): SwarmView | undefined {
  const t = torrent.transfer
  if (torrent.state === 'downloading' && t !== undefined && !t.ended) {
    let sending = false
    for (const peer of t.peers.values()) if (!peer.peerChoking) { sending = true; break }
    return {
      phase: 'pieces',
      peers: t.peers.size,
      legacy: t.legacySources.size,
      sending,
      dialing: t.dialing,
      everConnected: t.everConnected,
      dialsFailed: t.dialsFailed,
      bytes: t.downloaded,
      banned: t.banned,
      kept: `${t.verifiedBytes} of ${t.totalLength} bytes verified; the partial download is kept to resume`
    }
  }
  const m = torrent.metadataSwarm
  if (torrent.state === 'metadata' && m !== undefined) {
    return {
      phase: 'metadata', peers: m.peers, legacy: 0, sending: false, dialing: m.dialing, everConnected: m.everConnected, dialsFailed: m.dialsFailed, bytes: 0, banned: new Map(), kept: 'nothing was downloaded'
    }
  }
  return undefined
}

/** What a download is waiting for, in a few words, or undefined while data flows (or it has ended). */
export function waitingFor (view: SwarmView, trackers: readonly TrackerStatus[]): string | undefined {
  if (view.legacy > 0) return undefined
  if (view.peers > 0) {
    if (view.phase === 'metadata') return `fetching the torrent's metadata from ${view.peers} peer(s)`
    return view.sending ? undefined : `${view.peers} peer(s) connected, waiting for one to send`
  }
  if (view.dialing > 0) return `connecting to ${view.dialing} peer(s)`
  const answered = trackers.some(t => t.state === 'ok')
  if (!answered) {
    if (trackers.some(t => t.state === 'pending')) return 'asking the tracker for peers'
    const refused = trackers.find(t => t.state === 'refused')
    if (refused !== undefined) return `tracker refused: ${refused.message ?? ''}`
    const failed = trackers.find(t => t.state === 'failed')
    if (failed !== undefined) return `tracker unreachable: ${failed.message ?? ''}`
  }
  return view.everConnected > 0 ? 'no peers left; asking the tracker for more' : 'no peers yet; asking the tracker again every 30 s'
}

/**
 * Why a download in this state must end now, or undefined while it may go on: at once when every peer was banned
 * (each sent pieces that failed their check) or every tracker refused with no peer in sight; after `stallMs` without
 * progress otherwise, with the cause: the trackers' (exit 3), no peers (exit 5), peers that gave nothing (exit 6),
 * or, before the metadata, peers that never sent it (exit 5).
 */
export function stallCause (view: SwarmView, statuses: readonly TrackerStatus[], idleMs: number, stallMs: number): P2PError | undefined {
  const nobody = view.peers === 0 && view.legacy === 0 && view.dialing === 0
  const banned = [...view.banned.entries()]
  if (nobody && banned.length > 0 && view.everConnected <= banned.length) {
    return new TransferError('ERR_HASH_MISMATCH', `Hash mismatch: every peer sent pieces that failed their SHA-1 check, and was banned (${banned.slice(0, 3).map(([peer, why]) => `${peer}: ${why}`).join('; ')})`)
  }
  if (nobody && view.everConnected === 0 && statuses.length > 0 && statuses.every(t => t.state === 'refused')) {
    return new TrackerError('ERR_TRACKER_FAILURE', trackerCause(statuses))
  }
  if (stallMs <= 0 || idleMs < stallMs) return undefined
  const seconds = Math.round(stallMs / 1000)
  if (view.peers === 0 && view.everConnected === 0) {
    if (statuses.length > 0 && !statuses.some(t => t.state === 'ok' || t.state === 'pending')) {
      const code = statuses.some(t => t.state === 'refused') ? 'ERR_TRACKER_FAILURE' : 'ERR_TRACKER_UNREACHABLE'
      return new TrackerError(code, `${trackerCause(statuses)}; no peers for ${seconds} s`)
    }
    if (view.dialsFailed > 0 || view.dialing > 0) {
      const tried = [view.dialsFailed > 0 ? `${view.dialsFailed} connection(s) failed or never completed the handshake` : '', view.dialing > 0 ? `${view.dialing} still connecting` : '']
      return new TransferError('ERR_PEERS_FAILED', `No peer answered in ${seconds} s: ${tried.filter(t => t !== '').join(', ')} (${view.kept})`)
    }
    return new TransferError('ERR_NO_PEERS', `No peers found for this torrent in ${seconds} s (the tracker lists none)`)
  }
  if (view.phase === 'metadata') {
    return new TransferError('ERR_NO_METADATA', `No peer sent the torrent's metadata in ${seconds} s (${view.peers} connected, ${view.everConnected} tried)`)
  }
  return new TransferError('ERR_PEERS_FAILED', `Download stalled: no data from any peer for ${seconds} s (${view.peers} connected; ${view.kept})`)
}

/**
 * Wait for the session torrent to be complete (seeding, or stopped when it is not to seed). Rejects with the error
 * it failed with, with AbortError when `signal` aborts, and ends it (Torrent.fail) when stallCause says so.
 */
export async function untilDownloaded (torrent: Torrent, events: TypedEmitter<SessionEventMap>, options: WatchOptions): Promise<void> {
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS
  let phase: string | undefined
  let lastBytes = 0
  let idleSince = Date.now()
  let lastWaiting: string | undefined
  let failing = false
  const say = (waiting: string | undefined): void => {
    if (waiting !== lastWaiting) { lastWaiting = waiting; options.onWaiting?.(waiting) }
  }
  const check = (): void => {
    if (failing) return
    const now = Date.now()
    const view = swarmView(torrent)
    const current = view === undefined ? torrent.state : `${torrent.state}/${view.phase}`
    if (current !== phase || view === undefined || view.bytes !== lastBytes) {
      phase = current
      lastBytes = view?.bytes ?? 0
      idleSince = now
    }
    if (view === undefined) { say(undefined); return }
    const statuses = torrent.trackerStatuses
    say(waitingFor(view, statuses))
    const cause = stallCause(view, statuses, now - idleSince, stallMs)
    if (cause === undefined) return
    failing = true
    void torrent.fail(cause)
  }
  if (options.signal?.aborted === true) throw new AbortError('Download interrupted')
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearInterval(watch)
      off()
      options.signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const settle = (): void => {
      if (torrent.state === 'error') done(torrent.failure ?? new P2PError('ERR_TORRENT', torrent.record.error ?? 'the download failed'))
      else if (torrent.complete && (torrent.state === 'seeding' || torrent.state === 'stopped')) done()
    }
    const onAbort = (): void => { done(new AbortError('Download interrupted')) }
    const off = events.on('state', (s) => { if (s.id === torrent.id) settle() })
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const watch = setInterval(check, STALL_CHECK_MS)
    settle()
  })
}

/** Every tracker's refusal or failure, one line. */
function trackerCause (statuses: readonly TrackerStatus[]): string {
  return statuses.map(t => t.message ?? `${t.url}: ${t.state}`).join('; ')
}
