/**
 * The tracker's persistent state in SQLite: the catalogue of files and the legacy (`/register`) peers.
 *
 * Peers are persisted, not only files: the seed's peers register once and never again, so a peer list
 * lost on restart would never come back. Every write is one transaction (WAL journal, synchronous=FULL),
 * so a crash or `kill -9` leaves the file at the last committed registration.
 */
import Database from 'better-sqlite3'
import { P2PError, ValidationError } from '../errors.js'
import { decodeRanges, encodeRanges, type ChunkRange } from './chunk-ranges.js'
import { DB_BUSY_TIMEOUT_MS, TRACKER_MAX_FILES, TRACKER_MAX_PEERS, TRACKER_MAX_PEERS_PER_FILE } from './limits.js'
import type { Registration } from './registration.js'
import { AccessKeys } from './access-keys.js'

/**
 * Schema migrations, applied in order; `PRAGMA user_version` is the number applied. Add a new entry to
 * change the schema — never edit one that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  // 1: the seed's catalogue and its peers.
  `
  CREATE TABLE files (
    seq         INTEGER PRIMARY KEY,                 -- registration order (files are never deleted)
    file_hash   TEXT    NOT NULL UNIQUE CHECK (length(file_hash) = 40),
    file_name   TEXT    NOT NULL,                    -- fixed by the first registration of the hash
    name_folded TEXT    NOT NULL,                    -- file_name lower-cased (Unicode), for search
    file_size   INTEGER NOT NULL CHECK (file_size >= 0),
    added_at    INTEGER NOT NULL                     -- ms since the epoch
  );
  CREATE INDEX files_by_name ON files (file_name, seq);

  CREATE TABLE legacy_peers (
    id             INTEGER PRIMARY KEY,              -- registration order; kept when a peer updates
    file_hash      TEXT    NOT NULL REFERENCES files (file_hash),
    ip             TEXT    NOT NULL,
    port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    chunks         TEXT    NOT NULL,                 -- runs of ids, see chunk-ranges.ts
    chunk_count    INTEGER NOT NULL,
    chunk_size     INTEGER,                          -- NULL when the peer sent none
    registered_at  INTEGER NOT NULL,                 -- first registration, ms since the epoch
    updated_at     INTEGER NOT NULL,                 -- latest registration
    probe_failures INTEGER NOT NULL DEFAULT 0,       -- consecutive failed liveness probes
    last_probed_at INTEGER,
    UNIQUE (file_hash, ip, port)
  );
  CREATE INDEX legacy_peers_by_endpoint ON legacy_peers (ip, port);
  `,
  // 2: the BitTorrent info hash of a file, when a registration names it (at most one file per info hash).
  `
  ALTER TABLE files ADD COLUMN info_hash TEXT CHECK (info_hash IS NULL OR length(info_hash) = 40);
  CREATE UNIQUE INDEX files_by_info_hash ON files (info_hash) WHERE info_hash IS NOT NULL;
  `,
  // 3: the metainfo (.torrent) of a file, its completed downloads, and the access keys of a private tracker.
  `
  ALTER TABLE files ADD COLUMN metainfo BLOB;      -- the .torrent's bytes, when a registration uploaded them
  ALTER TABLE files ADD COLUMN completed INTEGER NOT NULL DEFAULT 0 CHECK (completed >= 0);
  CREATE INDEX files_by_added ON files (added_at, seq);
  CREATE INDEX files_by_size ON files (file_size, seq);

  CREATE TABLE access_keys (
    id          INTEGER PRIMARY KEY,
    key_hash    TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64), -- SHA-256 of the key, hex; the key itself is never stored
    key_prefix  TEXT    NOT NULL,                    -- its first characters, so an operator can tell keys apart
    label       TEXT    NOT NULL,                    -- who it was issued to
    created_at  INTEGER NOT NULL,                    -- ms since the epoch
    revoked_at  INTEGER                              -- NULL while valid
  );
  CREATE INDEX access_keys_by_label ON access_keys (label);
  `
]

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length

export interface StoreLimits {
  maxFiles: number
  maxPeersPerFile: number
  maxPeers: number
}

export interface FileEntry {
  fileHash: string
  fileName: string
  fileSize: number
  /** When the hash was first registered, ms since the epoch. */
  addedAt: number
  /** The BitTorrent info hash (40 lower-case hex), when a registration named it. */
  infoHash?: string
}

