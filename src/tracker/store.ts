/**
 * The tracker's persistent state in SQLite: the catalogue of files (with their metainfo and completed-download
 * counts) and the legacy (`/register`) peers.
 *
 * Peers are persisted, not only files: the seed's peers register once and never again, so a peer list
 * lost on restart would never come back. Every write is one transaction (WAL journal, synchronous=FULL),
 * so a crash or `kill -9` leaves the file at the last committed registration. Files stay until the operator
 * removes one (`removeFile`, `p2pshare tracker remove`), which another process may do while a tracker runs on the
 * same file: WAL lets it write while the tracker reads, and the tracker keeps no copy of the catalogue in memory.
 */
import { existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import { P2PError, ValidationError } from '../errors.js'
import { encodeRanges } from './chunk-ranges.js'
import type { CatalogueSort, SortOrder } from './catalogue-query.js'
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
    seq         INTEGER PRIMARY KEY,                 -- registration order
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
  `,
  // 4: what a lookup needs to choose a file's peers without reading their chunk lists (a list can be hundreds of KiB,
  // and the columns after it in a row are reached only through its overflow pages): the length of the list's text,
  // and an index holding every column the choice reads, in registration order.
  `
  ALTER TABLE legacy_peers ADD COLUMN chunks_bytes INTEGER NOT NULL DEFAULT 0; -- length(chunks), bytes (ASCII)
  UPDATE legacy_peers SET chunks_bytes = length(CAST(chunks AS BLOB));
  CREATE INDEX legacy_peers_listing ON legacy_peers (file_hash, id, ip, port, chunk_count, chunk_size, chunks_bytes);
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
  /** Peers that announced `completed` to the info hash's swarm, as written so far (see CompletedCounts). */
  completed: number
  /** A registration uploaded the file's metainfo (.torrent), served at `/torrent/<info hash>`. */
  hasMetainfo: boolean
}

export interface FileSummary extends FileEntry {
  peersCount: number
}

/** A page of the catalogue. */
export interface CataloguePageQuery {
  /** Names containing this text (folded with foldName); '' for every file. */
  q: string
  /** Absent: registration order. */
  sort?: CatalogueSort
  order: SortOrder
  limit: number
  offset: number
}

/** The live seeders of an info hash (the announce swarms, in memory), for the `seeders` sort. */
export type SeedersOf = (infoHash: string) => number

/** The metainfo a registration uploaded, and the name to serve it under. */
export interface StoredMetainfo {
  fileName: string
  metainfo: Buffer
}

/** What `removeFile` took out of the catalogue. */
export interface RemovedFile {
  file: FileEntry
  /** Registered (legacy) peers deleted with it. */
  peersRemoved: number
}

/** A registered peer as a lookup chooses it: everything but its chunk list, which `chunksOf` reads. */
export interface PeerListing {
  /** Its row (registration order). */
  id: number
  ip: string
  port: number
  chunkCount: number
  chunkSize?: number
  /** Length of its chunk list's stored text (chunk-ranges.ts), bytes. */
  chunksBytes: number
}

export interface RegisterResult {
  /** True when (ip, port) was already listed for the hash (its chunks were replaced). */
  updated: boolean
  /** Peers listed for the hash after this registration. */
  peersCount: number
  /** The info hash the catalogue holds for the file after this registration (which may not be the one it named). */
  infoHash?: string
  /** The catalogue holds the file's metainfo after this registration (uploaded by it or by an earlier one). */
  hasMetainfo: boolean
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
  completed: number
  has_metainfo: number
}

/** The columns of a FileRow (`metainfo IS NOT NULL` reads the record header only, not the blob). */
const FILE_COLUMNS = 'file_hash, file_name, file_size, added_at, info_hash, completed, metainfo IS NOT NULL AS has_metainfo'
/** The same, from `files f`, with the file's registered peers counted (through the (file_hash, ip, port) index). */
const SUMMARY_COLUMNS = `f.file_hash, f.file_name, f.file_size, f.added_at, f.info_hash, f.completed, f.metainfo IS NOT NULL AS has_metainfo,
  (SELECT COUNT(*) FROM legacy_peers p WHERE p.file_hash = f.file_hash) AS peers_count`
