/**
 * One torrent of a session: its record (what survives a restart), its state, and while active the Transfer, piece
 * store and announcer that run it. A torrent exists before its metadata (a magnet) and moves through explicit states
 * (types.ts); the session's scheduler says when it runs (`start`) and when it waits (`stop`), and operations on one
 * torrent are serialised so that a pause arriving during a check or a metadata fetch ends them cleanly.
 *
 * Where its content lives: `<downloadDir>/<name>` once complete (or when shared in place), `<downloadDir>/<name>.part`
 * (the top name suffixed) while downloading, renamed once every piece is verified.
 */
import { createHash } from 'node:crypto'
import { cp, lstat, mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Bitfield, encodeMetainfo, parseInfoDict, parseMagnet, resolveInside, type ParsedInfo } from '../content/index.js'
import { P2PError, StorageError, systemErrorCode, TransferError } from '../errors.js'
import { assertNoLinksInside, existsRefused, moveIntoPlace, pathKind, PieceStore, type StoreFile } from '../storage/index.js'
import type { LegacyPeer } from '../discovery/index.js'
import { LimitPair, MetadataSwarm, RateLimiter, RateMeter, Transfer, type LegacySourceOptions, type PeerSource } from '../swarm/index.js'
import type { Transport } from '../wire/index.js'
import { Announcer } from '../node/announcer.js'
import type { ResumeStore, TorrentRecord, FileStamp } from './resume-store.js'
import type { SessionSettings, TorrentDetail, TorrentLimits, TorrentPeer, TorrentState, TorrentSummary } from './types.js'

const PART_SUFFIX = '.part'
/** An idle seed (no connection, no candidate, no traffic) looks at its seed limits this often. */
const IDLE_LOOK_MS = 60_000
/** Peers given by hand that a torrent remembers for its next start. */
const MAX_MANUAL_PEERS = 200
const CREATED_BY = 'p2pshare 0.1.0'

/** What a torrent needs of its session. */
export interface TorrentHost {
  readonly peerId: Buffer
  readonly port: number
  readonly store: ResumeStore
  readonly uploadLimit: RateLimiter
  readonly downloadLimit: RateLimiter
  readonly transport: Transport | undefined
  /** Trackers for a magnet that names none (the node's `--tracker`). */
  readonly fallbackTrackers: readonly string[]
  settings: () => SessionSettings
  /** The torrent's state, metadata or completeness changed: tell followers, run the scheduler. */
  changed: (torrent: Torrent, what: 'state' | 'metadata' | 'complete') => void
  log: (torrent: Torrent, message: string) => void
  /** Pieces hashed by a check (for the node's statistics: a restart that re-hashes shows here). */
  countChecked: (pieces: number) => void
}

/**
 * How one torrent runs, beyond its record: what a one-shot `download` asks of the session torrent it drives (nothing
 * here is persisted; a node's torrents run with the defaults).
 */
export interface TorrentRunOptions {
  /**
   * Content already at the torrent's name. `use` (a node's, as Transmission's and libtorrent's): checked, its verified
   * pieces kept and the rest fetched into it. `refuse` (`download`): unless it is this torrent's content, complete,
   * the torrent fails with ERR_OUTPUT_EXISTS before anything is fetched. `replace` (`download --overwrite`): the
   * download goes to `.part` beside it and replaces it once verified.
   */
  existing?: 'use' | 'refuse' | 'replace'
  /** The top name on disk instead of the torrent's (a catalogue download is stored as `<file hash>`). */
  contentName?: string
  /** Seed once complete (default); false: stop, the trackers told `completed` then `stopped` (`download` without --seed). */
  seedWhenComplete?: boolean
  /** The metadata before anything is written: throws to refuse it (the torrent fails with that error). */
  acceptMetadata?: (info: ParsedInfo) => void
  /** The complete content, under its `.part` name, before it takes its final one: throws to fail the torrent. */
  beforeFinal?: (path: string) => Promise<void>
}

/** Which pieces must be hashed before the torrent may run: none, some (a file changed), or all. */
type PendingCheck = Set<number> | 'all' | undefined

export class Torrent {
  readonly record: TorrentRecord
  readonly #host: TorrentHost
  info: ParsedInfo | undefined
  #state: TorrentState
  #have: Bitfield | undefined
  #pendingCheck: PendingCheck
  /** Set once the files were compared with their stamps (at the first start after loading). */
  #planned = false
  #transfer: Transfer | undefined
  /** A magnet's connections while its metadata is fetched; handed over to the transfer. */
  #swarm: MetadataSwarm | undefined
  #pieceStore: PieceStore | undefined
  #announcer: Announcer | undefined
  /** The announcer's first round (Announcer.start), and whether the transfer has begun at all. */
  #announceStarted: Promise<void> | undefined
  #started = false
  #run: AbortController | undefined
  #op: Promise<void> = Promise.resolve()
  readonly #ownUp: RateLimiter
  readonly #ownDown: RateLimiter
  /** downloadedEver / uploadedEver when the current transfer started (its counters add to them). */
  #baseDown = 0
  #baseUp = 0
  #lastDown = 0
  #lastUp = 0
  readonly #downRate = new RateMeter(Date.now())
  readonly #upRate = new RateMeter(Date.now())
  #haveDirty = false
  #savedCounters = ''
  /** When the current state began (for the active-time counters), and when it last started running. */
  #stateSince = Date.now()
  #startedAt: number | null = null
  /** When an idle torrent last looked at its seed limits. */
  #lastLook = 0
  readonly #manualPeers: Array<{ host: string, port: number, source: PeerSource }> = []
  /** Of this run, what transfers that ended moved (payload; downloads count new blocks only). */
  #runDown = 0
  #runUp = 0
  checkedPieces = 0
  #checkTotal = 0
  readonly #run0: TorrentRunOptions
  /** GET_CHUNK peers of a catalogue download, joined to every transfer it starts. */
  readonly #legacy: Array<{ peers: readonly LegacyPeer[], options: LegacySourceOptions }> = []
  /** `existing: 'replace'`: something else is at the final name, replaced once the download is verified. */
  #replaceFinal = false
  /** Who waits for the next change of state (seedingAnnounced). */
  readonly #stateWaiters = new Set<() => void>()
  /** `existing` was applied (once: a later start resumes what it began). */
  #claimed = false
  /** The error the torrent failed with (its code tells a one-shot download's exit status); `record.error` is its text. */
  failure: Error | undefined
  /** The content was complete where it belongs when it was first checked: nothing was downloaded. */
  foundComplete = false
  /** The last check: pieces hashed and how many were good (a resumed download reports it). */
  lastCheck: { pieces: number, verified: number } | undefined

