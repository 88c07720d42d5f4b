/**
 * The access keys of a private tracker, in the catalogue's SQLite file (table `access_keys`, migration 3).
 *
 * A key is 32 random hex characters (128 bits), shown once when it is issued. Only its SHA-256 is stored, with its
 * first characters so an operator can tell keys apart in a listing: a copy of the database gives no one a key.
 * Checking a key is one hash and one indexed read.
 */
import { hash, randomBytes } from 'node:crypto'
import type Database from 'better-sqlite3'
import { ValidationError } from '../errors.js'

/** Characters of a key: 16 random bytes as hex. */
export const ACCESS_KEY_LENGTH = 32
/** Characters of a key kept in clear, for listings: 24 bits of 128, not enough to guess the rest. */
const KEY_PREFIX_LENGTH = 6
/** Longest label (who a key was issued to), in characters. */
export const MAX_KEY_LABEL_LENGTH = 200

const KEY = /^[0-9a-f]{32}$/

export type KeyStatus = 'valid' | 'revoked' | 'unknown'

export interface AccessKeyEntry {
  id: number
  label: string
  /** The key's first characters. */
  prefix: string
  /** ms since the epoch. */
  createdAt: number
  /** ms since the epoch; absent while the key is valid. */
  revokedAt?: number
}

export interface IssuedKey extends AccessKeyEntry {
  /** The key itself: shown to the operator once, never stored. */
  key: string
}

interface KeyRow {
  id: number
  label: string
  key_prefix: string
  created_at: number
  revoked_at: number | null
}

function keyEntry (row: KeyRow): AccessKeyEntry {
  const entry: AccessKeyEntry = { id: row.id, label: row.label, prefix: row.key_prefix, createdAt: row.created_at }
  if (row.revoked_at !== null) entry.revokedAt = row.revoked_at
  return entry
}

/** SHA-256 of a key, hex: what the table stores. (One-shot `crypto.hash`: about 0.5 µs, half of `createHash`'s.) */
export function hashKey (key: string): string {
  return hash('sha256', key, 'hex')
}

/** True for a string shaped like a key (32 lower-case hex); anything else is unknown without a database read. */
export function isKeyShaped (text: string): boolean {
  return KEY.test(text)
}

/** Why a label is refused, or undefined for a good one. */
function labelProblem (label: string): string | undefined {
  // Control characters, and lone UTF-16 surrogates (in unicode mode \p{Cs} matches only those), which are no text.
  // eslint-disable-next-line no-control-regex
  if (label.length === 0 || label.length > MAX_KEY_LABEL_LENGTH || /[\u0000-\u001f\u007f]|\p{Cs}/u.test(label)) {
    return `Invalid key label: 1 to ${MAX_KEY_LABEL_LENGTH} characters without control characters`
  }
  if (label.trim() !== label) return 'Invalid key label: no spaces at its start or end'
  // `tracker keys revoke <id|label>` reads a number as an id.
  if (/^[0-9]+$/.test(label)) return 'Invalid key label: a label cannot be a number (numbers name key ids)'
  return undefined
}

export class AccessKeys {
  readonly #db: Database.Database
  readonly #stmt
  /** Keys issued or revoked through this object (this connection); see `changeMark`. */
  #changes = 0

  constructor (db: Database.Database) {
    this.#db = db
    this.#stmt = {
      insert: db.prepare<[string, string, string, number]>(
        'INSERT INTO access_keys (key_hash, key_prefix, label, created_at) VALUES (?, ?, ?, ?)'),
      byId: db.prepare<[number], KeyRow>('SELECT id, label, key_prefix, created_at, revoked_at FROM access_keys WHERE id = ?'),
      status: db.prepare<[string], { revoked_at: number | null }>('SELECT revoked_at FROM access_keys WHERE key_hash = ?'),
      list: db.prepare<[], KeyRow>('SELECT id, label, key_prefix, created_at, revoked_at FROM access_keys ORDER BY id'),
      revokeId: db.prepare<[number, number]>('UPDATE access_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      revokeLabel: db.prepare<[number, string]>('UPDATE access_keys SET revoked_at = ? WHERE label = ? AND revoked_at IS NULL'),
      countValid: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM access_keys WHERE revoked_at IS NULL'),
      // SQLite: changes when another connection commits to the file (the CLI issuing or revoking keys).
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck()
    }
  }

  /**
   * Issues a new key for `label` (who it is for): 1 to 200 characters, no control characters, no spaces at either
   * end, not a number (numbers name key ids). One label may hold several keys.
   */
  add (label: string, now: number): IssuedKey {
    const problem = labelProblem(label)
    if (problem !== undefined) throw new ValidationError(problem)
    const key = randomBytes(ACCESS_KEY_LENGTH / 2).toString('hex')
    const prefix = key.slice(0, KEY_PREFIX_LENGTH)
    const id = Number(this.#stmt.insert.run(hashKey(key), prefix, label, now).lastInsertRowid)
    this.#changes++
    return { id, label, prefix, createdAt: now, key }
  }

  /** Every key ever issued, oldest first, revoked ones included. */
  list (): AccessKeyEntry[] {
    return this.#stmt.list.all().map(keyEntry)
  }

  /** The key with this id. */
  get (id: number): AccessKeyEntry | undefined {
    const row = this.#stmt.byId.get(id)
    return row === undefined ? undefined : keyEntry(row)
  }

  /** Revokes the key with this id, or every valid key issued to this label; returns how many were revoked. */
  revoke (which: { id: number } | { label: string }, now: number): number {
    const result = 'id' in which ? this.#stmt.revokeId.run(now, which.id) : this.#stmt.revokeLabel.run(now, which.label)
    this.#changes += result.changes
    return result.changes
  }

  /** Whether a key presented by a client is valid, revoked, or not one this tracker issued. */
  status (key: string): KeyStatus {
    if (!isKeyShaped(key)) return 'unknown'
    return this.statusOfHash(hashKey(key))
  }

  /** `status` of the key with this SHA-256 (`hashKey`), for a caller that has hashed it already. */
  statusOfHash (keyHash: string): KeyStatus {
    const row = this.#stmt.status.get(keyHash)
    if (row === undefined) return 'unknown'
    return row.revoked_at === null ? 'valid' : 'revoked'
  }


  /**
   * A number that changes whenever the keys may have changed since it was last read: issued or revoked through this
   * object (known without a database read), or anything committed to the file by another connection (one
   * `PRAGMA data_version` read).
   */
  changeMark (): number {
    return this.#changes + (this.#stmt.dataVersion.get() ?? 0)
  }

  /** Keys issued or revoked through this object so far: a cheap part of `changeMark` (no database read). */
  get localChanges (): number {
    return this.#changes
  }

  /** Keys not revoked. */
  get validCount (): number {
    return this.#stmt.countValid.get()?.n ?? 0
  }

  /** The database these keys are in is open. */
  get isOpen (): boolean {
    return this.#db.open
  }
}
