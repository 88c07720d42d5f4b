/**
 * The node's state in SQLite (`<data dir>/node.db`): its torrents, their settings and their resume data (the pieces
 * verified on disk, and each file's size and mtime when the node last knew them to be untouched), the session's
 * settings and its cumulative statistics. Each torrent's metainfo is also kept as `<data dir>/torrents/<info
 * hash>.torrent`, so that a damaged database loses no torrent, only its resume data.
 *
 * Fsync policy (docs/node.md says the same for users):
 * - WAL journal, `synchronous = NORMAL`: a commit is a write() into the WAL, no fsync. A killed process (kill -9,
 *   a crash, OOM) loses nothing committed: the kernel has it. A power loss may lose the last commits, never the
 *   database's consistency (WAL replays only whole transactions). FULL would fsync every piece's commit: ~1 ms
 *   each here, a second per GiB of 1 MiB pieces.
 * - A piece is recorded only after its write to the data file completed (the Transfer emits `pieceVerified` then),
 *   so the database never names a piece whose bytes the kernel does not have. Data files are not fsynced either
 *   (as libtorrent, Transmission and aria2 do): after a power loss, the last pieces recorded may not be on the
 *   platter; a re-verify finds them. A process kill loses only the blocks in flight.
 * - File stamps (size, mtime) are written when the node stops writing a torrent (paused, complete, shut down) and
 *   cleared when it starts again: stamps present mean "the files were like this, and nobody but us wrote since", so a
 *   file whose stamp differs was changed behind our back and only its pieces are checked again. After a kill the
 *   stamps of a torrent that was downloading are absent (its mtimes are ours): its recorded pieces are trusted, a
 *   file of the wrong size is still found out.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { P2PError } from '../errors.js'
import type { TorrentLimits } from './types.js'

/** A file as the node last saw it untouched. */
export interface FileStamp {
  size: number
  mtimeMs: number
}

export interface TorrentRecord {
  id: number
  infoHash: string
  name: string
  magnet: string
  /** The raw info dictionary; null before metadata. */
  info: Buffer | null
  trackers: string[]
  downloadDir: string
  /** Content the user shared from where it is (`add` of a path): never renamed, never a `.part`. */
  sharedInPlace: boolean
  /** Whole-file SHA-1 of a single-file torrent's content, when known (the seed's identity; GET_CHUNK serving). */
  fileHash: string | null
  paused: boolean
  addedAt: number
  doneAt: number | null
  activityAt: number | null
  uploadedEver: number
  downloadedEver: number
  limits: TorrentLimits
  queuePosition: number
  /** BEP 3 bitfield of verified pieces; null: unknown (never checked, or damaged). */
  have: Buffer | null
  /** Per file; null: not trustworthy (the node was writing, or never stamped). */
  stamps: FileStamp[] | null
  /** Seconds in the downloading and seeding states, over its life. */
  secondsDownloading: number
  secondsSeeding: number
  /** Stopped after reaching its seed ratio or idle limit. */
  finished: boolean
  error: string | null
}

export type NewTorrentRecord = Omit<TorrentRecord, 'id' | 'queuePosition'>

const SCHEMA_VERSION = 1

const SCHEMA = `
CREATE TABLE torrents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  info_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  magnet TEXT NOT NULL,
  info BLOB,
  trackers TEXT NOT NULL,
  download_dir TEXT NOT NULL,
  shared_in_place INTEGER NOT NULL,
  file_hash TEXT,
  paused INTEGER NOT NULL,
  added_at INTEGER NOT NULL,
  done_at INTEGER,
  activity_at INTEGER,
  uploaded_ever INTEGER NOT NULL,
  downloaded_ever INTEGER NOT NULL,
  limits TEXT NOT NULL,
  queue_position INTEGER NOT NULL,
  have BLOB,
  stamps TEXT,
  finished INTEGER NOT NULL DEFAULT 0,
  seconds_downloading INTEGER NOT NULL DEFAULT 0,
  seconds_seeding INTEGER NOT NULL DEFAULT 0,
  error TEXT
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`

interface Row {
  id: number
  info_hash: string
  name: string
  magnet: string
  info: Buffer | null
  trackers: string
  download_dir: string
  shared_in_place: number
  file_hash: string | null
  paused: number
  added_at: number
  done_at: number | null
  activity_at: number | null
  uploaded_ever: number
  downloaded_ever: number
  limits: string
  queue_position: number
  have: Buffer | null
  stamps: string | null
  finished: number
  seconds_downloading: number
  seconds_seeding: number
  error: string | null
}

export interface OpenedStore {
  store: ResumeStore
  /** Set when the database could not be used and was moved aside: one line saying what happened. */
  recovered: string | undefined
}

export class ResumeStore {
  /** Undefined for a store in memory (a one-shot command's session: nothing survives it). */
  readonly dataDir: string | undefined
  readonly #db: Database.Database
  readonly #torrentsDir: string | undefined
  /** The .torrent files of a store in memory. */
  readonly #memoryFiles = new Map<string, Buffer>()
  readonly #update: Database.Statement
  readonly #setHave: Database.Statement
  readonly #setCounters: Database.Statement

