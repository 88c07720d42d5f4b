/**
 * A session: the one listening port for every torrent (inbound connections routed by info hash), one peer id, the
 * global limits, one timer, the queue, the torrents, and their persistent state (resume-store.ts). What a long-running
 * node is; the daemon's APIs drive it through `SessionApi` (types.ts).
 */
import { lstat, readdir, readFile, rename, statfs } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { createMetainfo, isHex40, isMagnet, magnetLink, parseMagnet, parseMetainfo, type Metainfo } from '../content/index.js'
import { announceUrl, SeedTrackerClient } from '../discovery/index.js'
import { P2PError, StorageError, ValidationError } from '../errors.js'
import { makePeerId } from '../node/announcer.js'
import { PeerListener, type PeerListenerOptions } from '../node/peer-listener.js'
import { RateLimiter, TICK_MS, TypedEmitter } from '../swarm/index.js'
import type { Transport } from '../wire/index.js'
import { ResumeStore, type NewTorrentRecord, type TorrentRecord } from './resume-store.js'
import { Torrent, type TorrentHost, type TorrentRunOptions } from './torrent.js'
import type {
  AddOptions, AddSource, FreeSpace, SessionApi, SessionEventMap, SessionSettings, SessionStats, SettingsChanges, TorrentChanges,
  TorrentDetail, TorrentLimits, TorrentRef, TorrentSummary
} from './types.js'

export const SESSION_VERSION = '0.1.0'
/** Defaults (Transmission's download queue is 5 too; seeds are cheap here, see bench/results/node.md). */
export const DEFAULT_MAX_ACTIVE_DOWNLOADS = 5
export const DEFAULT_MAX_ACTIVE_SEEDS = 100
/** The watch folder is looked at this often; a file is added once its size held still for one look. */
const WATCH_INTERVAL_MS = 2_000
/** The session's timer when no torrent is busy. */
const IDLE_TICK_MS = 1_000
/** Cumulative statistics are written this often (and at shutdown). */
const COUNTERS_INTERVAL_MS = 30_000
/** Most torrents one session holds. */
export const MAX_TORRENTS = 10_000

export interface SessionOptions {
  /** Where node.db and torrents/ live; undefined: in memory, nothing kept (a one-shot command's session). */
  dataDir?: string
  /** Default download folder (kept in the state once set; this overrides it). */
  downloadDir?: string
  /** BitTorrent port (default 6881; 0: any free one) and address (default 0.0.0.0). */
  port?: number
  host?: string
  /** The tracker that `catalogue` adds ask, whose announce URL shares and tracker-less magnets use. */
  trackerUrl?: string
  transport?: Transport
  /** Overrides of the persisted settings. */
  settings?: SettingsChanges
  /** Lines for the log (the daemon prints them with --verbose). */
  onLog?: (message: string) => void
  /** A global upload limit owned by the caller (shared with what else it serves); default: the session's own. */
  uploadLimit?: RateLimiter
  /** The same for downloads (a one-shot `download -d`). */
  downloadLimit?: RateLimiter
  /** GET_CHUNK serving on the same port (what `share FILE` offers the seed's peers): its files and dialect. */
  chunks?: Pick<PeerListenerOptions, 'source' | 'dialect' | 'onRequest'>
}

export class Session implements SessionApi {
  readonly events = new TypedEmitter<SessionEventMap>()
  readonly version = SESSION_VERSION
  readonly peerId = makePeerId()
  readonly store: ResumeStore
  readonly uploadLimit: RateLimiter
  readonly downloadLimit: RateLimiter
  readonly #ownUploadLimit: boolean
  readonly #ownDownloadLimit: boolean
  readonly #o: SessionOptions
  readonly #torrents = new Map<number, Torrent>()
  readonly #byHash = new Map<string, Torrent>()
  readonly #listener: PeerListener
  readonly #settings: SessionSettings
  readonly #host: TorrentHost
  #port = 0
  #address = { host: '', port: 0 }
  #timer: NodeJS.Timeout | undefined
  #lastSecond = 0
  #lastWatch = 0
  #scheduled = false
  #closed = false
  readonly #startedAt = Date.now()
  #cumulative = { downloaded: 0, uploaded: 0, seconds: 0, sessions: 0 }
  #piecesChecked = 0
  readonly #watchSizes = new Map<string, number>()
  #watching = false
  #lastCounters = Date.now()