export interface FileSummary extends FileEntry {
  peersCount: number
}

export interface StoredPeer {
  ip: string
  port: number
  chunks: ChunkRange[]
  chunkCount: number
  chunkSize?: number
  registeredAt: number
  updatedAt: number
  probeFailures: number
}

export interface RegisterResult {
  /** True when (ip, port) was already listed for the hash (its chunks were replaced). */
  updated: boolean
  /** Peers listed for the hash after this registration. */
  peersCount: number
  /** The info hash the catalogue holds for the file after this registration (which may not be the one it named). */
  infoHash?: string
}

/** An address the prober dials. */
export interface Endpoint {
  ip: string
  port: number
}

interface FileRow {
  file_hash: string
  file_name: string
  file_size: number
  added_at: number
  info_hash: string | null
}

interface PeerRow {
  ip: string
  port: number
  chunks: string
  chunk_count: number
  chunk_size: number | null
  registered_at: number
  updated_at: number
  probe_failures: number
}

function fileEntry (row: FileRow): FileEntry {
  const entry: FileEntry = { fileHash: row.file_hash, fileName: row.file_name, fileSize: row.file_size, addedAt: row.added_at }
  if (row.info_hash !== null) entry.infoHash = row.info_hash
  return entry
}

function storedPeer (row: PeerRow): StoredPeer {
  const peer: StoredPeer = {
    ip: row.ip,
    port: row.port,
    chunks: decodeRanges(row.chunks),
    chunkCount: row.chunk_count,
    registeredAt: row.registered_at,
    updatedAt: row.updated_at,
    probeFailures: row.probe_failures
  }
  if (row.chunk_size !== null) peer.chunkSize = row.chunk_size
  return peer
}

/** Lower-cases a name or a search text the same way, so search is case-insensitive beyond ASCII. */
export function foldName (text: string): string {
  return text.toLowerCase()
}

function openDatabase (path: string): Database.Database {
  const db = new Database(path)
  try {
    db.pragma(`busy_timeout = ${DB_BUSY_TIMEOUT_MS}`)
    db.pragma('journal_mode = WAL')
    // FULL: a registration acknowledged to a peer is on disk; the seed's peers never register twice.
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) {
      throw new P2PError('ERR_TRACKER_DB', `Tracker database ${path} has schema version ${version}, newer than this tracker's ${SCHEMA_VERSION}`)
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v] as string)
        db.pragma(`user_version = ${v + 1}`)
      }).immediate()
    }
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

export class TrackerStore {
  readonly #db: Database.Database
  readonly #limits: StoreLimits
  readonly #stmt
  /** The access keys of a private tracker (in the same database). */
  readonly keys: AccessKeys

