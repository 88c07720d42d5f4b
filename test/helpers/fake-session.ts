/**
 * A small in-memory SessionApi for the tests of the APIs built on it (REST, Transmission RPC, the remote CLI): torrents
 * in a map with ids from 1, the states a user drives (pause, resume, verify), the queue, settings, and the errors of
 * the contract (P2PErrors ERR_NOT_FOUND, ERR_DUPLICATE with `existing`, ERR_VALIDATION, ERR_INPUT), each change
 * emitted on `events` as the real session does. No network and no disk: a magnet stays in `metadata`, a .torrent
 * (parsed for real) or a path downloads or seeds without a byte moving. Tests can drive what the real session does on
 * its own (`setState`, `complete`), make the next call of an operation fail (`failNext`), and read back every call
 * that reached it (`calls`: hostile input must never get there).
 */
import { createHash } from 'node:crypto'
import { basename } from 'node:path'
import { isHex40, magnetLink, parseMagnet, parseMetainfo } from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'
import { TypedEmitter, type EventMap } from '../../src/swarm/emitter.js'
import type {
  AddOptions,
  AddSource,
  FreeSpace,
  SessionApi,
  SessionEventMap,
  SessionSettings,
  SessionStats,
  SettingsChanges,
  TorrentChanges,
  TorrentDetail,
  TorrentFile,
  TorrentLimits,
  TorrentRef,
  TorrentState,
  TorrentSummary
} from '../../src/session/types.js'

/** A TypedEmitter that also tells how many listeners follow it (to check that a closed client left none behind). */
export class CountingEmitter<E extends EventMap> extends TypedEmitter<E> {
  readonly #counted = new Map<keyof E, Set<unknown>>()

  override on<K extends keyof E> (event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#counted.get(event)
    if (set === undefined) {
      set = new Set()
      this.#counted.set(event, set)
    }
    set.add(listener)
    super.on(event, listener)
    return () => { this.off(event, listener) }
  }

  override off<K extends keyof E> (event: K, listener: (...args: E[K]) => void): void {
    this.#counted.get(event)?.delete(listener)
    super.off(event, listener)
  }

  /** Listeners of `event`, or of every event. */
  listenerCount (event?: keyof E): number {
    if (event !== undefined) return this.#counted.get(event)?.size ?? 0
    let total = 0
    for (const set of this.#counted.values()) total += set.size
    return total
  }
}

export interface FakeSessionOptions {
  settings?: Partial<SessionSettings>
  version?: string
  /** Clock of `addedAt` and friends; default Date.now. */
  now?: () => number
}

interface Entry {
  summary: TorrentSummary
  files: TorrentFile[]
  /** The state `resume` returns to. */
  activeState: TorrentState
  deletedData?: boolean
}

const NO_LIMITS: TorrentLimits = { uploadLimit: null, downloadLimit: null, seedRatioLimit: null, seedIdleLimitMinutes: null }
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 of an info hash (32 characters) as 40 hex. */
function base32ToHex (text: string): string {
  let bits = ''
  for (const char of text.toUpperCase()) bits += BASE32.indexOf(char).toString(2).padStart(5, '0')
  let hex = ''
  for (let i = 0; i + 4 <= bits.length; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16)
  return hex
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

export class FakeSession implements SessionApi {
  readonly events = new CountingEmitter<SessionEventMap>()
  readonly version: string
  /** Every operation that reached the session, in order, with its arguments. */
  readonly calls: Array<{ method: string, args: unknown[] }> = []
  /** Whether `remove` was asked to delete the data of a removed torrent, by id. */
  readonly removedWithData = new Map<number, boolean>()
  readonly #torrents = new Map<number, Entry>()
  readonly #failures = new Map<string, unknown>()
  readonly #now: () => number
  #settings: SessionSettings
  #nextId = 1
  #freeSpace: FreeSpace = { path: '/', free: 500_000_000_000, total: 1_000_000_000_000 }

  constructor (options: FakeSessionOptions = {}) {
    this.version = options.version ?? '0.0.0-fake'
    this.#now = options.now ?? Date.now
    this.#settings = {
      downloadDir: '/downloads',
      port: 6881,
      maxActiveDownloads: 5,
      maxActiveSeeds: 10,
      uploadLimit: null,
      downloadLimit: null,
      seedRatioLimit: null,
      seedIdleLimitMinutes: null,
      watchDir: null,
      ...options.settings
    }
  }

  get settings (): SessionSettings {
    return { ...this.#settings }
  }

  /** The next call of `method` throws `error` (once). */
  failNext (method: keyof SessionApi, error: unknown): void {
    this.#failures.set(method, error)
  }

  /** What `freeSpace` answers (its `path` is the one asked). */
  setFreeSpace (free: number, total: number): void {
    this.#freeSpace = { path: '/', free, total }
  }

  #enter (method: string, args: unknown[]): void {
    this.calls.push({ method, args })
    const failure = this.#failures.get(method)
    if (failure === undefined) return
    this.#failures.delete(method)
    throw failure
  }

  #find (ref: TorrentRef): Entry {
    const entry = typeof ref === 'number'
      ? this.#torrents.get(ref)
      : [...this.#torrents.values()].find((e) => e.summary.infoHash === ref.toLowerCase())
    if (entry === undefined) throw new P2PError('ERR_NOT_FOUND', `No torrent ${typeof ref === 'number' ? `with id ${ref}` : `with info hash ${ref}`}`)
    return entry
  }

  #copy (entry: Entry): TorrentSummary {
    return { ...entry.summary, limits: { ...entry.summary.limits } }
  }