  constructor (host: TorrentHost, record: TorrentRecord, run: TorrentRunOptions = {}) {
    this.#host = host
    this.record = record
    this.#run0 = run
    this.#ownUp = new RateLimiter(record.limits.uploadLimit ?? 0)
    this.#ownDown = new RateLimiter(record.limits.downloadLimit ?? 0)
    this.#state = record.error !== null ? 'error' : record.paused ? 'paused' : record.finished ? 'stopped' : 'queued'
    if (record.info !== null) {
      try {
        this.#setInfo(parseInfoDict(record.info))
      } catch (err) {
        this.record.info = null
        this.#fail(`its metadata could not be read (${(err as Error).message}); it is fetched again from peers`)
        this.#state = record.paused ? 'paused' : 'queued'
      }
    }
  }

  get id (): number { return this.record.id }
  get infoHash (): string { return this.record.infoHash }
  get state (): TorrentState { return this.#state }
  get transfer (): Transfer | undefined { return this.#transfer }
  /** Where the listener hands this torrent's inbound connections: its transfer, or before the metadata its swarm. */
  get inbound (): Transfer | MetadataSwarm | undefined { return this.#transfer ?? this.#swarm }
  get paused (): boolean { return this.record.paused }

  /** Verified and nothing left to check: a seed. */
  get complete (): boolean {
    return this.#have !== undefined && this.#have.complete && this.#pendingCheck === undefined
  }

  /** Which of the session's queues it waits in: downloads (checking and fetching metadata too) or seeds. */
  get kind (): 'download' | 'seed' {
    return this.complete ? 'seed' : 'download'
  }

  /** Wants to run: not paused, not failed, not finished seeding. */
  get runnable (): boolean {
    return !this.record.paused && this.#state !== 'error' && !this.record.finished
  }

  get active (): boolean {
    return this.#run !== undefined
  }

  /** Have its byte counters or activity changed since this was last asked (the session's periodic save)? */
  countersMoved (): boolean {
    const r = this.record
    const now = `${r.downloadedEver}/${r.uploadedEver}/${r.activityAt ?? ''}`
    if (now === this.#savedCounters) return false
    this.#savedCounters = now
    return true
  }

  /** Payload bytes this run of the node downloaded (new blocks only): a restart that fetches a verified piece shows here. */
  get downloadedThisRun (): number {
    return this.#runDown + (this.#transfer?.downloaded ?? 0)
  }

  get uploadedThisRun (): number {
    return this.#runUp + (this.#transfer?.uploaded ?? 0)
  }

  // ---- lifecycle (serialised) ----

  /** Run it: fetch metadata, check, download or seed, as it needs. */
  async start (): Promise<void> {
    await this.#serial(async () => {
      if (this.#run !== undefined || !this.runnable) return
      const run = new AbortController()
      this.#run = run
      // The long phases (metadata, check) run outside the chain, so that a stop can end them.
      void this.#activate(run.signal).catch((err: unknown) => {
        if (run.signal.aborted) return
        void this.#serial(async () => {
          await this.#deactivate()
          this.#fail(err as Error)
        })
      })
    })
  }

  /** Stop running: `queued` (the scheduler's), `paused` (the user's), `stopped` (seed limit reached). */
  async stop (next: 'queued' | 'paused' | 'stopped'): Promise<void> {
    await this.#serial(async () => {
      if (next === 'paused') this.record.paused = true
      if (next === 'stopped') this.record.finished = true
      await this.#deactivate()
      if (this.#state !== 'error' || next === 'paused') this.#setState(next)
      this.#save()
    })
  }

  /** Paused no more (an error is retried); the scheduler starts it when there is room. */
  async resume (): Promise<void> {
    await this.#serial(async () => {
      this.record.paused = false
      this.record.finished = false
      if (this.#state === 'error') { this.record.error = null; this.failure = undefined; this.#planned = false }
      if (this.#run === undefined) this.#setState('queued')
      this.#save()
    })
  }

  /** Hash every piece again. A paused torrent is checked at once and stays paused; a running one restarts with it. */
  async verify (): Promise<void> {
    if (this.info === undefined) throw new P2PError('ERR_NOT_READY', 'The torrent has no metadata yet: nothing to verify')
    await this.#serial(async () => {
      await this.#deactivate()
      this.#pendingCheck = 'all'
      this.#planned = true
      if (this.runnable) { this.#setState('queued'); return }
      const wasState = this.#state
      const run = new AbortController()
      this.#run = run
      try {
        await this.#check(run.signal)
      } catch (err) {
        if (!run.signal.aborted) this.#fail(err as Error)
      } finally {
        this.#run = undefined
        this.#pieceStore?.close()
        this.#pieceStore = undefined
      }
      if (this.#state === 'checking') this.#setState(wasState === 'checking' ? 'paused' : wasState)
      this.#save()
    })
  }

  /**
   * Resolves once it runs as a seed (or downloads) and its announcer's first round has answered (one tracker gave peers,
   * or every one failed); at once when it has no tracker. Rejects if it stops with an error first.
   */
  async seedingAnnounced (signal?: AbortSignal): Promise<void> {
    // Looked at again on each change of state (a start goes through at most a few: queued, checking, seeding).
    for (let i = 0; i < 100 && this.#announceStarted === undefined; i++) {
      if (this.#state === 'error') throw new P2PError('ERR_OUTPUT', this.record.error ?? 'the torrent stopped with an error')
      if (signal?.aborted === true || (this.#started && this.#announcer === undefined)) return
      await new Promise<void>((resolve) => {
        const done = (): void => { this.#stateWaiters.delete(done); signal?.removeEventListener('abort', done); resolve() }
        this.#stateWaiters.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    }
    await this.#announceStarted
  }

  reannounce (): void {
    this.#announcer?.announceNow()
  }

  /** Peers given by hand (or by the catalogue): dialled now if it runs, and again whenever it next starts. */
  addPeers (peers: ReadonlyArray<{ host: string, port: number }>, source: PeerSource = 'manual'): void {
    for (const p of peers) if (this.#manualPeers.length < MAX_MANUAL_PEERS) this.#manualPeers.push({ ...p, source })
    this.#transfer?.addPeers([...peers], source)
    this.#swarm?.addPeers(peers, source)
  }

  /** GET_CHUNK peers (the seed's, from the catalogue) fetched into the same pieces, now and in every later transfer. */
  addLegacyPeers (peers: readonly LegacyPeer[], options: LegacySourceOptions): void {
    this.#legacy.push({ peers, options })
    this.#transfer?.addLegacyPeers(peers, options)
  }

  /** Before its metadata, a magnet's connections (undefined otherwise). */
  get metadataSwarm (): MetadataSwarm | undefined {
    return this.#swarm
  }

  /** Its trackers' latest answers (empty while it does not run). */
  get trackerStatuses (): Announcer['trackers'] {
    return this.#announcer?.trackers ?? []
  }

  /** End it with this error (a one-shot download that stalled): it stops, in state `error`, `failure` this. */
  async fail (err: Error): Promise<void> {
    await this.#serial(async () => {
      await this.#deactivate()
      this.#fail(err)
    })
  }

  /** Per-torrent limits (rates change at once, seed limits at the next tick). */
  setLimits (limits: Partial<TorrentLimits>): void {
    Object.assign(this.record.limits, limits)
    this.#ownUp.setRate(this.record.limits.uploadLimit ?? 0)
    this.#ownDown.setRate(this.record.limits.downloadLimit ?? 0)
    this.#save()
  }

  /** Point at another folder; with `move`, the content goes along (renamed, or copied across file systems). */
  async setLocation (dir: string, move: boolean): Promise<void> {
    await this.#serial(async () => {
      await this.#deactivate()
      // Queued until the scheduler starts it again, from the new place or (the move refused) from the old one.
      if (this.#state !== 'error' && this.#state !== 'paused' && this.#state !== 'stopped') this.#setState('queued')
      if (move && this.info !== undefined) {
        for (const suffix of ['', PART_SUFFIX]) {
          const from = join(this.record.downloadDir, this.#top + suffix)
          const to = join(dir, this.#top + suffix)
          if (await kindOf(from) === 'missing') continue
          if (await kindOf(to) !== 'missing') throw new StorageError('ERR_OUTPUT_EXISTS', `${to} already exists; nothing was moved`)
          await mkdir(dir, { recursive: true })
          try {
            await rename(from, to)
          } catch (err) {
            if (systemErrorCode(err) !== 'EXDEV') throw new StorageError('ERR_OUTPUT', `Cannot move ${from} to ${to}: ${systemErrorCode(err) ?? String(err)}`)
            await cp(from, to, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true })
            await rm(from, { recursive: true, force: true })
          }
        }
      } else if (this.info !== undefined) {
        // Somewhere else, maybe other bytes: what is there is checked before it is trusted.
        this.#pendingCheck = 'all'
        this.#planned = true
      }
      this.record.downloadDir = dir
      this.record.stamps = null
      if (this.#state !== 'error' && this.#state !== 'paused' && this.#state !== 'stopped') this.#setState('queued')
      this.#save()
    })
  }

  /** Stop for good (removal or shutdown): announces stopped, writes what must survive. */
  async close (): Promise<void> {
    await this.#serial(async () => {
      await this.#deactivate()
      this.#save()
    })
  }

  /** Delete the torrent's files (never anything else in its folders, never through a link), and empty folders. */
  async deleteData (): Promise<void> {
    if (this.info === undefined) return
    for (const suffix of ['', PART_SUFFIX]) {
      const files = this.#files(suffix)
      for (const f of files) {
        if (f.padding === true) continue
        if (await kindOf(f.path) === 'file') await rm(f.path, { force: true })
      }
      if (this.info.multiFile) await removeEmptyDirs(join(this.record.downloadDir, this.#top + suffix))
    }
  }

  /** From the session's one timer (`second`: once a second); true while it has anything to time, rate or dial. */
  tick (now: number, second: boolean): boolean {
    this.#swarm?.tick()
    const t = this.#transfer
    if (t === undefined) return this.#swarm !== undefined || this.#state === 'checking'
    // A transfer with no connection and no candidate has nothing to time out, rate or dial: an idle seed costs nothing
    // but a look at its seed limits once a minute (a node of 100 idle seeds spent most of its CPU ticking them).
    const idle = t.connections === 0 && t.candidates.size === 0 && t.downloaded === this.#lastDown && t.uploaded === this.#lastUp && this.#downRate.rate < 1 && this.#upRate.rate < 1
    if (idle) {
      if (second && now - this.#lastLook >= IDLE_LOOK_MS) {
        this.#lastLook = now
        if (this.#state === 'seeding') this.#checkSeedLimits(now)
      }
      return false
    }
    t.tick()
    if (!second) return true
    const down = t.downloaded - this.#lastDown
    const up = t.uploaded - this.#lastUp
    this.#lastDown = t.downloaded
    this.#lastUp = t.uploaded
    this.#downRate.add(down)
    this.#upRate.add(up)
    this.#downRate.update(now)
    this.#upRate.update(now)
    this.record.downloadedEver = this.#baseDown + t.downloaded
    this.record.uploadedEver = this.#baseUp + t.uploaded
    if (down + up > 0) this.record.activityAt = now
    if (this.#state === 'seeding') this.#checkSeedLimits(now)
    return true
  }

  // ---- what the APIs show ----

  summary (): TorrentSummary {
    const info = this.info
    const totalSize = info?.totalSize ?? 0
    const verifiedBytes = this.#verifiedBytes()
    const downloadRate = this.#transfer === undefined ? 0 : this.#downRate.rate
    const uploadRate = this.#transfer === undefined ? 0 : this.#upRate.rate
    const left = totalSize - verifiedBytes
    let peers = 0
    let seeds = 0
    for (const p of this.#transfer?.peers.values() ?? []) {
      peers++
      if (p.has === 'all' || (p.has !== undefined && p.has.complete)) seeds++
    }
    return {
      id: this.id,
      infoHash: this.infoHash,
      name: this.record.name,
      state: this.#state,
      error: this.record.error,
      hasMetadata: info !== undefined,
      totalSize,
      verifiedBytes,
      leftBytes: left,
      progress: totalSize === 0 ? 0 : this.#state === 'checking' && this.#checkTotal > 0 ? this.checkedPieces / this.#checkTotal : verifiedBytes / totalSize,
      pieceCount: info?.pieceCount ?? 0,
      pieceLength: info?.pieceLength ?? 0,
      fileCount: info?.files.filter(f => !f.padding).length ?? 0,
      downloadedEver: this.record.downloadedEver,
      uploadedEver: this.record.uploadedEver,
      downloadRate,
      uploadRate,
      peers,
      seeds,
      eta: this.#state === 'downloading' && downloadRate > 0 ? Math.ceil(left / downloadRate) : null,
      ratio: totalSize === 0 ? 0 : this.record.uploadedEver / totalSize,
      downloadDir: this.record.downloadDir,
      addedAt: this.record.addedAt,
      doneAt: this.record.doneAt,
      activityAt: this.record.activityAt,
      secondsDownloading: Math.floor(this.record.secondsDownloading + (this.#state === 'downloading' ? (Date.now() - this.#stateSince) / 1000 : 0)),
      secondsSeeding: Math.floor(this.record.secondsSeeding + (this.#state === 'seeding' ? (Date.now() - this.#stateSince) / 1000 : 0)),
      startedAt: this.#startedAt,
      magnet: this.record.magnet,
      limits: { ...this.record.limits },
      queuePosition: this.record.queuePosition,
      isPrivate: info?.private ?? false
    }
  }

  detail (): TorrentDetail {
    const info = this.info
    const have = this.#currentHave()
    const files = (info?.files ?? []).filter(f => !f.padding).map((f, index) => ({
      index,
      path: f.path,
      length: f.length,
      completed: have === undefined || info === undefined ? 0 : bytesVerifiedIn(f.offset, f.length, info, have)
    }))
    const t = this.#transfer
    const peerList: TorrentPeer[] = [...(t?.peers.values() ?? [])].map(p => ({
      address: p.id,
      client: p.clientName === '' ? null : p.clientName,
      protocol: p.protocol,
      source: t?.peerSource(p) ?? 'tracker',
      direction: p.wire.direction,
      downloadRate: p.downloadRate.rate,
      uploadRate: p.uploadRate.rate,
      progress: p.has === 'all' ? 1 : p.has === undefined || p.has.size === 0 ? 0 : p.has.count / p.has.size,
      amChoking: p.amChoking,
      amInterested: p.amInterested,
      peerChoking: p.peerChoking,
      peerInterested: p.peerInterested
    }))
    const trackers = this.#announcer?.trackers.map(s => ({ url: s.url, state: s.state, message: s.message ?? null, peers: s.peers ?? null, lastAnnounceAt: s.at ?? null })) ??
      this.record.trackers.map(url => ({ url, state: 'pending' as const, message: null, peers: null, lastAnnounceAt: null }))
    return { ...this.summary(), files, peerList, trackers, pieces: have === undefined ? '' : Buffer.from(have.bytes).toString('base64') }
  }

  // ---- internals ----

  async #serial (fn: () => Promise<void>): Promise<void> {
    const next = this.#op.then(fn)
    this.#op = next.catch(() => {})
    await next
  }

  #setState (state: TorrentState): void {
    if (this.#state === state) return
    this.#foldActiveTime()
    if ((state === 'downloading' || state === 'seeding') && this.#state !== 'downloading' && this.#state !== 'seeding') this.#startedAt = Date.now()
    this.#state = state
    this.#host.changed(this, 'state')
    this.#wake()
  }

  /** Time spent in the current state, if downloading or seeding, added to the record's counters. */
  #foldActiveTime (): void {
    const now = Date.now()
    const seconds = (now - this.#stateSince) / 1000
    this.#stateSince = now
    if (this.#state === 'downloading') this.record.secondsDownloading += seconds
    else if (this.#state === 'seeding') this.record.secondsSeeding += seconds
  }

  #fail (cause: Error | string): void {
    const message = typeof cause === 'string' ? cause : cause.message
    this.failure = typeof cause === 'string' ? new P2PError('ERR_TORRENT', cause) : cause
    this.#foldActiveTime()
    this.record.error = message
    this.#host.log(this, `error: ${message}`)
    this.#state = 'error'
    this.#host.changed(this, 'state')
    this.#wake()
    this.#save()
  }

  #save (): void {
    this.#foldActiveTime()
    if (this.#have !== undefined) this.record.have = Buffer.from(this.#currentHave()?.bytes ?? this.#have.bytes)
    this.#host.store.save(this.record)
  }

  #setInfo (info: ParsedInfo): void {
    this.info = info
    const have = this.record.have
    if (have !== null && have.length === Math.ceil(info.pieceCount / 8)) {
      try {
        this.#have = new Bitfield(info.pieceCount, have)
        return
      } catch { /* spare bits set: damaged, checked below */ }
    }
    this.#have = new Bitfield(info.pieceCount)
    // No usable resume data: whatever is on disk is checked (planCheck finds out whether there is anything).
    this.#pendingCheck = 'all'
    if (have !== null) this.#host.log(this, 'its resume data was damaged: every piece is checked again')
  }

  #currentHave (): Bitfield | undefined {
    return this.#transfer?.have ?? this.#have
  }

  #verifiedBytes (): number {
    const have = this.#currentHave()
    const info = this.info
    if (have === undefined || info === undefined || have.count === 0) return 0
    const last = info.pieceCount - 1
    const lastSize = info.totalSize - last * info.pieceLength
    return (have.count - (have.has(last) ? 1 : 0)) * info.pieceLength + (have.has(last) ? lastSize : 0)
  }

  async #activate (signal: AbortSignal): Promise<void> {
    if (this.info === undefined) await this.#fetchMetadata(signal)
    if (signal.aborted) return
    if (!this.#claimed && (this.#run0.existing ?? 'use') !== 'use') {
      await this.#claimPlace(signal)
      if (signal.aborted) return
      if (this.foundComplete) this.#host.changed(this, 'complete')
    }
    if (!this.#planned) await this.#planCheck()
    if (this.#pendingCheck !== undefined) {
      await this.#check(signal)
      if (signal.aborted) return
      // Checked into the download slot it held; as a seed it may have to wait for a seed slot.
      if (this.complete) this.#host.changed(this, 'complete')
    }
    await this.#serial(async () => {
      if (signal.aborted) return
      await this.#begin()
    })
  }

  /**
   * A magnet's info dictionary, over the torrent's own connections (MetadataSwarm): peers from its trackers (or the
   * node's), from those who connect to us for it, and given by hand. Those connections carry on into the download.
   */
  async #fetchMetadata (signal: AbortSignal): Promise<void> {
    this.#setState('metadata')
    const host = this.#host
    const magnet = parseMagnet(this.record.magnet)
    const own = magnet.trackers.filter(t => /^(https?|udp):\/\//i.test(t))
    const trackers = own.length > 0 ? own : [...host.fallbackTrackers]
    if (trackers.length === 0 && this.#manualPeers.length === 0) {
      throw new TransferError('ERR_NO_PEERS', 'The magnet link names no HTTP or UDP tracker to find peers with, and the node has none (--tracker); the DHT is not supported yet')
    }
    let got: (raw: Buffer) => void = () => {}
    const metadata = new Promise<Buffer>((resolve) => { got = resolve })
    const swarm = new MetadataSwarm({
      infoHash: Buffer.from(this.infoHash, 'hex'),
      peerId: host.peerId,
      listenPort: host.port,
      ...(host.transport === undefined ? {} : { transport: host.transport }),
      onMetadata: (raw) => { got(raw) },
      onLog: (m) => { host.log(this, m) }
    })
    this.#swarm = swarm
    for (const p of this.#manualPeers) swarm.addPeers([p], p.source)
    if (trackers.length > 0) {
      this.#announcer = new Announcer({ trackers, transfer: swarm, peerId: host.peerId, port: host.port, totalLength: 1, onLog: (m) => { host.log(this, m) } })
      void this.#announcer.start()
    }
    const raw = await Promise.race([metadata, new Promise<undefined>((resolve) => { signal.addEventListener('abort', () => { resolve(undefined) }, { once: true }) })])
    if (raw === undefined || signal.aborted) return
    const info = parseInfoDict(raw)
    this.#run0.acceptMetadata?.(info)
    await this.#serial(async () => {
      this.record.info = info.raw
      this.record.name = info.name
      this.record.trackers = trackers
      host.store.saveTorrentFile(this.infoHash, encodeMetainfo({ info: info.raw, trackers, createdBy: CREATED_BY }))
      this.#setInfo(info)
      this.#save()
    })
    host.log(this, `metadata: ${info.name}, ${info.totalSize} bytes in ${info.pieceCount} pieces, from ${swarm.connections} connections kept for the download`)
    host.changed(this, 'metadata')
  }

  /** Where the content is now: the final place, or the `.part` one. */
  async #location (): Promise<'final' | 'part'> {
    if (this.record.sharedInPlace || this.record.doneAt !== null) return 'final'
    const part = join(this.record.downloadDir, this.#top + PART_SUFFIX)
    const final = join(this.record.downloadDir, this.#top)
    if (this.#replaceFinal || await kindOf(part) !== 'missing') return 'part'
    // No .part but the content under its name: killed between the rename and its record, or added over content that
    // was there (checked first; the pieces it held are kept and the rest fetched into it, in place). A file there
    // without one verified piece is someone else's: the download goes to .part, and never replaces it.
    if (((this.#have?.count ?? 0) > 0 || this.#pendingCheck === 'all') && await kindOf(final) !== 'missing') return 'final'
    return 'part'
  }

  /** The top name of its content on disk: the torrent's name, or the one it was told to use. */
  get #top (): string {
    return this.#run0.contentName ?? (this.info as ParsedInfo).name
  }

  #files (suffix: string): StoreFile[] {
    const info = this.info as ParsedInfo
    const root = this.record.downloadDir
    const top = this.#top
    return info.files.map(f => {
      const rest = f.path.split('/').slice(1)
      return { path: resolveInside(root, [`${top}${suffix}`, ...rest].join('/')), length: f.length, padding: f.padding }
    })
  }

  /**
   * `existing: 'refuse' | 'replace'`: what is at the final name is looked at before anything is written. This torrent's
   * content, complete (every file a regular file of its size, no link on the way, every piece good): seeded from there,
   * or just reported present. Anything else: refused (ERR_OUTPUT_EXISTS), or left to be replaced once the download
   * beside it (`.part`) is verified.
   */
  async #claimPlace (signal: AbortSignal): Promise<void> {
    this.#claimed = true
    const final = join(this.record.downloadDir, this.#top)
    const kind = await pathKind(final)
    if (kind === 'missing') return
    const info = this.info as ParsedInfo
    const files = this.#files('')
    let intact = kind !== 'link'
    for (const f of files) {
      if (!intact) break
      if (f.padding === true) continue
      try {
        assertNoLinksInside(this.record.downloadDir, f.path)
      } catch {
        intact = false
        break
      }
      const s = await statOf(f.path)
      intact = s !== undefined && s.size === f.length
    }
    if (intact) {
      const have = new Bitfield(info.pieceCount)
      await this.#hashPieces(files, Array.from({ length: info.pieceCount }, (_, i) => i), have, signal)
      if (signal.aborted) return
      if (have.complete) {
        this.#have = have
        this.#pendingCheck = undefined
        this.#planned = true
        this.foundComplete = true
        this.record.doneAt = Date.now()
        this.record.error = null
        this.#save()
        return
      }
    }
    if (this.#run0.existing === 'refuse') throw existsRefused(final, 'nothing was downloaded')
    this.#replaceFinal = true
  }

  /**
   * Compares each file with what the node recorded: a file missing loses its pieces, a file of another size or
   * modified since (its stamp differs) has its verified pieces checked again; the rest are trusted. Never-checked
   * content over existing files is checked in full; over nothing, nothing is checked.
   */
  async #planCheck (): Promise<void> {
    this.#planned = true
    const info = this.info as ParsedInfo
    const have = this.#have as Bitfield
    const files = this.#files(await this.#location() === 'final' ? '' : PART_SUFFIX)
    const stamps = this.record.stamps
    const recheck = this.#pendingCheck === 'all' ? undefined : new Set<number>()
    let anyFile = false
    for (const [i, f] of files.entries()) {
      if (f.padding === true || f.length === 0) continue
      const [first, last] = pieceSpan(info.files[i]?.offset ?? 0, f.length, info.pieceLength)
      const now = await statOf(f.path)
      if (now === undefined) {
        for (let p = first; p <= last; p++) have.clear(p)
        if (recheck !== undefined && have.count > 0) this.#host.log(this, `${relative(this.record.downloadDir, f.path)} is missing: its pieces are fetched again`)
        continue
      }
      anyFile = true
      if (recheck === undefined) continue
      const stamp = stamps?.[i]
      const sizeChanged = now.size !== f.length
      const touched = stamp !== undefined && (stamp.size !== now.size || stamp.mtimeMs !== now.mtimeMs)
      if (!sizeChanged && !touched) continue
      let n = 0
      for (let p = first; p <= last; p++) if (have.has(p)) { recheck.add(p); n++ }
      if (n > 0) this.#host.log(this, `${relative(this.record.downloadDir, f.path)} ${sizeChanged ? `has ${now.size} bytes, not ${f.length}` : 'was modified since the node last saw it'}: its ${n} verified pieces are checked again`)
    }
    if (recheck === undefined) {
      // Nothing there yet: a fresh download, nothing to hash.
      this.#pendingCheck = anyFile ? 'all' : undefined
      if (!anyFile) this.#have = new Bitfield(info.pieceCount)
    } else {
      this.#pendingCheck = recheck.size > 0 ? recheck : undefined
    }
  }

  /** Hash the pending pieces of what is on disk; the rest keep what was recorded. */
  async #check (signal: AbortSignal): Promise<void> {
    const info = this.info as ParsedInfo
    const pending = this.#pendingCheck
    if (pending === undefined) return
    const have = this.#have as Bitfield
    const pieces = pending === 'all' ? Array.from({ length: info.pieceCount }, (_, i) => i) : [...pending].sort((a, b) => a - b)
    const location = await this.#location()
    await this.#hashPieces(this.#files(location === 'final' ? '' : PART_SUFFIX), pieces, have, signal)
    if (signal.aborted) return
    this.#pendingCheck = undefined
    this.record.stamps = null
    this.record.error = null
    this.lastCheck = { pieces: pieces.length, verified: have.count }
    this.#host.log(this, `checked ${pieces.length} pieces: ${have.count} of ${info.pieceCount} verified`)
    this.#save()
  }

  /** Hash `pieces` of `files` as they are (state `checking`, counted), setting or clearing each in `have`. */
  async #hashPieces (files: StoreFile[], pieces: number[], have: Bitfield, signal: AbortSignal): Promise<void> {
    const info = this.info as ParsedInfo
    this.#setState('checking')
    this.checkedPieces = 0
    this.#checkTotal = pieces.length
    const buffer = Buffer.allocUnsafe(info.pieceLength)
    for (const index of pieces) {
      if (signal.aborted) return
      const piece = await readPieceIfPresent(files, info, index, buffer)
      const ok = piece !== undefined && createHash('sha1').update(piece).digest().equals(info.pieces.subarray(index * 20, index * 20 + 20))
      if (ok) have.set(index)
      else have.clear(index)
      this.checkedPieces++
      this.#host.countChecked(1)
    }
  }

  /** Open the store, start the transfer and its announcer: downloading or seeding. */
  async #begin (): Promise<void> {
    const info = this.info as ParsedInfo
    const have = this.#have as Bitfield
    const complete = have.complete
    if (complete && await this.#location() === 'part') await this.#moveIntoPlace()
    if (complete && this.#run0.seedWhenComplete === false) {
      // A one-shot download of content that is already here: nothing to fetch, nobody to tell.
      this.record.finished = true
      this.#save()
      this.#setState('stopped')
      return
    }
    const location = await this.#location()
    const root = this.record.downloadDir
    const files = this.#files(location === 'final' ? '' : PART_SUFFIX)
    // Shared in place, or complete: read only (a seed never writes the user's files).
    const writable = !complete
    if (writable) {
      await mkdir(root, { recursive: true })
      // From here the node writes: the stamps no longer describe the files until it stops.
      this.record.stamps = null
      this.#host.store.save(this.record)
    }
    const store = PieceStore.open(files, info.pieceLength, writable ? 'write' : 'read', this.record.sharedInPlace ? {} : { root })
    this.#pieceStore = store
    const host = this.#host
    const transfer = new Transfer({
      infoHash: Buffer.from(this.infoHash, 'hex'),
      pieceHashes: info.pieces,
      pieceLength: info.pieceLength,
      totalLength: info.totalSize,
      store,
      have: cloneBitfield(have),
      peerId: host.peerId,
      listenPort: host.port,
      metadata: info.raw,
      seed: true,
      uploadLimit: new LimitPair(this.#ownUp, host.uploadLimit),
      downloadLimit: new LimitPair(this.#ownDown, host.downloadLimit),
      private: info.private,
      ...(this.#swarm === undefined ? {} : { candidates: this.#swarm.candidates }),
      ...(host.transport === undefined ? {} : { transport: host.transport })
    })
    this.#transfer = transfer
    this.#baseDown = this.record.downloadedEver
    this.#baseUp = this.record.uploadedEver
    this.#lastDown = 0
    this.#lastUp = 0
    transfer.events.on('log', (m) => { host.log(this, m) })
    transfer.events.on('pieceVerified', () => { this.#scheduleHaveSave(transfer) })
    transfer.events.on('complete', () => { void this.#serial(async () => { await this.#completed(transfer) }) })
    transfer.completed.catch((err: unknown) => {
      if (this.#transfer !== transfer) return
      void this.#serial(async () => {
        await this.#deactivate()
        this.#fail(err as Error)
      })
    })
    transfer.start({ timer: false })
    for (const p of this.#manualPeers) transfer.addPeers([p], p.source)
    for (const l of this.#legacy) transfer.addLegacyPeers(l.peers, l.options)
    // The magnet's connections carry on, and its announcer reports for the transfer (no second `started`).
    const swarm = this.#swarm
    this.#swarm = undefined
    if (swarm !== undefined) for (const adopted of swarm.handOver()) transfer.adopt(adopted)
    if (this.#announcer !== undefined) {
      this.#announcer.setTarget(transfer, info.totalSize)
      this.#announcer.announceNow()
    } else {
      const trackers = this.record.trackers.filter(t => /^(https?|udp):\/\//i.test(t))
      if (trackers.length > 0) {
        this.#announcer = new Announcer({ trackers, transfer, peerId: host.peerId, port: host.port, totalLength: info.totalSize, onLog: (m) => { host.log(this, m) } })
        this.#announceStarted = this.#announcer.start()
      }
    }
    this.#started = true
    this.#setState(complete ? 'seeding' : 'downloading')
    this.#wake()
  }

  /** Whoever waits for a change (seedingAnnounced) looks again. */
  #wake (): void {
    for (const wake of [...this.#stateWaiters]) wake()
  }

  /** Every piece verified: the content takes its final name, the trackers hear `completed`, and it seeds. */
  async #completed (transfer: Transfer): Promise<void> {
    if (this.#transfer !== transfer) return
    this.#flushHave(transfer)
    try {
      // Counted as a download (its slot held) until its content has its final name.
      if (await this.#location() === 'part') await this.#moveIntoPlace()
      this.#have = cloneBitfield(transfer.have)
    } catch (err) {
      await this.#deactivate()
      this.#fail(err as Error)
      return
    }
    this.record.doneAt = Date.now()
    this.record.stamps = await this.#stamps()
    this.#save()
    if (this.#run0.seedWhenComplete === false) {
      await this.#announcer?.completed()
      await this.#deactivate()
      this.record.finished = true
      this.#save()
      this.#setState('stopped')
      this.#host.log(this, 'complete: every piece verified')
      this.#host.changed(this, 'complete')
      return
    }
    void this.#announcer?.completed()
    this.#setState('seeding')
    this.#host.log(this, 'complete: every piece verified')
    this.#host.changed(this, 'complete')
  }

  /** `<name>.part` becomes `<name>`; something else already there is never replaced (but with `existing: 'replace'`). */
  async #moveIntoPlace (): Promise<void> {
    const final = join(this.record.downloadDir, this.#top)
    await this.#run0.beforeFinal?.(final + PART_SUFFIX)
    await moveIntoPlace(final + PART_SUFFIX, final, this.#replaceFinal)
    this.#replaceFinal = false
    this.record.doneAt ??= Date.now()
    this.#save()
  }

  #scheduleHaveSave (transfer: Transfer): void {
    // One write for the pieces verified in the same turn of the event loop, right after their writes completed.
    if (this.#haveDirty) return
    this.#haveDirty = true
    setImmediate(() => { this.#flushHave(transfer) })
  }

  #flushHave (transfer: Transfer): void {
    if (!this.#haveDirty) return
    this.#haveDirty = false
    this.record.downloadedEver = this.#baseDown + transfer.downloaded
    this.record.uploadedEver = this.#baseUp + transfer.uploaded
    this.record.activityAt = Date.now()
    this.record.have = Buffer.from(transfer.have.bytes)
    this.#host.store.saveHave(this.id, transfer.have.bytes, this.record.downloadedEver, this.record.uploadedEver, this.record.activityAt)
  }

  /** Ends whatever runs (metadata, check, transfer) and records what it did; idempotent. */
  async #deactivate (): Promise<void> {
    const run = this.#run
    this.#run = undefined
    run?.abort()
    const transfer = this.#transfer
    const announcer = this.#announcer
    this.#transfer = undefined
    this.#announcer = undefined
    this.#swarm?.close()
    this.#swarm = undefined
    await announcer?.stop()
    if (transfer !== undefined) {
      transfer.close()
      await transfer.flushed()
      this.#haveDirty = true
      this.#flushHave(transfer)
      this.#have = cloneBitfield(transfer.have)
      this.#runDown += transfer.downloaded
      this.#runUp += transfer.uploaded
    }
    this.#pieceStore?.close()
    this.#pieceStore = undefined
    if (transfer !== undefined && this.info !== undefined) this.record.stamps = await this.#stamps()
  }

  /** Each file's size and mtime as it is now (null for a file not there). */
  async #stamps (): Promise<FileStamp[] | null> {
    const files = this.#files(await this.#location() === 'final' ? '' : PART_SUFFIX)
    const out: FileStamp[] = []
    for (const f of files) {
      const s = f.padding === true ? { size: 0, mtimeMs: 0 } : await statOf(f.path)
      if (s === undefined) return null
      out.push(s)
    }
    return out
  }

  #checkSeedLimits (now: number): void {
    const settings = this.#host.settings()
    const ratio = this.record.limits.seedRatioLimit ?? settings.seedRatioLimit
    const idle = this.record.limits.seedIdleLimitMinutes ?? settings.seedIdleLimitMinutes
    const size = this.info?.totalSize ?? 0
    const reached = (ratio !== null && size > 0 && this.record.uploadedEver / size >= ratio) ||
      (idle !== null && now - (this.record.activityAt ?? this.record.doneAt ?? now) >= idle * 60_000)
    if (!reached) return
    this.#host.log(this, 'seed limit reached: stopped seeding')
    void this.stop('stopped')
  }
}

function cloneBitfield (b: Bitfield): Bitfield {
  return new Bitfield(b.size, b.bytes)
}

/** Pieces [first, last] that bytes [offset, offset + length) touch. */
function pieceSpan (offset: number, length: number, pieceLength: number): [number, number] {
  return [Math.floor(offset / pieceLength), Math.floor((offset + Math.max(length, 1) - 1) / pieceLength)]
}

function bytesVerifiedIn (offset: number, length: number, info: ParsedInfo, have: Bitfield): number {
  if (length === 0) return 0
  const [first, last] = pieceSpan(offset, length, info.pieceLength)
  let bytes = 0
  for (let p = first; p <= last; p++) {
    if (!have.has(p)) continue
    const start = Math.max(offset, p * info.pieceLength)
    const end = Math.min(offset + length, (p + 1) * info.pieceLength)
    bytes += end - start
  }
  return bytes
}

/** A piece read from the files as they are; undefined where a file is missing or short (the piece is not there). */
async function readPieceIfPresent (files: StoreFile[], info: ParsedInfo, index: number, buffer: Buffer): Promise<Buffer | undefined> {
  const size = Math.min(info.pieceLength, info.totalSize - index * info.pieceLength)
  const start = index * info.pieceLength
  const out = buffer.subarray(0, size)
  for (const [i, f] of files.entries()) {
    const fileStart = info.files[i]?.offset ?? 0
    const fileEnd = fileStart + f.length
    if (fileEnd <= start || fileStart >= start + size || f.length === 0) continue
    const from = Math.max(start, fileStart)
    const to = Math.min(start + size, fileEnd)
    if (f.padding === true) { out.fill(0, from - start, to - start); continue }
    let handle
    try {
      handle = await open(f.path, 'r')
    } catch {
      return undefined
    }
    try {
      const { bytesRead } = await handle.read(out, from - start, to - from, from - fileStart)
      if (bytesRead !== to - from) return undefined
    } finally {
      await handle.close()
    }
  }
  return out
}

async function statOf (path: string): Promise<FileStamp | undefined> {
  try {
    const s = await lstat(path)
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined
  } catch {
    return undefined
  }
}

async function kindOf (path: string): Promise<'missing' | 'file' | 'dir' | 'other'> {
  try {
    const s = await lstat(path)
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other'
  } catch {
    return 'missing'
  }
}

/** Remove `dir` and the folders below it that are empty; a folder holding anything else stays. */
async function removeEmptyDirs (dir: string): Promise<void> {
  if (await kindOf(dir) !== 'dir') return
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeEmptyDirs(join(dir, entry.name))
  }
  try { await rmdir(dir) } catch { /* not empty: the user's files stay */ }
}