  private constructor (db: Database.Database, limits: StoreLimits) {
    this.#db = db
    this.#limits = limits
    this.keys = new AccessKeys(db)
    this.#stmt = {
      fileByHash: db.prepare<[string], FileRow>('SELECT file_hash, file_name, file_size, added_at, info_hash FROM files WHERE file_hash = ?'),
      fileByName: db.prepare<[string], FileRow>(
        'SELECT file_hash, file_name, file_size, added_at, info_hash FROM files WHERE file_name = ? ORDER BY seq LIMIT 1'),
      fileByInfoHash: db.prepare<[string], FileRow>(
        'SELECT file_hash, file_name, file_size, added_at, info_hash FROM files WHERE info_hash = ?'),
      setInfoHash: db.prepare<[string, string]>('UPDATE files SET info_hash = ? WHERE file_hash = ? AND info_hash IS NULL'),
      countFiles: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM files'),
      insertFile: db.prepare<[string, string, string, number, number, string | null]>(
        'INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at, info_hash) VALUES (?, ?, ?, ?, ?, ?)'),
      peerId: db.prepare<[string, string, number], { id: number }>(
        'SELECT id FROM legacy_peers WHERE file_hash = ? AND ip = ? AND port = ?'),
      countPeersOf: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM legacy_peers WHERE file_hash = ?'),
      countPeers: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM legacy_peers'),
      insertPeer: db.prepare<[string, string, number, string, number, number | null, number, number]>(
        `INSERT INTO legacy_peers (file_hash, ip, port, chunks, chunk_count, chunk_size, registered_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      updatePeer: db.prepare<[string, number, number | null, number, number]>(
        `UPDATE legacy_peers SET chunks = ?, chunk_count = ?, chunk_size = ?, updated_at = ?, probe_failures = 0
         WHERE id = ?`),
      endpointsOf: db.prepare<[string], Endpoint>('SELECT ip, port FROM legacy_peers WHERE file_hash = ?'),
      peersOf: db.prepare<[string], PeerRow>(
        `SELECT ip, port, chunks, chunk_count, chunk_size, registered_at, updated_at, probe_failures
         FROM legacy_peers WHERE file_hash = ? ORDER BY id`),
      listFiles: db.prepare<[], FileRow & { peers_count: number }>(
        `SELECT f.file_hash, f.file_name, f.file_size, f.added_at, f.info_hash, COUNT(p.id) AS peers_count
         FROM files f LEFT JOIN legacy_peers p ON p.file_hash = f.file_hash
         GROUP BY f.seq ORDER BY f.seq`),
      searchFiles: db.prepare<[string], FileRow & { peers_count: number }>(
        `SELECT f.file_hash, f.file_name, f.file_size, f.added_at, f.info_hash, COUNT(p.id) AS peers_count
         FROM files f LEFT JOIN legacy_peers p ON p.file_hash = f.file_hash
         WHERE instr(f.name_folded, ?) > 0
         GROUP BY f.seq ORDER BY f.seq`),
      endpointsToProbe: db.prepare<[number], Endpoint>(
        `SELECT ip, port FROM legacy_peers GROUP BY ip, port
         ORDER BY MIN(COALESCE(last_probed_at, -1)), MIN(id) LIMIT ?`),
      probeSucceeded: db.prepare<[number, string, number]>(
        'UPDATE legacy_peers SET probe_failures = 0, last_probed_at = ? WHERE ip = ? AND port = ?'),
      probeFailed: db.prepare<[number, string, number, number]>(
        `UPDATE legacy_peers SET probe_failures = probe_failures + 1, last_probed_at = ?
         WHERE ip = ? AND port = ? AND updated_at <= ?`),
      prune: db.prepare<[string, number, number]>(
        'DELETE FROM legacy_peers WHERE ip = ? AND port = ? AND probe_failures >= ?')
    }
  }

  /**
   * Opens (creating if needed) the database at `path` (a file, or ':memory:') and brings its schema to
   * SCHEMA_VERSION. Throws P2PError `ERR_TRACKER_DB` when the file cannot be used.
   */
  static open (path: string, limits: Partial<StoreLimits> = {}): TrackerStore {
    let db: Database.Database
    try {
      db = openDatabase(path)
    } catch (err) {
      if (err instanceof P2PError) throw err
      throw new P2PError('ERR_TRACKER_DB', `Cannot open tracker database ${path}: ${(err as Error).message}`, { cause: err })
    }
    return new TrackerStore(db, {
      maxFiles: limits.maxFiles ?? TRACKER_MAX_FILES,
      maxPeersPerFile: limits.maxPeersPerFile ?? TRACKER_MAX_PEERS_PER_FILE,
      maxPeers: limits.maxPeers ?? TRACKER_MAX_PEERS
    })
  }

  get isOpen (): boolean {
    return this.#db.open
  }

  /**
   * Records a registration, as server.py does: the first registration of a hash fixes its name and size;
   * a peer is one (ip, port) per hash, and registering again replaces its chunks (and resets its probe
   * failures). Throws ValidationError when the size differs from the one the hash was registered with,
   * P2PError `ERR_TRACKER_FULL` at a capacity limit.
   *
   * An info hash named by the registration is recorded when the file has none yet and no other file holds it;
   * otherwise it is ignored (the registration itself still counts): the same bytes can be in several torrents
   * (another name or piece length gives another info hash), so a differing one is no reason to refuse a peer.
   * `infoHash` in the result is the one the catalogue holds.
   */
  register (reg: Registration, now: number): RegisterResult {
    const s = this.#stmt
    return this.#db.transaction((): RegisterResult => {
      const file = s.fileByHash.get(reg.fileHash)
      // The info hash to record: one the registration names that no file holds yet.
      const newInfoHash = reg.infoHash !== undefined && s.fileByInfoHash.get(reg.infoHash) === undefined ? reg.infoHash : undefined
      let infoHash = file?.info_hash ?? undefined
      if (file === undefined) {
        if ((s.countFiles.get()?.n ?? 0) >= this.#limits.maxFiles) {
          throw new P2PError('ERR_TRACKER_FULL', `Tracker catalogue is full (${this.#limits.maxFiles} files)`)
        }
        s.insertFile.run(reg.fileHash, reg.fileName, foldName(reg.fileName), reg.fileSize, now, newInfoHash ?? null)
        infoHash = newInfoHash
      } else if (file.file_size !== reg.fileSize) {
        throw new ValidationError(
          `Invalid field: file_size: ${reg.fileSize} differs from the size registered for this hash (${file.file_size})`)
      } else if (infoHash === undefined && newInfoHash !== undefined) {
        s.setInfoHash.run(newInfoHash, reg.fileHash)
        infoHash = newInfoHash
      }
      const chunks = encodeRanges(reg.chunks)
      const chunkSize = reg.chunkSize ?? null
      const existing = s.peerId.get(reg.fileHash, reg.ip, reg.port)
      if (existing !== undefined) {
        s.updatePeer.run(chunks, reg.chunkCount, chunkSize, now, existing.id)
      } else {
        if ((s.countPeersOf.get(reg.fileHash)?.n ?? 0) >= this.#limits.maxPeersPerFile) {
          throw new P2PError('ERR_TRACKER_FULL', `Too many peers for this file (${this.#limits.maxPeersPerFile})`)
        }
        if ((s.countPeers.get()?.n ?? 0) >= this.#limits.maxPeers) {
          throw new P2PError('ERR_TRACKER_FULL', `Tracker peer list is full (${this.#limits.maxPeers} peers)`)
        }
        s.insertPeer.run(reg.fileHash, reg.ip, reg.port, chunks, reg.chunkCount, chunkSize, now, now)
      }
      const result: RegisterResult = { updated: existing !== undefined, peersCount: s.countPeersOf.get(reg.fileHash)?.n ?? 0 }
      if (infoHash !== undefined) result.infoHash = infoHash
      return result
    }).immediate()
  }

  /** The file of a hash (40 lower-case hex). */
  fileByHash (fileHash: string): FileEntry | undefined {
    const row = this.#stmt.fileByHash.get(fileHash)
    return row === undefined ? undefined : fileEntry(row)
  }

  /** The first hash registered under exactly this name, as server.py's lookup. */
  fileByName (fileName: string): FileEntry | undefined {
    const row = this.#stmt.fileByName.get(fileName)
    return row === undefined ? undefined : fileEntry(row)
  }

  /** The file whose registrations named this info hash (40 lower-case hex). */
  fileByInfoHash (infoHash: string): FileEntry | undefined {
    const row = this.#stmt.fileByInfoHash.get(infoHash)
    return row === undefined ? undefined : fileEntry(row)
  }

  /** The (ip, port) of every legacy peer of a hash, in no particular order. */
  endpointsOf (fileHash: string): Endpoint[] {
    return this.#stmt.endpointsOf.all(fileHash)
  }

  /** The peers of a hash in registration order (an update keeps a peer's place). */
  peersOf (fileHash: string): StoredPeer[] {
    return this.#stmt.peersOf.all(fileHash).map(storedPeer)
  }

  /** The catalogue in registration order; with `search`, only names containing it, case-insensitively. */
  listFiles (search = ''): FileSummary[] {
    const rows = search === '' ? this.#stmt.listFiles.all() : this.#stmt.searchFiles.all(foldName(search))
    return rows.map((row) => ({ ...fileEntry(row), peersCount: row.peers_count }))
  }

  /** Up to `limit` distinct peer endpoints, least recently probed first. */
  endpointsToProbe (limit: number): Endpoint[] {
    return this.#stmt.endpointsToProbe.all(limit)
  }

  /**
   * Applies one probe of an endpoint to every registration at it. A success resets their failure counts;
   * a failure increments the count of those not re-registered since the probe started (`startedAt`) and
   * deletes those that reach `failuresToPrune`. Returns how many registrations were deleted.
   */
  recordProbe (endpoint: Endpoint, ok: boolean, startedAt: number, now: number, failuresToPrune: number): number {
    const s = this.#stmt
    return this.#db.transaction((): number => {
      if (ok) {
        s.probeSucceeded.run(now, endpoint.ip, endpoint.port)
        return 0
      }
      s.probeFailed.run(now, endpoint.ip, endpoint.port, startedAt)
      return s.prune.run(endpoint.ip, endpoint.port, failuresToPrune).changes
    }).immediate()
  }

  /** Closes the database. Idempotent. */
  close (): void {
    if (this.#db.open) this.#db.close()
  }
}