  private constructor (dataDir: string | undefined, db: Database.Database) {
    this.dataDir = dataDir
    this.#db = db
    this.#torrentsDir = dataDir === undefined ? undefined : join(dataDir, 'torrents')
    if (this.#torrentsDir !== undefined) mkdirSync(this.#torrentsDir, { recursive: true })
    this.#update = db.prepare(`UPDATE torrents SET name = @name, magnet = @magnet, info = @info, trackers = @trackers,
      download_dir = @download_dir, shared_in_place = @shared_in_place, file_hash = @file_hash, paused = @paused,
      done_at = @done_at, activity_at = @activity_at, uploaded_ever = @uploaded_ever, downloaded_ever = @downloaded_ever,
      limits = @limits, queue_position = @queue_position, have = @have, stamps = @stamps, finished = @finished,
      seconds_downloading = @seconds_downloading, seconds_seeding = @seconds_seeding, error = @error WHERE id = @id`)
    this.#setHave = db.prepare('UPDATE torrents SET have = ?, downloaded_ever = ?, uploaded_ever = ?, activity_at = ? WHERE id = ?')
    this.#setCounters = db.prepare('INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  }

  /**
   * Opens (or creates) `<dataDir>/node.db`. A database that cannot be opened or fails its integrity check is moved
   * aside as `node.db.damaged-<time>` and a fresh one is made; the caller re-adds the torrents from `torrents/`
   * (with a full check) and says so.
   */
  static open (dataDir: string): OpenedStore {
    mkdirSync(dataDir, { recursive: true })
    const path = join(dataDir, 'node.db')
    try {
      return { store: new ResumeStore(dataDir, openDatabase(path)), recovered: undefined }
    } catch (err) {
      if (err instanceof P2PError && err.code !== 'ERR_STATE_DAMAGED') throw err
      const aside = `${path}.damaged-${Date.now()}`
      for (const suffix of ['', '-wal', '-shm']) rmOrMove(path + suffix, aside + suffix)
      const store = new ResumeStore(dataDir, openDatabase(path))
      return { store, recovered: `The node's state (${path}) was damaged (${(err as Error).message}); it was moved to ${aside} and every torrent found in ${join(dataDir, 'torrents')} is checked again` }
    }
  }

  /** A store in memory: the same records for the life of the process (what `share` runs on), nothing on disk. */
  static memory (): ResumeStore {
    const db = new Database(':memory:')
    db.exec(SCHEMA)
    return new ResumeStore(undefined, db)
  }

