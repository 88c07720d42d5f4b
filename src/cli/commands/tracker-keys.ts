/**
 * `p2pshare tracker keys add|list|revoke`: the access keys of a private tracker, in its SQLite file. They work while
 * the tracker runs on the same file (WAL): it sees a new key at once and a revocation within PASSKEY_REFRESH_MS.
 */
import { DEFAULT_TRACKER_URL } from '../../constants.js'
import { announceUrl } from '../../discovery/index.js'
import { P2PError, ValidationError } from '../../errors.js'
import { TrackerStore } from '../../tracker/store.js'
import type { AccessKeyEntry } from '../../tracker/access-keys.js'
import { PASSKEY_REFRESH_MS } from '../../tracker/access.js'
import type { CommandContext } from '../io.js'
import type { TrackerKeysOptions } from '../options.js'

export type TrackerKeysAction = 'add' | 'list' | 'revoke'

export async function trackerKeysCommand (action: TrackerKeysAction, arg: string | undefined, options: TrackerKeysOptions, ctx: CommandContext): Promise<number> {
  // The announce URL is checked before a key is issued, so a bad --url costs no key.
  const base = action === 'add' ? passkeyAnnounceUrl(options.url ?? DEFAULT_TRACKER_URL) : undefined
  // add may make the database (keys issued before the tracker's first start); list and revoke need one.
  const store = action === 'add' ? TrackerStore.open(options.db) : TrackerStore.openExisting(options.db)
  try {
    switch (action) {
      case 'add': return add(store, arg ?? '', base as URL, options, ctx)
      case 'list': return list(store, options, ctx)
      case 'revoke': return revoke(store, arg ?? '', options, ctx)
    }
  } finally {
    store.close()
  }
}

/** The tracker's announce URL (what a user typed: a base or announce URL), its query left for the passkey. */
function passkeyAnnounceUrl (input: string): URL {
  let url: URL
  try {
    url = new URL(announceUrl(input))
  } catch (err) {
    throw new ValidationError(`Invalid --url: ${(err as Error).message}`)
  }
  url.searchParams.delete('passkey')
  return url
}

function add (store: TrackerStore, label: string, base: URL, options: TrackerKeysOptions, ctx: CommandContext): number {
  const issued = store.keys.add(label, Date.now())
  base.searchParams.set('passkey', issued.key)
  const url = base.href
  if (options.json === true) {
    ctx.out(JSON.stringify({ id: issued.id, label: issued.label, key: issued.key, announce_url: url, created: iso(issued.createdAt) }))
    return 0
  }
  ctx.out(`Key ${issued.id} for ${issued.label}: ${issued.key}`)
  ctx.out('It is shown only this once: the tracker keeps its hash, not the key.')
  ctx.out(`Announce URL to give them: ${url}`)
  ctx.out(`They share and download with: p2pshare share FILE --tracker '${url}'`)
  return 0
}

function list (store: TrackerStore, options: TrackerKeysOptions, ctx: CommandContext): number {
  const keys = store.keys.list()
  if (options.json === true) {
    ctx.out(JSON.stringify(keys.map((k) => ({
      id: k.id, label: k.label, prefix: k.prefix, created: iso(k.createdAt), revoked: k.revokedAt === undefined ? null : iso(k.revokedAt)
    }))))
    return 0
  }
  if (keys.length === 0) {
    ctx.out('No keys issued yet (p2pshare tracker keys add LABEL).')
    return 0
  }
  const rows = [['ID', 'LABEL', 'KEY', 'CREATED', 'REVOKED'], ...keys.map(row)]
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map(r => (r[c] ?? '').length))) ?? []
  for (const r of rows) ctx.out(r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)).join('  '))
  const valid = keys.filter(k => k.revokedAt === undefined).length
  ctx.out(`${valid} valid, ${keys.length - valid} revoked.`)
  return 0
}

function row (k: AccessKeyEntry): string[] {
  // A label is shown on one line: any control character was refused when it was issued.
  return [String(k.id), k.label, `${k.prefix}...`, iso(k.createdAt), k.revokedAt === undefined ? '-' : iso(k.revokedAt)]
}

function iso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** A number is a key id; anything else a label (labels are never numbers). */
function revoke (store: TrackerStore, which: string, _options: TrackerKeysOptions, ctx: CommandContext): number {
  const now = Date.now()
  if (/^[0-9]+$/.test(which)) {
    const id = Number(which)
    const entry = Number.isSafeInteger(id) ? store.keys.get(id) : undefined
    if (entry === undefined) throw new P2PError('ERR_NOT_FOUND', `No key with id ${which}`)
    if (entry.revokedAt !== undefined) {
      ctx.out(`Key ${id} (${entry.label}) was already revoked on ${iso(entry.revokedAt)}.`)
      return 0
    }
    store.keys.revoke({ id }, now)
    ctx.out(`Revoked key ${id} (${entry.label}). A running tracker refuses it within ${PASSKEY_REFRESH_MS / 1000} s.`)
    return 0
  }
  const ofLabel = store.keys.list().filter(k => k.label === which)
  if (ofLabel.length === 0) throw new P2PError('ERR_NOT_FOUND', `No key with label ${JSON.stringify(which)}`)
  const count = store.keys.revoke({ label: which }, now)
  if (count === 0) {
    ctx.out(`Every key of ${which} was already revoked.`)
    return 0
  }
  ctx.out(`Revoked ${count} key${count === 1 ? '' : 's'} of ${which}. A running tracker refuses ${count === 1 ? 'it' : 'them'} within ${PASSKEY_REFRESH_MS / 1000} s.`)
  return 0
}