/** The search condition of a non-empty `q` (instr: `%` and `_` are literal, unlike LIKE). */
const MATCHES = 'instr(f.name_folded, ?) > 0'
/**
 * The SQL function that asks the swarms for an info hash's seeders (registered on this connection only, never stored in
 * the schema): the `seeders` sort orders by it, so SQLite keeps only a top-N of (seeders, seq) pairs in its sorter.
 */
const SEEDERS_FUNCTION = 'p2pshare_swarm_seeders'
/** ORDER BY of each sort; ties always in registration order. */
const ORDER_BY: Record<CatalogueSort | 'registration', (dir: string) => string> = {
  registration: (dir) => `f.seq ${dir}`,
  name: (dir) => `f.name_folded ${dir}, f.seq`,
  size: (dir) => `f.file_size ${dir}, f.seq`,
  added: (dir) => `f.added_at ${dir}, f.seq`,
  seeders: (dir) => `(CASE WHEN f.info_hash IS NULL THEN 0 ELSE ${SEEDERS_FUNCTION}(f.info_hash) END) ${dir}, f.seq`
}

type SummaryRow = FileRow & { peers_count: number }

interface ListingRow {
  id: number
  ip: string
  port: number
  chunk_count: number
  chunk_size: number | null
  chunks_bytes: number
}

function fileEntry (row: FileRow): FileEntry {
  const entry: FileEntry = {
    fileHash: row.file_hash,
    fileName: row.file_name,
    fileSize: row.file_size,
    addedAt: row.added_at,
    completed: row.completed,
    hasMetainfo: row.has_metainfo === 1
  }
  if (row.info_hash !== null) entry.infoHash = row.info_hash
  return entry
}