  close (): void {
    if (this.#db.open) this.#db.close()
  }

  list (): TorrentRecord[] {
    return (this.#db.prepare('SELECT * FROM torrents ORDER BY queue_position, id').all() as Row[]).map(fromRow)
  }

  /** Adds a torrent at the end of the queue; its metainfo (when known) is written to `torrents/` first. */
  insert (record: NewTorrentRecord, torrentFile?: Buffer): TorrentRecord {
    if (torrentFile !== undefined) this.saveTorrentFile(record.infoHash, torrentFile)
    const position = (this.#db.prepare('SELECT COALESCE(MAX(queue_position) + 1, 0) AS p FROM torrents').get() as { p: number }).p
    const row = toRow({ ...record, id: 0, queuePosition: position })
    const { id: _id, ...values } = row
    const result = this.#db.prepare(`INSERT INTO torrents (${Object.keys(values).join(', ')}) VALUES (${Object.keys(values).map(k => '@' + k).join(', ')})`).run(values)
    return { ...record, id: Number(result.lastInsertRowid), queuePosition: position }
  }

  save (record: TorrentRecord): void {
    this.#update.run(toRow(record))
  }

  /**
   * The hot path's write: the verified pieces and the counters, after a piece's write completed. In memory nothing
   * would read it back (the torrent's record is the state for the life of the process), so nothing is written.
   */
  saveHave (id: number, have: Uint8Array, downloadedEver: number, uploadedEver: number, activityAt: number | null): void {
    if (this.#torrentsDir === undefined) return
    this.#setHave.run(Buffer.from(have.buffer, have.byteOffset, have.byteLength), downloadedEver, uploadedEver, activityAt, id)
  }

  /** Several records in one transaction (queue moves). */
  saveAll (records: readonly TorrentRecord[]): void {
    this.#db.transaction(() => { for (const r of records) this.#update.run(toRow(r)) })()
  }

  remove (id: number, infoHash: string): void {
    this.#db.prepare('DELETE FROM torrents WHERE id = ?').run(id)
    this.#memoryFiles.delete(infoHash)
    if (this.#torrentsDir !== undefined) rmSync(this.torrentFilePath(infoHash), { force: true })
  }

  /** Where a torrent's metainfo is kept (a store in memory keeps it in memory: '' then). */
  torrentFilePath (infoHash: string): string {
    return this.#torrentsDir === undefined ? '' : join(this.#torrentsDir, `${infoHash}.torrent`)
  }

  /** Written beside, then renamed: a kill leaves the old file or the new one, never half of one. */
  saveTorrentFile (infoHash: string, bytes: Buffer): void {
    if (this.#torrentsDir === undefined) { this.#memoryFiles.set(infoHash, bytes); return }
    const path = this.torrentFilePath(infoHash)
    writeFileSync(`${path}.tmp`, bytes)
    renameSync(`${path}.tmp`, path)
  }

  /** Every `.torrent` kept in `torrents/`, by info hash (for recovery after a damaged database). */
  torrentFiles (): Map<string, Buffer> {
    const out = new Map<string, Buffer>(this.#memoryFiles)
    if (this.#torrentsDir === undefined) return out
    for (const name of readdirSync(this.#torrentsDir)) {
      const m = /^([0-9a-f]{40})\.torrent$/.exec(name)
      if (m?.[1] === undefined) continue
      try { out.set(m[1], readFileSync(join(this.#torrentsDir, name))) } catch { /* unreadable: skipped */ }
    }
    return out
  }

  getSetting (key: string): string | undefined {
    return (this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value
  }

  setSettings (values: Record<string, string>): void {
    const put = this.#db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
    this.#db.transaction(() => { for (const [k, v] of Object.entries(values)) put.run(k, v) })()
  }

  counters (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const { key, value } of this.#db.prepare('SELECT key, value FROM counters').all() as Array<{ key: string, value: number }>) out[key] = value
    return out
  }

  setCounters (values: Record<string, number>): void {
    this.#db.transaction(() => { for (const [k, v] of Object.entries(values)) this.#setCounters.run(k, Math.round(v)) })()
  }
}

function openDatabase (path: string): Database.Database {
  let db: Database.Database
  try {
    db = new Database(path)
  } catch (err) {
    throw new P2PError('ERR_STATE_DAMAGED', (err as Error).message, { cause: err })
  }
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 2000')
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') throw new P2PError('ERR_STATE_DAMAGED', `integrity check: ${String(check)}`)
    const version = db.pragma('user_version', { simple: true }) as number
    if (version === 0) {
      db.exec(SCHEMA)
      db.pragma(`user_version = ${SCHEMA_VERSION}`)
    } else if (version !== SCHEMA_VERSION) {
      throw new P2PError('ERR_STATE_VERSION', `${path} was written by a newer p2pshare (schema ${version}); upgrade, or start with another --data-dir`)
    }
    return db
  } catch (err) {
    db.close()
    if (err instanceof P2PError) throw err
    throw new P2PError('ERR_STATE_DAMAGED', (err as Error).message, { cause: err })
  }
}

function rmOrMove (from: string, to: string): void {
  try { renameSync(from, to) } catch { rmSync(from, { force: true }) }
}

function fromRow (r: Row): TorrentRecord {
  return {
    id: r.id,
    infoHash: r.info_hash,
    name: r.name,
    magnet: r.magnet,
    info: r.info,
    trackers: parseJson<string[]>(r.trackers, []),
    downloadDir: r.download_dir,
    sharedInPlace: r.shared_in_place === 1,
    fileHash: r.file_hash,
    paused: r.paused === 1,
    addedAt: r.added_at,
    doneAt: r.done_at,
    activityAt: r.activity_at,
    uploadedEver: r.uploaded_ever,
    downloadedEver: r.downloaded_ever,
    limits: { uploadLimit: null, downloadLimit: null, seedRatioLimit: null, seedIdleLimitMinutes: null, ...parseJson<Partial<TorrentLimits>>(r.limits, {}) },
    queuePosition: r.queue_position,
    have: r.have,
    stamps: r.stamps === null ? null : parseJson<FileStamp[] | null>(r.stamps, null),
    finished: r.finished === 1,
    secondsDownloading: r.seconds_downloading,
    secondsSeeding: r.seconds_seeding,
    error: r.error
  }
}

function toRow (t: TorrentRecord): Row {
  return {
    id: t.id,
    info_hash: t.infoHash,
    name: t.name,
    magnet: t.magnet,
    info: t.info,
    trackers: JSON.stringify(t.trackers),
    download_dir: t.downloadDir,
    shared_in_place: t.sharedInPlace ? 1 : 0,
    file_hash: t.fileHash,
    paused: t.paused ? 1 : 0,
    added_at: t.addedAt,
    done_at: t.doneAt,
    activity_at: t.activityAt,
    uploaded_ever: t.uploadedEver,
    downloaded_ever: t.downloadedEver,
    limits: JSON.stringify(t.limits),
    queue_position: t.queuePosition,
    have: t.have,
    stamps: t.stamps === null ? null : JSON.stringify(t.stamps),
    finished: t.finished ? 1 : 0,
    seconds_downloading: Math.floor(t.secondsDownloading),
    seconds_seeding: Math.floor(t.secondsSeeding),
    error: t.error
  }
}

/** A damaged column reads as its default: the torrent is then checked rather than trusted. */
function parseJson<T> (text: string, fallback: T): T {
  try { return JSON.parse(text) as T } catch { return fallback }
}