  private constructor (options: SessionOptions, store: ResumeStore) {
    this.#o = options
    this.store = store
    this.uploadLimit = options.uploadLimit ?? new RateLimiter(0)
    this.#ownUploadLimit = options.uploadLimit === undefined
    this.downloadLimit = options.downloadLimit ?? new RateLimiter(0)
    this.#ownDownloadLimit = options.downloadLimit === undefined
    const saved = parseSettings(store.getSetting('settings'))
    this.#settings = {
      downloadDir: resolve(options.downloadDir ?? saved.downloadDir ?? join(options.dataDir ?? '.', 'downloads')),
      port: options.port ?? 6881,
      maxActiveDownloads: saved.maxActiveDownloads ?? DEFAULT_MAX_ACTIVE_DOWNLOADS,
      maxActiveSeeds: saved.maxActiveSeeds ?? DEFAULT_MAX_ACTIVE_SEEDS,
      uploadLimit: saved.uploadLimit ?? null,
      downloadLimit: saved.downloadLimit ?? null,
      seedRatioLimit: saved.seedRatioLimit ?? null,
      seedIdleLimitMinutes: saved.seedIdleLimitMinutes ?? null,
      watchDir: saved.watchDir ?? null,
      ...options.settings
    }
    this.#applyLimits()
    this.#listener = new PeerListener({
      host: options.host ?? '0.0.0.0',
      port: this.#settings.port,
      // GET_CHUNK serving is for `share`; the node speaks BitTorrent only (docs/node.md).
      dialect: options.chunks?.dialect ?? 'published',
      source: options.chunks?.source ?? { size: () => undefined, readInto: async () => {} },
      ...(options.chunks?.onRequest === undefined ? {} : { onRequest: options.chunks.onRequest }),
      ...(options.chunks === undefined ? {} : { uploadLimit: this.uploadLimit }),
      torrents: (hash) => this.#byHash.get(hash.toString('hex'))?.inbound,
      ...(options.transport === undefined ? {} : { transport: options.transport })
    })
    const port = (): number => this.#port
    this.#host = {
      peerId: this.peerId,
      get port () { return port() },
      store,
      uploadLimit: this.uploadLimit,
      downloadLimit: this.downloadLimit,
      transport: options.transport,
      fallbackTrackers: options.trackerUrl === undefined ? [] : [announceUrl(options.trackerUrl)],
      settings: () => this.#settings,
      changed: (t, what) => { this.#changed(t, what) },
      log: (t, message) => { this.#log(t, message) },
      countChecked: (n) => { this.#piecesChecked += n }
    }
  }

  /**
   * Opens the state in `dataDir`, listens, and starts every torrent that was running (queue limits permitting). A
   * damaged state is moved aside and its torrents re-added from their kept .torrent files, checked in full.
   */
  static async open (options: SessionOptions): Promise<Session> {
    const { store, recovered } = options.dataDir === undefined ? { store: ResumeStore.memory(), recovered: undefined } : ResumeStore.open(resolve(options.dataDir))
    const session = new Session(options, store)
    try {
      if (recovered !== undefined) session.#log(undefined, recovered)
      const counters = store.counters()
      session.#cumulative = { downloaded: counters.downloaded ?? 0, uploaded: counters.uploaded ?? 0, seconds: counters.seconds ?? 0, sessions: (counters.sessions ?? 0) + 1 }
      store.setCounters({ sessions: session.#cumulative.sessions })
      session.#address = await session.#listener.listen()
      session.#port = session.#address.port
      session.#settings.port = session.#port
      const records = store.list()
      if (recovered !== undefined && records.length === 0) session.#recover()
      for (const record of store.list()) session.#track(new Torrent(session.#host, record))
      session.#nextTick(TICK_MS)
      session.#schedule()
      return session
    } catch (err) {
      await session.#listener.close()
      store.close()
      throw err
    }
  }

  get port (): number {
    return this.#port
  }

  /** The listening address (host as bound). */
  get address (): { host: string, port: number } {
    return { ...this.#address }
  }

  /** The listener's counts (GET_CHUNK requests served, connections open and refused). */
  get listenerStats (): PeerListener['stats'] {
    return this.#listener.stats
  }

  /** Stop accepting connections (and close the open ones) before the rest of `close()`; idempotent. */
  async stopListening (): Promise<void> {
    await this.#listener.close()
  }

  /**
   * Seed content of the caller's that it has just hashed (`share`): the torrent made of it, seeded from `path` as it
   * is, trusted without a second hash. Resolves once it seeds and its trackers have answered a first announce (or
   * failed), as a one-shot `share` reports "online" only then.
   */
  async seedInPlace (torrent: Buffer, path: string, options: { signal?: AbortSignal } = {}): Promise<Torrent> {
    const meta = parseMetainfo(torrent)
    this.#refuseDuplicate(meta.infoHash)
    const have = Buffer.alloc(Math.ceil(meta.info.pieceCount / 8))
    for (let i = 0; i < meta.info.pieceCount; i++) have[i >> 3] = (have[i >> 3] ?? 0) | (0x80 >> (i & 7))
    const stamps = []
    for (const f of meta.info.files) {
      const at = meta.info.multiFile ? join(dirname(resolve(path)), f.path) : resolve(path)
      const s = f.padding ? { size: 0, mtimeMs: 0 } : await lstat(at)
      stamps.push({ size: s.size, mtimeMs: s.mtimeMs })
    }
    const record: NewTorrentRecord = {
      ...fromMetainfo(meta), downloadDir: dirname(resolve(path)), sharedInPlace: true, fileHash: null, paused: false, addedAt: Date.now(), doneAt: Date.now(),
      activityAt: null, uploadedEver: 0, downloadedEver: 0, limits: { uploadLimit: null, downloadLimit: null, seedRatioLimit: null, seedIdleLimitMinutes: null },
      have, stamps, finished: false, secondsDownloading: 0, secondsSeeding: 0, error: null
    }
    const t = new Torrent(this.#host, this.store.insert(record, torrent))
    this.#track(t)
    this.events.emit('added', t.summary())
    this.#schedule()
    await t.seedingAnnounced(options.signal)
    return t
  }

  get settings (): SessionSettings {
    return { ...this.#settings }
  }

  list (): TorrentSummary[] {
    return this.#ordered().map(t => t.summary())
  }

  get (ref: TorrentRef): TorrentDetail | undefined {
    return this.#find(ref)?.detail()
  }

  /** The torrent handle itself (tests and the daemon's own use; the APIs use summaries). */
  torrent (ref: TorrentRef): Torrent | undefined {
    return this.#find(ref)
  }

  /** Dial these peers for the torrent (libtorrent's connect_peer): for tests, and peers a user knows of. */
  addPeers (ref: TorrentRef, peers: ReadonlyArray<{ host: string, port: number }>): void {
    this.#need(ref).addPeers(peers)
  }

  /** `run`: how the torrent runs beyond its record (what a one-shot `download` asks; torrent.ts), not persisted. */
  async add (source: AddSource, options: AddOptions = {}, run: TorrentRunOptions = {}): Promise<TorrentSummary> {
    if (this.#closed) throw new P2PError('ERR_CLOSED', 'The session is shutting down')
    if (this.#torrents.size >= MAX_TORRENTS) throw new ValidationError(`The node holds ${MAX_TORRENTS} torrents, its most`)
    const downloadDir = resolve(options.downloadDir ?? this.#settings.downloadDir)
    const limits: TorrentLimits = { uploadLimit: null, downloadLimit: null, seedRatioLimit: null, seedIdleLimitMinutes: null, ...options.limits }
    const base = { downloadDir, sharedInPlace: false, fileHash: null, paused: options.paused === true, addedAt: Date.now(), doneAt: null, activityAt: null, uploadedEver: 0, downloadedEver: 0, limits, have: null, stamps: null, finished: false, secondsDownloading: 0, secondsSeeding: 0, error: null }
    let record: NewTorrentRecord
    let torrentFile: Buffer | undefined
    switch (source.kind) {
      case 'torrent': {
        const meta = parseMetainfo(source.data)
        this.#refuseDuplicate(meta.infoHash)
        record = { ...base, ...fromMetainfo(meta) }
        torrentFile = source.data
        break
      }
      case 'magnet': {
        const uri = magnetOf(source.uri)
        const magnet = parseMagnet(uri)
        this.#refuseDuplicate(magnet.infoHash)
        record = { ...base, infoHash: magnet.infoHash, name: magnet.name ?? magnet.infoHash, magnet: uri, info: null, trackers: magnet.trackers }
        break
      }
      case 'path': {
        const path = resolve(source.path)
        const trackers = this.#o.trackerUrl === undefined ? [] : [announceUrl(this.#o.trackerUrl)]
        const created = await createMetainfo({ path, trackers, createdBy: `p2pshare ${SESSION_VERSION}` })
        this.#refuseDuplicate(created.infoHash)
        const meta = parseMetainfo(created.torrent)
        const stamps = []
        for (const f of created.files) {
          const s = await lstat(f.path)
          stamps.push({ size: s.size, mtimeMs: s.mtimeMs })
        }
        const have = Buffer.alloc(Math.ceil(created.info.pieceCount / 8))
        for (let i = 0; i < created.info.pieceCount; i++) have[i >> 3] = (have[i >> 3] ?? 0) | (0x80 >> (i & 7))
        record = {
          ...base, ...fromMetainfo(meta), downloadDir: dirname(path), sharedInPlace: true, have, stamps, doneAt: Date.now(),
          fileHash: created.info.multiFile ? null : created.files[0]?.sha1 ?? null
        }
        if (basename(path) !== created.info.name) throw new StorageError('ERR_INPUT', `Cannot share ${path}: its name does not make a valid torrent name`)
        torrentFile = created.torrent
        break
      }
      case 'catalogue': {
        if (this.#o.trackerUrl === undefined) throw new ValidationError('The node has no tracker to look names up in (start it with --tracker URL)')
        // Loaded when first needed: the download module is most of what a node would load at start for nothing.
        const { resolveTarget } = await import('../node/download.js')
        const found = await resolveTarget(new SeedTrackerClient(this.#o.trackerUrl), source.query)
        if (found.info_hash === undefined || !isHex40(found.info_hash)) {
          throw new P2PError('ERR_NOT_SUPPORTED', `"${found.file_name}" is shared only by GET_CHUNK peers; the node downloads over BitTorrent (use p2pshare download)`)
        }
        const infoHash = found.info_hash.toLowerCase()
        this.#refuseDuplicate(infoHash)
        const uri = magnetLink({ infoHash, name: found.file_name, trackers: [announceUrl(this.#o.trackerUrl)] })
        record = { ...base, infoHash, name: found.file_name, magnet: uri, info: null, trackers: [announceUrl(this.#o.trackerUrl)] }
        break
      }
    }
    // Checked again: another add of the same hash may have finished while this one awaited.
    this.#refuseDuplicate(record.infoHash)
    const torrent = new Torrent(this.#host, this.store.insert(record, torrentFile), run)
    this.#track(torrent)
    this.#log(torrent, `added${record.paused ? ' (paused)' : ''}`)
    this.events.emit('added', torrent.summary())
    this.#schedule()
    return torrent.summary()
  }

  async pause (ref: TorrentRef): Promise<TorrentSummary> {
    const t = this.#need(ref)
    await t.stop('paused')
    this.#schedule()
    return t.summary()
  }

  async resume (ref: TorrentRef): Promise<TorrentSummary> {
    const t = this.#need(ref)
    await t.resume()
    this.#schedule()
    return t.summary()
  }

  async remove (ref: TorrentRef, options: { deleteData?: boolean } = {}): Promise<void> {
    const t = this.#need(ref)
    this.#torrents.delete(t.id)
    this.#byHash.delete(t.infoHash)
    await t.close()
    if (options.deleteData === true) await t.deleteData()
    this.store.remove(t.id, t.infoHash)
    this.#renumberQueue()
    this.#log(t, `removed${options.deleteData === true ? ' with its data' : ''}`)
    this.events.emit('removed', { id: t.id, infoHash: t.infoHash })
    this.#schedule()
  }

  async verify (ref: TorrentRef): Promise<TorrentSummary> {
    const t = this.#need(ref)
    await t.verify()
    this.#schedule()
    return t.summary()
  }

  async reannounce (ref: TorrentRef): Promise<TorrentSummary> {
    const t = this.#need(ref)
    t.reannounce()
    return t.summary()
  }

  async set (ref: TorrentRef, changes: TorrentChanges): Promise<TorrentSummary> {
    const t = this.#need(ref)
    if (changes.limits !== undefined) t.setLimits(checkLimits(changes.limits))
    this.events.emit('state', t.summary())
    return t.summary()
  }

  async setLocation (ref: TorrentRef, dir: string, options: { move?: boolean } = {}): Promise<TorrentSummary> {
    const t = this.#need(ref)
    if (t.record.sharedInPlace) throw new ValidationError('A torrent shared from where its files are cannot be moved')
    try {
      await t.setLocation(resolve(dir), options.move === true)
    } finally {
      this.#schedule()
    }
    return t.summary()
  }

  async queueMove (ref: TorrentRef, to: 'top' | 'up' | 'down' | 'bottom'): Promise<void> {
    const t = this.#need(ref)
    const order = this.#ordered()
    const at = order.indexOf(t)
    order.splice(at, 1)
    const next = to === 'top' ? 0 : to === 'bottom' ? order.length : to === 'up' ? Math.max(0, at - 1) : Math.min(order.length, at + 1)
    order.splice(next, 0, t)
    order.forEach((x, i) => { x.record.queuePosition = i })
    this.store.saveAll(order.map(x => x.record))
    this.#schedule()
  }

  async updateSettings (changes: SettingsChanges): Promise<SessionSettings> {
    const s = this.#settings
    if (changes.downloadDir !== undefined) s.downloadDir = resolve(changes.downloadDir)
    if (changes.maxActiveDownloads !== undefined) s.maxActiveDownloads = positiveInt(changes.maxActiveDownloads, 'maxActiveDownloads')
    if (changes.maxActiveSeeds !== undefined) s.maxActiveSeeds = positiveInt(changes.maxActiveSeeds, 'maxActiveSeeds')
    if (changes.uploadLimit !== undefined) s.uploadLimit = rateOrNull(changes.uploadLimit, 'uploadLimit')
    if (changes.downloadLimit !== undefined) s.downloadLimit = rateOrNull(changes.downloadLimit, 'downloadLimit')
    if (changes.seedRatioLimit !== undefined) s.seedRatioLimit = numberOrNull(changes.seedRatioLimit, 'seedRatioLimit')
    if (changes.seedIdleLimitMinutes !== undefined) s.seedIdleLimitMinutes = numberOrNull(changes.seedIdleLimitMinutes, 'seedIdleLimitMinutes')
    if (changes.watchDir !== undefined) { s.watchDir = changes.watchDir === null ? null : resolve(changes.watchDir); this.#watchSizes.clear() }
    this.#applyLimits()
    this.store.setSettings({ settings: JSON.stringify({ ...s, port: undefined }) })
    this.events.emit('settings', this.settings)
    this.#schedule()
    return this.settings
  }

  stats (): SessionStats {
    const list = [...this.#torrents.values()]
    let downloadRate = 0
    let uploadRate = 0
    let downloaded = 0
    let uploaded = 0
    for (const t of list) {
      const s = t.summary()
      downloadRate += s.downloadRate
      uploadRate += s.uploadRate
      downloaded += t.downloadedThisRun
      uploaded += t.uploadedThisRun
    }
    const seconds = Math.floor((Date.now() - this.#startedAt) / 1000)
    return {
      torrentCount: list.length,
      activeTorrentCount: list.filter(t => t.active).length,
      pausedTorrentCount: list.filter(t => t.paused).length,
      downloadRate,
      uploadRate,
      current: { downloaded, uploaded, seconds, piecesChecked: this.#piecesChecked },
      cumulative: {
        downloaded: this.#cumulative.downloaded + downloaded,
        uploaded: this.#cumulative.uploaded + uploaded,
        seconds: this.#cumulative.seconds + seconds,
        sessions: this.#cumulative.sessions
      }
    }
  }

  async freeSpace (path: string): Promise<FreeSpace> {
    const at = resolve(path)
    let s
    try {
      s = await statfs(at)
    } catch (err) {
      throw new StorageError('ERR_INPUT', `Cannot read the free space of ${at}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    return { path: at, free: s.bavail * s.bsize, total: s.blocks * s.bsize }
  }

  /** Stops every torrent (stopped announces, resume data written), the listener and the state. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    await Promise.all([...this.#torrents.values()].map(async (t) => { await t.close() }))
    this.#saveCounters()
    await this.#listener.close()
    this.store.close()
  }

  // ---- internals ----

  #track (t: Torrent): void {
    this.#torrents.set(t.id, t)
    this.#byHash.set(t.infoHash, t)
  }

  #ordered (): Torrent[] {
    return [...this.#torrents.values()].sort((a, b) => a.record.queuePosition - b.record.queuePosition || a.id - b.id)
  }

  #renumberQueue (): void {
    const order = this.#ordered()
    order.forEach((t, i) => { t.record.queuePosition = i })
    this.store.saveAll(order.map(t => t.record))
  }

  #find (ref: TorrentRef): Torrent | undefined {
    if (typeof ref === 'number') return this.#torrents.get(ref)
    if (/^\d+$/.test(ref)) return this.#torrents.get(Number(ref))
    return isHex40(ref) ? this.#byHash.get(ref.toLowerCase()) : undefined
  }

  #need (ref: TorrentRef): Torrent {
    const t = this.#find(ref)
    if (t === undefined) throw new P2PError('ERR_NOT_FOUND', `No torrent ${String(ref)} in this node`)
    return t
  }

  #refuseDuplicate (infoHash: string): void {
    const existing = this.#byHash.get(infoHash)
    if (existing !== undefined) throw Object.assign(new P2PError('ERR_DUPLICATE', `Torrent ${infoHash} is already in this node (id ${existing.id})`), { existing: existing.id })
  }

  #changed (t: Torrent, what: 'state' | 'metadata' | 'complete'): void {
    if (!this.#torrents.has(t.id)) return
    const summary = t.summary()
    this.events.emit(what, summary)
    if (what !== 'state') this.events.emit('state', summary)
    this.#schedule()
  }

  #log (t: Torrent | undefined, message: string): void {
    const line = t === undefined ? message : `#${t.id} ${t.record.name}: ${message}`
    this.#o.onLog?.(line)
    this.events.emit('log', { torrent: t?.id ?? null, message })
  }

  /** Start what may run and queue what may not, in queue order, under the download and seed limits. */
  #schedule (): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      if (this.#closed) return
      let downloads = 0
      let seeds = 0
      for (const t of this.#ordered()) {
        if (!t.runnable) continue
        const room = t.kind === 'download' ? downloads++ < this.#settings.maxActiveDownloads : seeds++ < this.#settings.maxActiveSeeds
        if (room && !t.active) void t.start()
        else if (!room && t.active) void t.stop('queued')
      }
    })
  }

  /**
   * The one timer: every TICK_MS while any torrent has connections, candidates or traffic; once a second when all
   * are idle (a node of idle seeds wakes once a second, not four times: the wake-ups were most of its idle CPU).
   */
  #nextTick (ms: number): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => { this.#nextTick(this.#tick() ? TICK_MS : IDLE_TICK_MS) }, ms)
  }

  /** One tick of every torrent; true when any of them is busy. */
  #tick (): boolean {
    const now = Date.now()
    const second = now - this.#lastSecond >= 1000 - TICK_MS / 2
    if (second) this.#lastSecond = now
    let busy = false
    for (const t of this.#torrents.values()) if (t.tick(now, second)) busy = true
    if (!second) return busy
    // Built only for someone who follows them (an event stream, the web UI): 100 summaries a second cost an idle node.
    if (this.events.has('stats')) {
      const active = [...this.#torrents.values()].filter(t => t.active)
      if (active.length > 0) this.events.emit('stats', active.map(t => t.summary()))
    }
    if (now - this.#lastCounters >= COUNTERS_INTERVAL_MS) this.#saveCounters()
    if (this.#settings.watchDir !== null && now - this.#lastWatch >= WATCH_INTERVAL_MS - TICK_MS) {
      this.#lastWatch = now
      void this.#watch()
    }
    return busy
  }

  #saveCounters (): void {
    this.#lastCounters = Date.now()
    const s = this.stats()
    // Only the torrents whose counters moved: an idle node writes nothing but its own counters.
    const moved = [...this.#torrents.values()].filter(t => t.countersMoved())
    if (moved.length > 0) this.store.saveAll(moved.map(t => t.record))
    this.store.setCounters({ downloaded: s.cumulative.downloaded, uploaded: s.cumulative.uploaded, seconds: s.cumulative.seconds })
  }

  /** New `.torrent` files in the watch folder are added, then renamed `.added` (or `.invalid`, with a log line). */
  async #watch (): Promise<void> {
    const dir = this.#settings.watchDir
    if (dir === null || this.#watching) return
    this.#watching = true
    try {
      let names: string[]
      try { names = await readdir(dir) } catch { return }
      for (const name of names.filter(n => n.endsWith('.torrent')).slice(0, 100)) {
        const path = join(dir, name)
        let size: number
        try {
          const s = await lstat(path)
          if (!s.isFile()) continue
          size = s.size
        } catch { continue }
        // Added once it stopped growing (a copy in progress is left alone until its size holds for one look).
        if (this.#watchSizes.get(path) !== size) { this.#watchSizes.set(path, size); continue }
        this.#watchSizes.delete(path)
        let suffix = '.added'
        try {
          await this.add({ kind: 'torrent', data: await readFile(path) })
        } catch (err) {
          if (!(err instanceof P2PError && err.code === 'ERR_DUPLICATE')) {
            suffix = '.invalid'
            this.#log(undefined, `watch folder: ${name} not added: ${(err as Error).message}`)
          }
        }
        await rename(path, path + suffix).catch(() => {})
      }
    } finally {
      this.#watching = false
    }
  }

  /** After a damaged state: every kept .torrent comes back, paused no more, checked in full. */
  #recover (): void {
    for (const [infoHash, bytes] of this.store.torrentFiles()) {
      try {
        const meta = parseMetainfo(bytes)
        if (meta.infoHash !== infoHash) continue
        this.store.insert({
          ...fromMetainfo(meta), downloadDir: this.#settings.downloadDir, sharedInPlace: false, fileHash: null, paused: false, addedAt: Date.now(),
          doneAt: null, activityAt: null, uploadedEver: 0, downloadedEver: 0, limits: { uploadLimit: null, downloadLimit: null, seedRatioLimit: null, seedIdleLimitMinutes: null },
          have: null, stamps: null, finished: false, secondsDownloading: 0, secondsSeeding: 0, error: null
        })
      } catch (err) {
        this.#log(undefined, `kept torrent ${infoHash} unreadable: ${(err as Error).message}`)
      }
    }
  }

  #applyLimits (): void {
    // A limit the caller owns (share's -u) is set by the caller.
    if (this.#ownUploadLimit) this.uploadLimit.setRate(this.#settings.uploadLimit ?? 0)
    if (this.#ownDownloadLimit) this.downloadLimit.setRate(this.#settings.downloadLimit ?? 0)
  }
}

function fromMetainfo (meta: Metainfo): Pick<TorrentRecord, 'infoHash' | 'name' | 'magnet' | 'info' | 'trackers'> {
  const trackers = meta.trackers
  return { infoHash: meta.infoHash, name: meta.info.name, magnet: magnetLink({ infoHash: meta.infoHash, name: meta.info.name, trackers }), info: meta.info.raw, trackers }
}

/** A magnet URI as given, or one made of a bare info hash (40 hex, or 32 base32 as magnets may carry). */
function magnetOf (text: string): string {
  const t = text.trim()
  if (isMagnet(t)) return t
  if (isHex40(t)) return `magnet:?xt=urn:btih:${t.toLowerCase()}`
  if (/^[A-Z2-7]{32}$/i.test(t)) return `magnet:?xt=urn:btih:${t.toUpperCase()}`
  throw new ValidationError('Not a magnet link or an info hash (40 hex characters)')
}

function parseSettings (text: string | undefined): Partial<SessionSettings> {
  if (text === undefined) return {}
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === 'object' && v !== null ? v as Partial<SessionSettings> : {}
  } catch {
    return {}
  }
}

function positiveInt (v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_TORRENTS) throw new ValidationError(`${name} must be an integer from 0 to ${MAX_TORRENTS}`)
  return v
}

function rateOrNull (v: number | null, name: string): number | null {
  if (v === null || v === 0) return null
  if (!Number.isFinite(v) || v < 0 || v > 2 ** 40) throw new ValidationError(`${name} must be bytes per second (a positive number), or null for none`)
  return v
}

function numberOrNull (v: number | null, name: string): number | null {
  if (v === null) return null
  if (!Number.isFinite(v) || v < 0 || v > 1e9) throw new ValidationError(`${name} must be a positive number, or null for none`)
  return v
}

function checkLimits (l: Partial<TorrentLimits>): Partial<TorrentLimits> {
  const out: Partial<TorrentLimits> = {}
  if (l.uploadLimit !== undefined) out.uploadLimit = rateOrNull(l.uploadLimit, 'uploadLimit')
  if (l.downloadLimit !== undefined) out.downloadLimit = rateOrNull(l.downloadLimit, 'downloadLimit')
  if (l.seedRatioLimit !== undefined) out.seedRatioLimit = numberOrNull(l.seedRatioLimit, 'seedRatioLimit')
  if (l.seedIdleLimitMinutes !== undefined) out.seedIdleLimitMinutes = numberOrNull(l.seedIdleLimitMinutes, 'seedIdleLimitMinutes')
  return out
}