function fileSummary (row: SummaryRow): FileSummary {
  return { ...fileEntry(row), peersCount: row.peers_count }
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
  /** Page statements (the seq of each file of a page) by (sort, order, search or not), prepared when first used. */
  readonly #pageStmts = new Map<string, Database.Statement<unknown[], number>>()
  /** What the seeders SQL function answers; set for the duration of one page query. */
  #seedersOf: SeedersOf = () => 0
  /** The access keys of a private tracker (in the same database). */
  readonly keys: AccessKeys

  private constructor (db: Database.Database, limits: StoreLimits) {
    this.#db = db
    this.#limits = limits
    this.keys = new AccessKeys(db)
    db.function(SEEDERS_FUNCTION, { deterministic: false }, (infoHash: unknown) => typeof infoHash === 'string' ? this.#seedersOf(infoHash) : 0)
    this.#stmt = {
      fileByHash: db.prepare<[string], FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE file_hash = ?`),
      fileByName: db.prepare<[string], FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE file_name = ? ORDER BY seq LIMIT 1`),
      fileByInfoHash: db.prepare<[string], FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE info_hash = ?`),
      setMetainfo: db.prepare<[Buffer, string, string]>(
        'UPDATE files SET metainfo = ? WHERE file_hash = ? AND info_hash = ? AND metainfo IS NULL'),
      hasMetainfo: db.prepare<[string], { n: number }>('SELECT metainfo IS NOT NULL AS n FROM files WHERE file_hash = ?'),
      metainfoOf: db.prepare<[string], { file_name: string, metainfo: Buffer }>(
        'SELECT file_name, metainfo FROM files WHERE info_hash = ? AND metainfo IS NOT NULL'),
      addCompleted: db.prepare<[number, string]>('UPDATE files SET completed = completed + ? WHERE info_hash = ?'),
      deletePeersOf: db.prepare<[string]>('DELETE FROM legacy_peers WHERE file_hash = ?'),
      deleteFile: db.prepare<[string]>('DELETE FROM files WHERE file_hash = ?'),
      countMatches: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM files f WHERE instr(f.name_folded, ?) > 0'),
      filesBySeq: db.prepare<[string], SummaryRow & { seq: number }>(
        `SELECT f.seq, ${SUMMARY_COLUMNS} FROM files f WHERE f.seq IN (SELECT value FROM json_each(?))`),
      setInfoHash: db.prepare<[string, string]>('UPDATE files SET info_hash = ? WHERE file_hash = ? AND info_hash IS NULL'),
      countFiles: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM files'),
      insertFile: db.prepare<[string, string, string, number, number, string | null]>(
        'INSERT INTO files (file_hash, file_name, name_folded, file_size, added_at, info_hash) VALUES (?, ?, ?, ?, ?, ?)'),
      peerId: db.prepare<[string, string, number], { id: number }>(
        'SELECT id FROM legacy_peers WHERE file_hash = ? AND ip = ? AND port = ?'),
      countPeersOf: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM legacy_peers WHERE file_hash = ?'),
      countPeers: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM legacy_peers'),
      endpointRegistered: db.prepare<[string, number], { one: number }>('SELECT 1 AS one FROM legacy_peers WHERE ip = ? AND port = ? LIMIT 1'),
      insertPeer: db.prepare<[string, string, number, string, number, number, number | null, number, number]>(
        `INSERT INTO legacy_peers (file_hash, ip, port, chunks, chunks_bytes, chunk_count, chunk_size, registered_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updatePeer: db.prepare<[string, number, number, number | null, number, number]>(
        `UPDATE legacy_peers SET chunks = ?, chunks_bytes = ?, chunk_count = ?, chunk_size = ?, updated_at = ?, probe_failures = 0
         WHERE id = ?`),
      listingsOf: db.prepare<[string, number], ListingRow>(
        `SELECT id, ip, port, chunk_count, chunk_size, chunks_bytes FROM legacy_peers INDEXED BY legacy_peers_listing
         WHERE file_hash = ? ORDER BY id LIMIT ?`),
      chunksOf: db.prepare<[number], { chunks: string }>('SELECT chunks FROM legacy_peers WHERE id = ?'),
      endpointsOf: db.prepare<[string], Endpoint>('SELECT ip, port FROM legacy_peers WHERE file_hash = ?'),
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

  /**
   * Opens the database of an existing tracker (the operator's commands: keys, remove): a missing file is P2PError
   * `ERR_TRACKER_DB`, not a new empty catalogue made by a mistyped `--db`.
   */
  static openExisting (path: string): TrackerStore {
    if (path === ':memory:' || !existsSync(path)) {
      throw new P2PError('ERR_TRACKER_DB', `No tracker database at ${path} (give the tracker's file with --db)`)
    }
    return TrackerStore.open(path)
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
   *
   * Metainfo the registration uploads (already checked against its info hash by parseRegistration) is kept when the
   * catalogue holds that info hash for the file and no metainfo yet: the first upload stays (its info dictionary is
   * the same bytes as any later one's; only the advisory keys around it could differ).
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
      // The text is ASCII (digits, '-', ','): its length is its size in bytes.
      if (existing !== undefined) {
        s.updatePeer.run(chunks, chunks.length, reg.chunkCount, chunkSize, now, existing.id)
      } else {
        if ((s.countPeersOf.get(reg.fileHash)?.n ?? 0) >= this.#limits.maxPeersPerFile) {
          throw new P2PError('ERR_TRACKER_FULL', `Too many peers for this file (${this.#limits.maxPeersPerFile})`)
        }
        if ((s.countPeers.get()?.n ?? 0) >= this.#limits.maxPeers) {
          throw new P2PError('ERR_TRACKER_FULL', `Tracker peer list is full (${this.#limits.maxPeers} peers)`)
        }
        s.insertPeer.run(reg.fileHash, reg.ip, reg.port, chunks, chunks.length, reg.chunkCount, chunkSize, now, now)
      }
      if (reg.metainfo !== undefined && infoHash !== undefined && infoHash === reg.infoHash) {
        s.setMetainfo.run(reg.metainfo, reg.fileHash, infoHash)
      }
      const result: RegisterResult = {
        updated: existing !== undefined,
        peersCount: s.countPeersOf.get(reg.fileHash)?.n ?? 0,
        hasMetainfo: s.hasMetainfo.get(reg.fileHash)?.n === 1
      }
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

  /**
   * The first `limit` peers of a hash in registration order, without their chunk lists: read from one index, so the
   * cost is the same whatever the size of the lists (a lookup chooses from these, then reads the chosen lists).
   */
  listingsOf (fileHash: string, limit: number): PeerListing[] {
    return this.#stmt.listingsOf.all(fileHash, limit).map((row) => {
      const listing: PeerListing = {
        id: row.id, ip: row.ip, port: row.port, chunkCount: row.chunk_count, chunksBytes: row.chunks_bytes
      }
      if (row.chunk_size !== null) listing.chunkSize = row.chunk_size
      return listing
    })
  }

  /** The stored text of one peer's chunk list (chunk-ranges.ts), by its listing's `id`; undefined when it is gone. */
  chunksOf (id: number): string | undefined {
    return this.#stmt.chunksOf.get(id)?.chunks
  }

  /** Runs `read` in one read transaction: every query in it sees the same catalogue. */
  snapshot<T> (read: () => T): T {
    return this.#db.transaction(read).deferred()
  }

  /** How many files have a name containing `search`, case-insensitively (every file for ''). */
  countFiles (search = ''): number {
    const row = search === '' ? this.#stmt.countFiles.get() : this.#stmt.countMatches.get(foldName(search))
    return row?.n ?? 0
  }

  /**
   * One page of the files whose name contains `query.q` (case-insensitively), sorted, ties in registration order
   * whatever the direction. Two steps: the page's registration numbers (the indexes on (file_size, seq) and
   * (added_at, seq) serve those sorts without a sort step; a name or seeders sort or a search reads every row and
   * keeps a top-N of small keys), then only the page's rows in full. `seedersOf` answers the `seeders` sort.
   */
  pageFiles (query: CataloguePageQuery, seedersOf: SeedersOf = () => 0): FileSummary[] {
    const dir = query.order === 'desc' ? 'DESC' : 'ASC'
    const sort = query.sort ?? 'registration'
    const search = query.q !== ''
    const key = `${sort} ${dir} ${search ? 'q' : ''}`
    let stmt = this.#pageStmts.get(key)
    if (stmt === undefined) {
      stmt = this.#db.prepare<unknown[], number>(
        `SELECT f.seq FROM files f ${search ? `WHERE ${MATCHES}` : ''} ORDER BY ${ORDER_BY[sort](dir)} LIMIT ? OFFSET ?`).pluck()
      this.#pageStmts.set(key, stmt)
    }
    this.#seedersOf = seedersOf
    try {
      const seqs = search ? stmt.all(foldName(query.q), query.limit, query.offset) : stmt.all(query.limit, query.offset)
      return this.filesBySeq(seqs)
    } finally {
      this.#seedersOf = () => 0
    }
  }

  /** The files of these registration numbers, in the order given (numbers of removed files are skipped). */
  filesBySeq (seqs: readonly number[]): FileSummary[] {
    if (seqs.length === 0) return []
    const bySeq = new Map<number, FileSummary>()
    for (const row of this.#stmt.filesBySeq.all(JSON.stringify(seqs))) bySeq.set(row.seq, fileSummary(row))
    const files: FileSummary[] = []
    for (const seq of seqs) {
      const file = bySeq.get(seq)
      if (file !== undefined) files.push(file)
    }
    return files
  }

  /** The metainfo uploaded for an info hash (40 lower-case hex); undefined when the catalogue has none. */
  metainfoOf (infoHash: string): StoredMetainfo | undefined {
    const row = this.#stmt.metainfoOf.get(infoHash)
    return row === undefined ? undefined : { fileName: row.file_name, metainfo: row.metainfo }
  }

  /**
   * Adds completed downloads to the files of these info hashes, all in one transaction. Info hashes the catalogue
   * does not hold are ignored (their swarms' own count still answers scrapes). Returns how many files were updated.
   */
  addCompleted (counts: Iterable<readonly [infoHash: string, count: number]>): number {
    const s = this.#stmt
    return this.#db.transaction((): number => {
      let updated = 0
      for (const [infoHash, count] of counts) updated += s.addCompleted.run(count, infoHash).changes
      return updated
    }).immediate()
  }

  /**
   * Removes a file, by file hash or info hash (40 hex, either case; a file hash is tried first), with its registered
   * peers, in one transaction. Undefined when no file has that hash. Its announce swarm (memory) is not touched: peers
   * announcing the info hash keep their swarm, which is simply no longer listed in the catalogue.
   */
  removeFile (hash: string): RemovedFile | undefined {
    const s = this.#stmt
    const lower = hash.toLowerCase()
    return this.#db.transaction((): RemovedFile | undefined => {
      const row = s.fileByHash.get(lower) ?? s.fileByInfoHash.get(lower)
      if (row === undefined) return undefined
      const peersRemoved = s.deletePeersOf.run(row.file_hash).changes
      s.deleteFile.run(row.file_hash)
      return { file: fileEntry(row), peersRemoved }
    }).immediate()
  }

  /** Up to `limit` distinct peer endpoints, least recently probed first. */
  /** Is any file registered at this endpoint? */
  isRegistered (ip: string, port: number): boolean {
    return this.#stmt.endpointRegistered.get(ip, port) !== undefined
  }

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