  #ordered (): Entry[] {
    return [...this.#torrents.values()].sort((a, b) => a.summary.queuePosition - b.summary.queuePosition)
  }

  list (): TorrentSummary[] {
    return this.#ordered().map((entry) => this.#copy(entry))
  }

  get (ref: TorrentRef): TorrentDetail | undefined {
    let entry: Entry
    try {
      entry = this.#find(ref)
    } catch {
      return undefined
    }
    return { ...this.#copy(entry), files: entry.files.map((f) => ({ ...f })), peerList: [], trackers: [], pieces: '' }
  }

  async add (source: AddSource, options: AddOptions = {}): Promise<TorrentSummary> {
    this.#enter('add', [source, options])
    const what = this.#describe(source)
    const existing = [...this.#torrents.values()].find((e) => e.summary.infoHash === what.infoHash)
    if (existing !== undefined) {
      throw Object.assign(new P2PError('ERR_DUPLICATE', `${existing.summary.name} is already in the session as #${existing.summary.id}`), { existing: existing.summary.id })
    }
    const id = this.#nextId++
    const activeState: TorrentState = what.size === 0 ? 'metadata' : source.kind === 'path' ? 'seeding' : 'downloading'
    const verified = activeState === 'seeding' ? what.size : 0
    const summary: TorrentSummary = {
      id,
      infoHash: what.infoHash,
      name: what.name,
      state: options.paused === true ? 'paused' : activeState,
      error: null,
      hasMetadata: what.size > 0,
      totalSize: what.size,
      verifiedBytes: verified,
      leftBytes: what.size - verified,
      progress: what.size === 0 ? 0 : verified / what.size,
      pieceCount: what.size === 0 ? 0 : Math.ceil(what.size / 16_384),
      pieceLength: what.size === 0 ? 0 : 16_384,
      fileCount: what.size === 0 ? 0 : 1,
      downloadedEver: 0,
      uploadedEver: 0,
      downloadRate: 0,
      uploadRate: 0,
      peers: 0,
      seeds: 0,
      eta: null,
      ratio: 0,
      downloadDir: options.downloadDir ?? this.#settings.downloadDir,
      addedAt: this.#now(),
      doneAt: verified === what.size && what.size > 0 ? this.#now() : null,
      activityAt: null,
      secondsDownloading: 0,
      secondsSeeding: 0,
      startedAt: null,
      magnet: magnetLink({ infoHash: what.infoHash, name: what.name, trackers: [] }),
      limits: { ...NO_LIMITS, ...options.limits },
      queuePosition: this.#torrents.size,
      isPrivate: false
    }
    const files = what.size === 0 ? [] : [{ index: 0, path: what.name, length: what.size, completed: verified }]
    const entry: Entry = { summary, files, activeState }
    this.#torrents.set(id, entry)
    this.events.emit('added', this.#copy(entry))
    return this.#copy(entry)
  }

  #describe (source: AddSource): { infoHash: string, name: string, size: number } {
    switch (source.kind) {
      case 'magnet': {
        const uri = source.uri.trim()
        if (isHex40(uri)) return { infoHash: uri.toLowerCase(), name: uri.toLowerCase(), size: 0 }
        if (/^[A-Za-z2-7]{32}$/.test(uri)) {
          const hash = base32ToHex(uri)
          return { infoHash: hash, name: hash, size: 0 }
        }
        const magnet = parseMagnet(uri)
        return { infoHash: magnet.infoHash, name: magnet.name ?? magnet.infoHash, size: 0 }
      }
      case 'torrent': {
        try {
          const metainfo = parseMetainfo(source.data)
          return { infoHash: metainfo.infoHash, name: metainfo.info.name, size: metainfo.info.totalSize }
        } catch (err) {
          throw new P2PError('ERR_INPUT', `Cannot read the .torrent: ${(err as Error).message}`, { cause: err })
        }
      }
      case 'path':
        return { infoHash: sha1(`path:${source.path}`), name: basename(source.path), size: 1_000_000 }
      case 'catalogue':
        return { infoHash: sha1(`catalogue:${source.query}`), name: source.query, size: 2_000_000 }
    }
  }

  /** Moves a torrent to `state` as the session would on its own (metadata arrived, a check began, an error), emitting `state`. */
  setState (ref: TorrentRef, state: TorrentState, error: string | null = null): TorrentSummary {
    const entry = this.#find(ref)
    entry.summary.state = state
    entry.summary.error = error
    if (state !== 'paused' && state !== 'error' && state !== 'checking') entry.activeState = state
    this.events.emit('state', this.#copy(entry))
    return this.#copy(entry)
  }

  /** Every piece verified: seeding, emitting `complete` and `state`. */
  complete (ref: TorrentRef): TorrentSummary {
    const entry = this.#find(ref)
    Object.assign(entry.summary, { verifiedBytes: entry.summary.totalSize, leftBytes: 0, progress: 1, doneAt: this.#now(), state: 'seeding' })
    entry.activeState = 'seeding'
    for (const file of entry.files) file.completed = file.length
    this.events.emit('complete', this.#copy(entry))
    this.events.emit('state', this.#copy(entry))
    return this.#copy(entry)
  }

  async pause (ref: TorrentRef): Promise<TorrentSummary> {
    this.#enter('pause', [ref])
    const entry = this.#find(ref)
    if (entry.summary.state === 'paused') return this.#copy(entry)
    return this.setState(ref, 'paused')
  }

  async resume (ref: TorrentRef): Promise<TorrentSummary> {
    this.#enter('resume', [ref])
    const entry = this.#find(ref)
    if (entry.summary.state !== 'paused' && entry.summary.state !== 'stopped' && entry.summary.state !== 'error') return this.#copy(entry)
    return this.setState(ref, entry.activeState)
  }

  async remove (ref: TorrentRef, options: { deleteData?: boolean } = {}): Promise<void> {
    this.#enter('remove', [ref, options])
    const entry = this.#find(ref)
    this.#torrents.delete(entry.summary.id)
    this.removedWithData.set(entry.summary.id, options.deleteData === true)
    // The queue closes up behind it.
    for (const other of this.#torrents.values()) {
      if (other.summary.queuePosition > entry.summary.queuePosition) other.summary.queuePosition--
    }
    this.events.emit('removed', { id: entry.summary.id, infoHash: entry.summary.infoHash })
  }

  async verify (ref: TorrentRef): Promise<TorrentSummary> {
    this.#enter('verify', [ref])
    const entry = this.#find(ref)
    if (!entry.summary.hasMetadata) throw new P2PError('ERR_NOT_READY', `${entry.summary.name} has no metadata yet: nothing to verify`)
    return this.setState(ref, 'checking')
  }

  async reannounce (ref: TorrentRef): Promise<TorrentSummary> {
    this.#enter('reannounce', [ref])
    return this.#copy(this.#find(ref))
  }

  async set (ref: TorrentRef, changes: TorrentChanges): Promise<TorrentSummary> {
    this.#enter('set', [ref, changes])
    const entry = this.#find(ref)
    entry.summary.limits = { ...entry.summary.limits, ...changes.limits }
    return this.#copy(entry)
  }

  async setLocation (ref: TorrentRef, dir: string, options: { move?: boolean } = {}): Promise<TorrentSummary> {
    this.#enter('setLocation', [ref, dir, options])
    const entry = this.#find(ref)
    entry.summary.downloadDir = dir
    return this.#copy(entry)
  }

  async queueMove (ref: TorrentRef, to: 'top' | 'up' | 'down' | 'bottom'): Promise<void> {
    this.#enter('queueMove', [ref, to])
    const entry = this.#find(ref)
    const order = this.#ordered()
    const from = order.indexOf(entry)
    const target = to === 'top' ? 0 : to === 'bottom' ? order.length - 1 : to === 'up' ? Math.max(0, from - 1) : Math.min(order.length - 1, from + 1)
    order.splice(from, 1)
    order.splice(target, 0, entry)
    order.forEach((e, position) => { e.summary.queuePosition = position })
  }

  async updateSettings (changes: SettingsChanges): Promise<SessionSettings> {
    this.#enter('updateSettings', [changes])
    this.#settings = { ...this.#settings, ...changes }
    this.events.emit('settings', this.settings)
    return this.settings
  }

  stats (): SessionStats {
    const torrents = [...this.#torrents.values()].map((e) => e.summary)
    const paused = torrents.filter((t) => t.state === 'paused').length
    const active = torrents.filter((t) => t.state === 'downloading' || t.state === 'seeding' || t.state === 'metadata' || t.state === 'checking').length
    return {
      torrentCount: torrents.length,
      activeTorrentCount: active,
      pausedTorrentCount: paused,
      downloadRate: 0,
      uploadRate: 0,
      current: { downloaded: 0, uploaded: 0, seconds: 0, piecesChecked: 0 },
      cumulative: { downloaded: 0, uploaded: 0, seconds: 0, sessions: 1 }
    }
  }

  async freeSpace (path: string): Promise<FreeSpace> {
    this.#enter('freeSpace', [path])
    return { ...this.#freeSpace, path }
  }
}
