/**
 * Transmission RPC at `/transmission/rpc`, on top of `SessionApi`, so that transmission-remote, Sonarr, Radarr and the
 * other Transmission clients drive our node. The protocol is Transmission 3.00's (rpc-version 16,
 * ../shared/specs/transmission-rpc-spec-3.00.txt): POST `{ method, arguments, tag }`, answer
 * `{ result: "success" | "<error>", arguments, tag }`, HTTP 200 whatever the result. 4.1's JSON-RPC 2.0 envelope and
 * snake_case names (../shared/specs/transmission-rpc-spec-current.md) are accepted too; a request in them is answered
 * in them.
 *
 * Before that, spec 2.3.1: a request without the current X-Transmission-Session-Id gets 409 with the id in that
 * header, and the client resends. The app's own checks (Host, Basic/Bearer auth) run first, in its hooks; its
 * Origin/Content-Type CSRF check must skip TRANSMISSION_RPC_PATH (clients post `application/x-www-form-urlencoded`:
 * transmission-remote is curl with CURLOPT_POSTFIELDS) — the session id is this route's CSRF defence.
 *
 * docs/transmission-rpc.md says what is supported, what is not, and what we answer then.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { isUtf8 } from 'node:buffer'
import { constants as fsConstants } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { P2PError, systemErrorCode } from '../errors.js'
import type { AddOptions, AddSource, SessionApi, SessionSettings, SettingsChanges, TorrentDetail, TorrentLimits, TorrentRef, TorrentSummary } from '../session/types.js'
import {
  DEFAULT_IDLE_MINUTES, DEFAULT_SEED_RATIO, SPEED_K, TR_LIMIT_MODE, int, isRunning, nameKey, snakeKeys, snakeName, toKBps, torrentField,
  type FieldContext, type FieldSpec
} from './transmission-fields.js'

/** Where Transmission serves its RPC (spec 2.3); clients also post to it with a trailing slash (transmission-remote does). */
export const TRANSMISSION_RPC_PATH = '/transmission/rpc'
export const SESSION_ID_HEADER = 'X-Transmission-Session-Id'

/** The protocol we speak: Transmission 3.00's. Clients read `version` (Sonarr: "3.00" is above its 2.40 minimum). */
export const RPC_VERSION = 16
/** The oldest we are compatible with: rpc-version 14 changed the status numbers, and we answer the new ones. */
export const RPC_VERSION_MINIMUM = 14
export const RPC_VERSION_SEMVER = '5.2.0'
export const TRANSMISSION_VERSION = '3.00'

/**
 * Largest request body. Everything but torrent-add fits in a few KiB; a torrent-add carries a .torrent in base64 (4/3
 * of it) and is the bound: RPC_MAX_METAINFO_BYTES of .torrent is 10.7 MiB of base64, plus the JSON around it.
 */
export const RPC_BODY_LIMIT_BYTES = 11 * 1024 * 1024
/** Largest .torrent torrent-add takes (`metainfo`, or a local file named by `filename`). */
export const RPC_MAX_METAINFO_BYTES = 8 * 1024 * 1024
/** Longest `filename` (a magnet with dozens of trackers fits; a local path is at most PATH_MAX). */
export const RPC_MAX_FILENAME_LENGTH = 64 * 1024
/** Entries of an `ids` list, of a `fields` list, and requests in one JSON-RPC batch: past them, an error. */
export const RPC_MAX_IDS = 10_000
export const RPC_MAX_FIELDS = 1_000
export const RPC_MAX_BATCH = 64
/** `ids: "recently-active"`: torrents changed (and ids removed) within this (Transmission's RECENTLY_ACTIVE_SECONDS). */
export const RECENTLY_ACTIVE_MS = 60_000
/** Removed torrents remembered for "recently-active" (each for RECENTLY_ACTIVE_MS at most). */
export const RPC_MAX_REMOVED_REMEMBERED = 1_000

/** JSON-RPC 2.0 error codes, and Transmission 4.1's own after them (libtransmission/rpcimpl.h). */
const JSON_RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  PATH_NOT_ABSOLUTE: 3,
  SYSTEM_ERROR: 5,
  CORRUPT_TORRENT: 9
} as const

const JSON_RPC_MESSAGES: Readonly<Record<number, string>> = {
  [JSON_RPC.PARSE_ERROR]: 'Parse error',
  [JSON_RPC.INVALID_REQUEST]: 'Invalid Request',
  [JSON_RPC.METHOD_NOT_FOUND]: 'Method not found',
  [JSON_RPC.INVALID_PARAMS]: 'Invalid params',
  [JSON_RPC.INTERNAL_ERROR]: 'Internal error',
  [JSON_RPC.PATH_NOT_ABSOLUTE]: 'path is not absolute',
  [JSON_RPC.SYSTEM_ERROR]: 'system error',
  [JSON_RPC.CORRUPT_TORRENT]: 'invalid or corrupt torrent file'
}

/** A method's failure: its message is the reply's `result` (the old protocol) or `error.data.error_string` (JSON-RPC). */
export class RpcError extends P2PError {
  readonly jsonRpcCode: number

  constructor (message: string, jsonRpcCode: number = JSON_RPC.SYSTEM_ERROR, options?: { cause?: unknown }) {
    super('ERR_TRANSMISSION_RPC', message, options)
    this.jsonRpcCode = jsonRpcCode
  }
}

function invalid (message: string): RpcError {
  return new RpcError(message, JSON_RPC.INVALID_PARAMS)
}

function unsupported (message: string): RpcError {
  return new RpcError(message, JSON_RPC.METHOD_NOT_FOUND)
}

export interface TransmissionRpcOptions {
  session: SessionApi
  /** The current X-Transmission-Session-Id; default: one random 48-character id for the plugin's lifetime. */
  sessionId?: () => string
  /** Milliseconds since the epoch (tests pass a fixed clock). */
  now?: () => number
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** 48 random letters and digits, as Transmission's session ids (session-id.c). */
export function randomSessionId (): string {
  let id = ''
  // Bytes of 248 and above would bias the alphabet (248 = 4 × 62) and are skipped: 16 rounds of 64 bytes never fall short.
  for (let round = 0; round < 16 && id.length < 48; round++) {
    for (const byte of randomBytes(64)) if (byte < 248 && id.length < 48) id += ID_ALPHABET[byte % 62]
  }
  return id
}

function sameSecret (given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** One request's arguments, by name in any spelling (`download-dir`, `download_dir`, `downloadDir`), typed on access. */
class Args {
  readonly #values = new Map<string, { name: string, value: unknown }>()

  constructor (raw: Record<string, unknown>) {
    for (const [name, value] of Object.entries(raw)) this.#values.set(nameKey(name), { name, value })
  }

  has (name: string): boolean {
    return this.#values.has(nameKey(name))
  }

  raw (name: string): unknown {
    return this.#values.get(nameKey(name))?.value
  }

  /** The name the client used, for messages. */
  named (name: string): string {
    return this.#values.get(nameKey(name))?.name ?? name
  }

  string (name: string): string | undefined {
    const value = this.raw(name)
    if (value === undefined) return undefined
    if (typeof value !== 'string') throw invalid(`invalid argument: ${this.named(name)} must be a string`)
    return value
  }

  /** true/false, or 0/1 as Transmission's tr_variantGetBool takes them. */
  boolean (name: string): boolean | undefined {
    const value = this.raw(name)
    if (value === undefined) return undefined
    if (typeof value === 'boolean') return value
    if (value === 0 || value === 1) return value === 1
    throw invalid(`invalid argument: ${this.named(name)} must be true or false`)
  }

  number (name: string, options: { integer?: boolean, min?: number } = {}): number | undefined {
    const value = this.raw(name)
    if (value === undefined) return undefined
    const min = options.min ?? 0
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (options.integer === true && !Number.isInteger(value)) || value > Number.MAX_SAFE_INTEGER) {
      throw invalid(`invalid argument: ${this.named(name)} must be ${options.integer === true ? 'an integer' : 'a number'} of at least ${min}`)
    }
    return value
  }

  /** A list of file indices (`files-wanted`, `priority-high`...). */
  indices (name: string): number[] | undefined {
    const value = this.raw(name)
    if (value === undefined) return undefined
    if (!Array.isArray(value) || value.length > RPC_MAX_IDS || !value.every((i) => Number.isInteger(i) && (i as number) >= 0)) {
      throw invalid(`invalid argument: ${this.named(name)} must be a list of file indices`)
    }
    return value as number[]
  }
}

/**
 * File selection and priorities are not in the engine: every file is wanted, at normal priority. Asking for anything
 * else is an error rather than a success that does nothing (an empty list means "all files", spec 3.2).
 */
function refuseFileSelection (args: Args): void {
  for (const name of ['files-unwanted', 'priority-high', 'priority-low']) {
    if (args.indices(name) !== undefined) throw unsupported(`${args.named(name)} is not supported: every file of a torrent is downloaded, at normal priority`)
  }
  args.indices('files-wanted')
  args.indices('priority-normal')
}

function absolutePath (args: Args, name: string, message: string): string | undefined {
  const path = args.string(name)
  if (path === undefined) return undefined
  if (path.length === 0 || path.length > 4096 || path.includes('\0') || !isAbsolute(path)) throw new RpcError(message, JSON_RPC.PATH_NOT_ABSOLUTE)
  return path
}

/** A session error as a method failure: its message is written for the user. Anything else is a bug of ours. */
function sessionFailure (err: unknown): RpcError {
  if (err instanceof RpcError) return err
  if (err instanceof P2PError) return new RpcError(err.message, err.code === 'ERR_VALIDATION' ? JSON_RPC.INVALID_PARAMS : JSON_RPC.SYSTEM_ERROR, { cause: err })
  return new RpcError('internal error', JSON_RPC.INTERNAL_ERROR, { cause: err })
}

/** The existing torrent's id an ERR_DUPLICATE carries as `existing` (its id, or a summary with one). */
function duplicateOf (err: unknown): number | undefined {
  if (!(err instanceof P2PError) || err.code !== 'ERR_DUPLICATE') return undefined
  const existing: unknown = (err as P2PError & { existing?: unknown }).existing
  if (typeof existing === 'number') return existing
  if (typeof existing === 'object' && existing !== null && 'id' in existing && typeof existing.id === 'number') return existing.id
  return undefined
}

/**
 * Reads a local .torrent named by torrent-add's `filename`: a regular file of at most RPC_MAX_METAINFO_BYTES. Anything
 * else (a FIFO, a device) is refused before it is opened, and the open is non-blocking besides, so that nothing can
 * hold a thread or act on being opened; the content is never echoed, only parsed by the session.
 */
async function readTorrentFile (path: string): Promise<Buffer> {
  const unreadable = (err: unknown): RpcError => {
    const code = systemErrorCode(err)
    return new RpcError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? 'unreadable'}`, JSON_RPC.SYSTEM_ERROR)
  }
  const notRegular = (): RpcError => new RpcError(`cannot read ${path}: not a regular file`, JSON_RPC.INVALID_PARAMS)
  let handle
  try {
    if (!(await stat(path)).isFile()) throw notRegular()
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK)
  } catch (err) {
    throw err instanceof RpcError ? err : unreadable(err)
  }
  try {
    // Again on what was opened: the path may have been replaced since.
    const opened = await handle.stat()
    if (!opened.isFile()) throw notRegular()
    if (opened.size > RPC_MAX_METAINFO_BYTES) throw new RpcError(`${path} is ${opened.size} bytes, larger than any torrent we accept (${RPC_MAX_METAINFO_BYTES})`, JSON_RPC.CORRUPT_TORRENT)
    // Read at most one byte past the cap: a file that grew since the stat is refused, not buffered.
    const buffer = Buffer.alloc(Math.min(opened.size, RPC_MAX_METAINFO_BYTES) + 1)
    let length = 0
    for (let i = 0; i < 64 && length < buffer.length; i++) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > RPC_MAX_METAINFO_BYTES) throw new RpcError(`${path} is larger than any torrent we accept (${RPC_MAX_METAINFO_BYTES})`, JSON_RPC.CORRUPT_TORRENT)
    return buffer.subarray(0, length)
  } catch (err) {
    throw err instanceof RpcError ? err : unreadable(err)
  } finally {
    await handle.close()
  }
}

/** torrent-add's `metainfo`: base64 (line breaks allowed, as some clients wrap it), at most RPC_MAX_METAINFO_BYTES. */
function decodeMetainfo (text: string): Buffer {
  const compact = text.replace(/\s+/g, '')
  if (compact.length === 0 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new RpcError('invalid or corrupt torrent file: metainfo is not base64', JSON_RPC.CORRUPT_TORRENT)
  if (Math.floor(compact.length * 3 / 4) > RPC_MAX_METAINFO_BYTES + 2) throw new RpcError(`invalid or corrupt torrent file: larger than any torrent we accept (${RPC_MAX_METAINFO_BYTES} bytes)`, JSON_RPC.CORRUPT_TORRENT)
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64')
}

const BARE_HASH = /^(?:[0-9a-fA-F]{40}|[A-Za-z2-7]{32})$/

/** torrent-add's `filename`: a magnet (or bare info hash), a local .torrent path; a URL is refused (we fetch nothing). */
async function addSource (filename: string): Promise<AddSource> {
  const name = filename.trim()
  if (name.length === 0 || name.length > RPC_MAX_FILENAME_LENGTH) throw invalid('invalid argument: filename must be a magnet link or a local .torrent path')
  if (/^magnet:/i.test(name) || BARE_HASH.test(name)) return { kind: 'magnet', uri: name }
  if (/^file:\/\//i.test(name)) {
    let path: string
    try {
      path = fileURLToPath(name)
    } catch {
      throw invalid(`invalid argument: ${name} is not a usable file: URL`)
    }
    return { kind: 'torrent', data: await readTorrentFile(path) }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) {
    throw unsupported('adding a torrent by URL is not supported (the node fetches nothing): download the .torrent and send its content as metainfo, or send a magnet link')
  }
  if (!isAbsolute(name)) throw new RpcError('filename must be a magnet link or an absolute path to a .torrent file', JSON_RPC.PATH_NOT_ABSOLUTE)
  return { kind: 'torrent', data: await readTorrentFile(name) }
}

/**
 * A speed limit and its switch, in kB/s (spec 3.2, 4.1): to bytes per second to store, null to clear, undefined to
 * leave as it is. We store one number or none: a value sets (and enables) it; the switch off clears it; the switch
 * on alone keeps the stored one, and is an error where none is stored. Arguments are checked when this is called.
 */
function speedChange (args: Args, limitName: string, enabledName: string): (current: number | null) => number | null | undefined {
  const limit = args.number(limitName)
  const enabled = args.boolean(enabledName)
  return (current) => {
    if (enabled === false) return null
    if (limit !== undefined) return Math.round(limit * SPEED_K)
    if (enabled === true && current === null) throw invalid(`invalid argument: ${args.named(enabledName)} needs ${limitName}: no limit is stored`)
    return undefined
  }
}

/** A session default with its switch (`seedRatioLimit` / `seedRatioLimited`...): the same rules as speedChange. */
function switchedLimit (args: Args, valueName: string, enabledName: string, integer: boolean): (current: number | null, fallback: number) => number | null | undefined {
  const value = args.number(valueName, { integer })
  const enabled = args.boolean(enabledName)
  return (current, fallback) => {
    if (enabled === false) return null
    if (value !== undefined) return value
    if (enabled === true) return current ?? fallback
    return undefined
  }
}

/**
 * A torrent's seed ratio or idle limit and its mode (tr_ratiolimit / tr_idlelimit): 0 the session's default (we store
 * none), 1 its own (the value given, else the one it has), 2 unlimited — only where the session has no default either:
 * we cannot tell one torrent to ignore the session's. A value without a mode sets the torrent's own.
 */
function seedLimitChange (args: Args, valueName: string, modeName: string, integer: boolean): (current: number | null, sessionDefault: number | null) => number | null | undefined {
  const value = args.number(valueName, { integer })
  const mode = args.number(modeName, { integer: true })
  if (mode !== undefined && mode > TR_LIMIT_MODE.UNLIMITED) throw invalid(`invalid argument: ${args.named(modeName)} must be 0, 1 or 2`)
  return (current, sessionDefault) => {
    if (mode === TR_LIMIT_MODE.GLOBAL) return null
    if (mode === TR_LIMIT_MODE.UNLIMITED) {
      if (sessionDefault === null) return null
      throw unsupported(`${args.named(modeName)} 2 (unlimited) is not supported while the session has a default: clear the session's limit, or give this torrent its own`)
    }
    if (value !== undefined) return value
    if (mode === TR_LIMIT_MODE.SINGLE) return current ?? sessionDefault ?? (integer ? DEFAULT_IDLE_MINUTES : DEFAULT_SEED_RATIO)
    return undefined
  }
}

/** tr_info's short form (torrent-added, torrent-duplicate). */
function addedObject (t: TorrentSummary): Record<string, unknown> {
  return { id: t.id, name: t.name, hashString: t.infoHash }
}

type Out = Record<string, unknown>

/** What a method gets: its arguments, the reply style, and the state the plugin keeps. */
interface Call {
  args: Args
  /** A JSON-RPC 2.0 request (answered with snake_case names and 4.1's booleans). */
  jsonRpc: boolean
  /** Answer every name in snake_case (JSON-RPC, or a snake_case method name). */
  snake: boolean
}

/**
 * Torrents that changed lately, and ids removed lately, for `ids: "recently-active"`. Fed by the session's events;
 * bounded by the session's torrents (changes) and RPC_MAX_REMOVED_REMEMBERED (removals).
 */
class RecentActivity {
  readonly #changed = new Map<number, number>()
  readonly #removed: Array<{ id: number, at: number }> = []
  readonly #offs: Array<() => void>
  readonly #now: () => number

  constructor (session: SessionApi, now: () => number) {
    this.#now = now
    const touch = (t: TorrentSummary): void => { this.#changed.set(t.id, this.#now()) }
    const events = session.events
    this.#offs = [
      events.on('added', touch),
      events.on('state', touch),
      events.on('metadata', touch),
      events.on('complete', touch),
      events.on('stats', (list) => { for (const t of list) touch(t) }),
      events.on('removed', ({ id }) => {
        this.#changed.delete(id)
        this.#removed.push({ id, at: this.#now() })
        if (this.#removed.length > RPC_MAX_REMOVED_REMEMBERED) this.#removed.splice(0, this.#removed.length - RPC_MAX_REMOVED_REMEMBERED)
      })
    ]
  }

  isRecent (t: TorrentSummary): boolean {
    const since = this.#now() - RECENTLY_ACTIVE_MS
    const changed = this.#changed.get(t.id) ?? 0
    return Math.max(changed, t.activityAt ?? 0, t.addedAt, t.doneAt ?? 0) >= since
  }

  removedIds (): number[] {
    const since = this.#now() - RECENTLY_ACTIVE_MS
    return this.#removed.filter((r) => r.at >= since).map((r) => r.id)
  }

  close (): void {
    for (const off of this.#offs) off()
  }
}

const RECENTLY_ACTIVE = new Set(['recently-active', 'recently_active'])
const HASH = /^[0-9a-fA-F]{40}$/

/**
 * The Transmission methods over one session. Independent of HTTP: `handle()` takes a parsed request body and returns
 * the reply body (undefined: JSON-RPC notifications only, nothing to answer).
 */
export class TransmissionRpc {
  readonly #session: SessionApi
  readonly #now: () => number
  readonly #sessionId: () => string
  readonly #recent: RecentActivity
  readonly #methods: ReadonlyMap<string, (call: Call) => Promise<Out> | Out>

  constructor (options: { session: SessionApi, sessionId: () => string, now: () => number }) {
    this.#session = options.session
    this.#now = options.now
    this.#sessionId = options.sessionId
    this.#recent = new RecentActivity(options.session, options.now)
    const resume = async (t: TorrentSummary): Promise<void> => { if (!isRunning(t.state)) await this.#session.resume(t.id) }
    this.#methods = new Map<string, (call: Call) => Promise<Out> | Out>([
      ['session-get', async (c) => await this.#sessionGet(c)],
      ['session-set', async (c) => await this.#sessionSet(c)],
      ['session-stats', () => this.#sessionStats()],
      ['torrent-get', (c) => this.#torrentGet(c)],
      ['torrent-add', async (c) => await this.#torrentAdd(c)],
      ['torrent-set', async (c) => await this.#torrentSet(c)],
      ['torrent-remove', async (c) => {
        const deleteData = c.args.boolean('delete-local-data') ?? false
        return await this.#each(this.#targets(c.args), (t) => this.#session.remove(t.id, { deleteData }))
      }],
      ['torrent-start', async (c) => await this.#each(this.#targets(c.args), resume)],
      // We have no way around the queue: start-now starts as start does, in its turn.
      ['torrent-start-now', async (c) => await this.#each(this.#targets(c.args), resume)],
      ['torrent-stop', async (c) => await this.#each(this.#targets(c.args), async (t) => {
        if (t.state !== 'paused' && t.state !== 'stopped') await this.#session.pause(t.id)
      })],
      ['torrent-verify', async (c) => await this.#each(this.#targets(c.args), (t) => this.#session.verify(t.id))],
      // A stopped torrent does not announce (Transmission's tr_torrentCanManualUpdate): skipped, not an error.
      ['torrent-reannounce', async (c) => await this.#each(this.#targets(c.args), async (t) => {
        if (isRunning(t.state)) await this.#session.reannounce(t.id)
      })],
      ['torrent-set-location', async (c) => await this.#torrentSetLocation(c)],
      ['queue-move-top', async (c) => await this.#queueMove(c, 'top')],
      ['queue-move-up', async (c) => await this.#queueMove(c, 'up')],
      ['queue-move-down', async (c) => await this.#queueMove(c, 'down')],
      ['queue-move-bottom', async (c) => await this.#queueMove(c, 'bottom')],
      ['free-space', async (c) => await this.#freeSpace(c)],
      ['port-test', () => { throw unsupported('port testing is not supported: the node does not ask outside services to connect to it') }],
      ['blocklist-update', () => { throw unsupported('blocklists are not supported') }],
      ['session-close', () => { throw unsupported('session-close is not supported: stop the node where it runs') }],
      ['torrent-rename-path', () => { throw unsupported('renaming files is not supported') }]
    ])
  }

  /** Stops following the session's events. */
  close (): void {
    this.#recent.close()
  }

  /** The reply to one request body: a parse failure is `raw`'s text (to tell a JSON-RPC client from an old one). */
  async handle (body: unknown, raw: string, log: (err: unknown) => void): Promise<unknown> {
    if (body === PARSE_FAILURE) {
      if (raw.includes('"jsonrpc"')) return jsonRpcError(null, JSON_RPC.PARSE_ERROR, 'the request body is not JSON')
      return { result: 'invalid request: the body is not JSON', arguments: {} }
    }
    if (Array.isArray(body)) {
      if (body.length === 0) return jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'an empty batch')
      if (body.length > RPC_MAX_BATCH) return jsonRpcError(null, JSON_RPC.INVALID_REQUEST, `a batch holds at most ${RPC_MAX_BATCH} requests`)
      const replies: unknown[] = []
      for (const request of body) {
        const reply = await this.#jsonRpc(request, log)
        if (reply !== undefined) replies.push(reply)
      }
      return replies.length === 0 ? undefined : replies
    }
    if (isObject(body) && Object.hasOwn(body, 'jsonrpc')) return await this.#jsonRpc(body, log)
    return await this.#legacy(body, log)
  }

  /** Spec 2.1/2.2: `{ method, arguments, tag }` → `{ result, arguments, tag }` (the tag only if it is an integer). */
  async #legacy (request: unknown, log: (err: unknown) => void): Promise<Out> {
    const reply = (result: string, args: unknown = {}): Out => {
      const out: Out = { arguments: args, result }
      if (isObject(request) && Number.isInteger(request.tag)) out.tag = request.tag
      return out
    }
    if (!isObject(request) || typeof request.method !== 'string') return reply('no method name')
    const method = request.method
    const run = this.#methods.get(method.replace(/_/g, '-'))
    if (run === undefined) return reply('method name not recognized')
    const raw = request.arguments ?? {}
    if (!isObject(raw)) return reply('invalid argument: arguments must be a JSON object')
    const snake = method.includes('_')
    try {
      const out = await run({ args: new Args(raw), jsonRpc: false, snake })
      return reply('success', snake ? snakeKeys(out) : out)
    } catch (err) {
      const failure = sessionFailure(err)
      if (failure.jsonRpcCode === JSON_RPC.INTERNAL_ERROR) log(err)
      return reply(failure.message)
    }
  }

  /** 4.1: JSON-RPC 2.0 (`params` by name only), snake_case names. Notifications (no `id`) get no reply. */
  async #jsonRpc (request: unknown, log: (err: unknown) => void): Promise<unknown> {
    if (!isObject(request) || request.jsonrpc !== '2.0') return jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'not a JSON-RPC 2.0 request')
    const hasId = Object.hasOwn(request, 'id')
    const id = request.id
    if (hasId && id !== null && typeof id !== 'string' && typeof id !== 'number') return jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'id must be a string, a number or null')
    const answer = (reply: Out): Out | undefined => (hasId ? reply : undefined)
    if (typeof request.method !== 'string') return answer(jsonRpcError(id, JSON_RPC.INVALID_REQUEST, 'no method name'))
    const run = this.#methods.get(request.method.replace(/_/g, '-'))
    if (run === undefined) return answer(jsonRpcError(id, JSON_RPC.METHOD_NOT_FOUND, `method ${JSON.stringify(request.method.slice(0, 64))} not recognized`))
    const raw = request.params ?? {}
    if (!isObject(raw)) return answer(jsonRpcError(id, JSON_RPC.INVALID_PARAMS, 'params must be a JSON object (by-position parameters are not supported)'))
    try {
      const out = await run({ args: new Args(raw), jsonRpc: true, snake: true })
      return answer({ jsonrpc: '2.0', result: snakeKeys(out), id })
    } catch (err) {
      const failure = sessionFailure(err)
      if (failure.jsonRpcCode === JSON_RPC.INTERNAL_ERROR) log(err)
      return answer(jsonRpcError(id, failure.jsonRpcCode, failure.message))
    }
  }

  /**
   * Spec 3.1's `ids`: absent, every torrent; an id; a hash; a list of ids and hashes; "recently-active". Ids and hashes
   * of no torrent are skipped (as Transmission does); a value of another type is an error, never "every torrent".
   * An empty list is no torrent.
   */
  #targets (args: Args): TorrentSummary[] {
    const all = this.#session.list()
    if (!args.has('ids')) return all
    const ids = args.raw('ids')
    const byId = new Map(all.map((t) => [t.id, t]))
    const byHash = new Map(all.map((t) => [t.infoHash.toLowerCase(), t]))
    const one = (ref: unknown): TorrentSummary | undefined | null => {
      if (typeof ref === 'number') return Number.isInteger(ref) ? byId.get(ref) : null
      if (typeof ref === 'string') return HASH.test(ref) ? byHash.get(ref.toLowerCase()) : undefined
      return null
    }
    const wrongType = (): RpcError => invalid(`invalid argument: ${args.named('ids')} must be a torrent id, an info hash, a list of them, or "recently-active"`)
    if (typeof ids === 'string' && RECENTLY_ACTIVE.has(ids)) return all.filter((t) => this.#recent.isRecent(t))
    if (!Array.isArray(ids)) {
      const t = one(ids)
      if (t === null) throw wrongType()
      return t === undefined ? [] : [t]
    }
    if (ids.length > RPC_MAX_IDS) throw invalid(`invalid argument: at most ${RPC_MAX_IDS} ids`)
    const picked = new Map<number, TorrentSummary>()
    for (const ref of ids) {
      const t = one(ref)
      if (t === null) throw wrongType()
      if (t !== undefined) picked.set(t.id, t)
    }
    return [...picked.values()]
  }

  /**
   * Runs `action` on each torrent, in order. A torrent removed meanwhile is skipped; other failures do not stop the
   * others, and the first one is the result.
   */
  async #each (targets: readonly TorrentSummary[], action: (t: TorrentSummary) => Promise<unknown>): Promise<Out> {
    const failures: RpcError[] = []
    for (const t of targets) {
      try {
        await action(t)
      } catch (err) {
        if (err instanceof P2PError && err.code === 'ERR_NOT_FOUND') continue
        failures.push(sessionFailure(err))
      }
    }
    const first = failures[0]
    if (first === undefined) return {}
    if (failures.length === 1) throw first
    throw new RpcError(`${first.message} (and ${failures.length - 1} more torrents failed)`, first.jsonRpcCode)
  }

  #torrentGet (call: Call): Out {
    const { args } = call
    const requested = args.raw('fields')
    if (requested === undefined) throw invalid('no fields specified')
    if (!Array.isArray(requested) || !requested.every((f) => typeof f === 'string')) throw invalid(`invalid argument: ${args.named('fields')} must be a list of field names`)
    if (requested.length > RPC_MAX_FIELDS) throw invalid(`invalid argument: at most ${RPC_MAX_FIELDS} fields`)
    const format = args.string('format') ?? 'objects'
    // Unknown names are ignored, as Transmission does; a name asked twice is answered once.
    const fields: Array<{ name: string, spec: FieldSpec }> = []
    for (const name of new Set(requested as string[])) {
      const spec = torrentField(name)
      if (spec !== undefined) fields.push({ name, spec })
    }
    const targets = this.#targets(args)
    const needsDetail = fields.some((f) => f.spec.detail)
    const settings = this.#session.settings
    const now = this.#now()
    const rows = targets.map((torrent) => {
      const detail: TorrentDetail | undefined = needsDetail ? this.#session.get(torrent.id) : undefined
      const context: FieldContext = { torrent: detail ?? torrent, detail, settings, now, jsonRpc: call.jsonRpc }
      return fields.map((f) => f.spec.get(context))
    })
    const out: Out = {}
    if (format === 'table') {
      out.torrents = [fields.map((f) => (call.snake ? snakeName(f.name) : f.name)), ...rows]
    } else {
      out.torrents = rows.map((values) => Object.fromEntries(fields.map((f, i) => [f.name, values[i]])))
    }
    const ids = args.raw('ids')
    if (typeof ids === 'string' && RECENTLY_ACTIVE.has(ids)) out.removed = this.#recent.removedIds()
    return out
  }

  async #torrentAdd (call: Call): Promise<Out> {
    const { args } = call
    const metainfo = args.string('metainfo')
    const filename = args.string('filename')
    if (metainfo === undefined && filename === undefined) throw invalid('no filename or metainfo specified')
    const downloadDir = absolutePath(args, 'download-dir', 'download directory path is not absolute')
    const paused = args.boolean('paused')
    refuseFileSelection(args)
    // Accepted and ignored: cookies (we fetch nothing), labels, peer-limit, bandwidthPriority, sequential_download.
    const source: AddSource = metainfo !== undefined ? { kind: 'torrent', data: decodeMetainfo(metainfo) } : await addSource(filename ?? '')
    const options: AddOptions = {}
    if (downloadDir !== undefined) options.downloadDir = downloadDir
    if (paused !== undefined) options.paused = paused
    try {
      const added = await this.#session.add(source, options)
      return { 'torrent-added': addedObject(added) }
    } catch (err) {
      // Spec 3.4: a duplicate is a success that names the torrent already there.
      const existing = duplicateOf(err)
      const torrent = existing === undefined ? undefined : this.#session.get(existing)
      if (torrent !== undefined) return { 'torrent-duplicate': addedObject(torrent) }
      if (err instanceof P2PError && err.code === 'ERR_DUPLICATE') throw new RpcError('duplicate torrent', JSON_RPC.SYSTEM_ERROR, { cause: err })
      if (err instanceof P2PError && err.code === 'ERR_INPUT') throw new RpcError(`invalid or corrupt torrent file: ${err.message}`, JSON_RPC.CORRUPT_TORRENT, { cause: err })
      throw sessionFailure(err)
    }
  }

  /**
   * Spec 3.2. Our torrents keep one number per limit, or none (the session's default for the seed limits): a value
   * sets it; `…Limited: false` / mode 0 clears it; mode 2 (unlimited) only where the session has no default either.
   * Every argument is checked before any torrent changes.
   */
  async #torrentSet (call: Call): Promise<Out> {
    const { args } = call
    const settings = this.#session.settings
    const up = speedChange(args, 'uploadLimit', 'uploadLimited')
    const down = speedChange(args, 'downloadLimit', 'downloadLimited')
    const ratio = seedLimitChange(args, 'seedRatioLimit', 'seedRatioMode', false)
    const idle = seedLimitChange(args, 'seedIdleLimit', 'seedIdleMode', true)
    const honors = args.boolean('honorsSessionLimits')
    if (honors === false) throw unsupported(`${args.named('honorsSessionLimits')} false is not supported: every torrent is held to the session's limits`)
    refuseFileSelection(args)
    const location = absolutePath(args, 'location', 'new location path is not absolute')
    const queuePosition = args.number('queuePosition', { integer: true })
    // Accepted and ignored (docs/transmission-rpc.md): bandwidthPriority, labels, peer-limit, tracker edits, group.
    args.number('bandwidthPriority', { min: -1, integer: true })
    args.number('peer-limit', { integer: true })
    const plans = this.#targets(args).map((t) => {
      const limits: Partial<TorrentLimits> = {}
      const upload = up(t.limits.uploadLimit)
      const download = down(t.limits.downloadLimit)
      const seedRatio = ratio(t.limits.seedRatioLimit, settings.seedRatioLimit)
      const seedIdle = idle(t.limits.seedIdleLimitMinutes, settings.seedIdleLimitMinutes)
      if (upload !== undefined) limits.uploadLimit = upload
      if (download !== undefined) limits.downloadLimit = download
      if (seedRatio !== undefined) limits.seedRatioLimit = seedRatio
      if (seedIdle !== undefined) limits.seedIdleLimitMinutes = seedIdle
      return { t, limits }
    })
    const limitsOf = new Map(plans.map((p) => [p.t.id, p.limits]))
    return await this.#each(plans.map((p) => p.t), async (t) => {
      const limits = limitsOf.get(t.id) ?? {}
      if (Object.keys(limits).length > 0) await this.#session.set(t.id, { limits })
      if (location !== undefined) await this.#session.setLocation(t.id, location, { move: false })
      if (queuePosition !== undefined) await this.#moveTo(t.id, queuePosition)
    })
  }

  /** torrent-set's queuePosition: to the top, to the bottom, or step by step (bounded by the number of torrents). */
  async #moveTo (ref: TorrentRef, position: number): Promise<void> {
    const count = this.#session.list().length
    if (position <= 0) return await this.#session.queueMove(ref, 'top')
    if (position >= count - 1) return await this.#session.queueMove(ref, 'bottom')
    for (let step = 0; step < count; step++) {
      const current = this.#session.get(ref)?.queuePosition
      if (current === undefined || current === position) return
      await this.#session.queueMove(ref, current > position ? 'up' : 'down')
    }
  }

  async #torrentSetLocation (call: Call): Promise<Out> {
    const { args } = call
    if (!args.has('location')) throw invalid('no location')
    const location = absolutePath(args, 'location', 'new location path is not absolute') ?? ''
    const move = args.boolean('move') ?? false
    return await this.#each(this.#targets(args), (t) => this.#session.setLocation(t.id, location, { move }))
  }

  /**
   * Spec 4.6. Several torrents keep their order among themselves: to the top the last first, up the first first (as
   * Transmission's tr_torrentsQueueMove*).
   */
  async #queueMove (call: Call, to: 'top' | 'up' | 'down' | 'bottom'): Promise<Out> {
    const lastFirst = to === 'top' || to === 'down'
    const ordered = this.#targets(call.args).sort((a, b) => (lastFirst ? b.queuePosition - a.queuePosition : a.queuePosition - b.queuePosition))
    return await this.#each(ordered, (t) => this.#session.queueMove(t.id, to))
  }

  async #freeSpace (call: Call): Promise<Out> {
    const { args } = call
    if (!args.has('path')) throw invalid('directory path argument is missing')
    const path = absolutePath(args, 'path', 'directory path is not absolute') ?? ''
    try {
      const space = await this.#session.freeSpace(path)
      return { path, 'size-bytes': int(space.free), total_size: int(space.total) }
    } catch (err) {
      throw sessionFailure(err)
    }
  }

  #sessionStats (): Out {
    const s = this.#session.stats()
    return {
      activeTorrentCount: int(s.activeTorrentCount),
      pausedTorrentCount: int(s.pausedTorrentCount),
      torrentCount: int(s.torrentCount),
      downloadSpeed: int(s.downloadRate),
      uploadSpeed: int(s.uploadRate),
      'cumulative-stats': {
        uploadedBytes: int(s.cumulative.uploaded),
        downloadedBytes: int(s.cumulative.downloaded),
        filesAdded: 0,
        sessionCount: int(s.cumulative.sessions),
        secondsActive: int(s.cumulative.seconds)
      },
      'current-stats': {
        uploadedBytes: int(s.current.uploaded),
        downloadedBytes: int(s.current.downloaded),
        filesAdded: 0,
        sessionCount: 1,
        secondsActive: int(s.current.seconds)
      }
    }
  }

  async #sessionGet (call: Call): Promise<Out> {
    const { args } = call
    const requested = args.raw('fields')
    if (requested !== undefined && (!Array.isArray(requested) || !requested.every((f) => typeof f === 'string') || requested.length > RPC_MAX_FIELDS)) {
      throw invalid(`invalid argument: ${args.named('fields')} must be a list of at most ${RPC_MAX_FIELDS} field names`)
    }
    const context: SessionContext = { settings: this.#session.settings, version: this.#session.version, sessionId: this.#sessionId(), session: this.#session }
    const out: Out = {}
    const names = requested === undefined ? SESSION_FIELDS.map((f) => f.name) : [...new Set(requested as string[])]
    for (const name of names) {
      const field = SESSION_FIELD_BY_KEY.get(nameKey(name))
      if (field !== undefined) out[name] = await field.get(context)
    }
    return out
  }

  /** Spec 4.1.1. Keys we have no setting for are ignored (docs/transmission-rpc.md lists them). */
  async #sessionSet (call: Call): Promise<Out> {
    const { args } = call
    const settings = this.#session.settings
    const changes: SettingsChanges = {}
    const downloadDir = absolutePath(args, 'download-dir', 'download directory path is not absolute')
    if (downloadDir !== undefined) changes.downloadDir = downloadDir
    const up = speedChange(args, 'speed-limit-up', 'speed-limit-up-enabled')(settings.uploadLimit)
    const down = speedChange(args, 'speed-limit-down', 'speed-limit-down-enabled')(settings.downloadLimit)
    const ratio = switchedLimit(args, 'seedRatioLimit', 'seedRatioLimited', false)(settings.seedRatioLimit, DEFAULT_SEED_RATIO)
    const idle = switchedLimit(args, 'idle-seeding-limit', 'idle-seeding-limit-enabled', true)(settings.seedIdleLimitMinutes, DEFAULT_IDLE_MINUTES)
    const downloads = args.number('download-queue-size', { integer: true, min: 1 })
    const seeds = args.number('seed-queue-size', { integer: true, min: 1 })
    if (up !== undefined) changes.uploadLimit = up
    if (down !== undefined) changes.downloadLimit = down
    if (ratio !== undefined) changes.seedRatioLimit = ratio
    if (idle !== undefined) changes.seedIdleLimitMinutes = idle
    if (downloads !== undefined) changes.maxActiveDownloads = downloads
    if (seeds !== undefined) changes.maxActiveSeeds = seeds
    if (Object.keys(changes).length === 0) return {}
    try {
      await this.#session.updateSettings(changes)
    } catch (err) {
      throw sessionFailure(err)
    }
    return {}
  }
}

const PARSE_FAILURE = Symbol('parse failure')

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function jsonRpcError (id: unknown, code: number, detail: string): Out {
  return { jsonrpc: '2.0', error: { code, message: JSON_RPC_MESSAGES[code] ?? 'error', data: { error_string: detail } }, id: id ?? null }
}

interface SessionContext {
  settings: SessionSettings
  version: string
  sessionId: string
  session: SessionApi
}

interface SessionField {
  name: string
  get: (c: SessionContext) => unknown
}

/**
 * session-get (spec 4.1), by 3.00's names (4.0's for the keys 3.00 lacks). Features the node does not have answer
 * "off"; Transmission's defaults stand where a disabled limit would keep a number.
 */
const SESSION_FIELDS: readonly SessionField[] = [
  { name: 'alt-speed-down', get: () => 50 },
  { name: 'alt-speed-enabled', get: () => false },
  { name: 'alt-speed-time-begin', get: () => 540 },
  { name: 'alt-speed-time-day', get: () => 127 },
  { name: 'alt-speed-time-enabled', get: () => false },
  { name: 'alt-speed-time-end', get: () => 1020 },
  { name: 'alt-speed-up', get: () => 50 },
  { name: 'blocklist-enabled', get: () => false },
  { name: 'blocklist-size', get: () => 0 },
  { name: 'blocklist-url', get: () => '' },
  { name: 'cache-size-mb', get: () => 0 },
  { name: 'config-dir', get: () => '' },
  { name: 'default-trackers', get: () => '' },
  { name: 'dht-enabled', get: () => false },
  { name: 'download-dir', get: (c) => c.settings.downloadDir },
  {
    name: 'download-dir-free-space',
    get: async (c) => {
      try {
        return int((await c.session.freeSpace(c.settings.downloadDir)).free)
      } catch {
        return -1
      }
    }
  },
  { name: 'download-queue-enabled', get: () => true },
  { name: 'download-queue-size', get: (c) => int(c.settings.maxActiveDownloads) },
  { name: 'encryption', get: () => 'tolerated' },
  { name: 'idle-seeding-limit', get: (c) => int(c.settings.seedIdleLimitMinutes ?? DEFAULT_IDLE_MINUTES) },
  { name: 'idle-seeding-limit-enabled', get: (c) => c.settings.seedIdleLimitMinutes !== null },
  { name: 'incomplete-dir', get: () => '' },
  { name: 'incomplete-dir-enabled', get: () => false },
  { name: 'lpd-enabled', get: () => false },
  { name: 'peer-limit-global', get: () => 200 },
  { name: 'peer-limit-per-torrent', get: () => 50 },
  { name: 'peer-port', get: (c) => c.settings.port },
  { name: 'peer-port-random-on-start', get: () => false },
  { name: 'pex-enabled', get: () => false },
  { name: 'port-forwarding-enabled', get: () => false },
  { name: 'queue-stalled-enabled', get: () => false },
  { name: 'queue-stalled-minutes', get: () => 30 },
  { name: 'rename-partial-files', get: () => false },
  { name: 'rpc-version', get: () => RPC_VERSION },
  { name: 'rpc-version-minimum', get: () => RPC_VERSION_MINIMUM },
  { name: 'rpc-version-semver', get: () => RPC_VERSION_SEMVER },
  { name: 'script-torrent-added-enabled', get: () => false },
  { name: 'script-torrent-added-filename', get: () => '' },
  { name: 'script-torrent-done-enabled', get: () => false },
  { name: 'script-torrent-done-filename', get: () => '' },
  { name: 'script-torrent-done-seeding-enabled', get: () => false },
  { name: 'script-torrent-done-seeding-filename', get: () => '' },
  { name: 'seed-queue-enabled', get: () => true },
  { name: 'seed-queue-size', get: (c) => int(c.settings.maxActiveSeeds) },
  { name: 'seedRatioLimit', get: (c) => c.settings.seedRatioLimit ?? DEFAULT_SEED_RATIO },
  { name: 'seedRatioLimited', get: (c) => c.settings.seedRatioLimit !== null },
  { name: 'session-id', get: (c) => c.sessionId },
  { name: 'speed-limit-down', get: (c) => toKBps(c.settings.downloadLimit) },
  { name: 'speed-limit-down-enabled', get: (c) => c.settings.downloadLimit !== null },
  { name: 'speed-limit-up', get: (c) => toKBps(c.settings.uploadLimit) },
  { name: 'speed-limit-up-enabled', get: (c) => c.settings.uploadLimit !== null },
  { name: 'start-added-torrents', get: () => true },
  { name: 'tcp-enabled', get: () => true },
  { name: 'trash-original-torrent-files', get: () => false },
  {
    name: 'units',
    get: () => ({
      'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
      'speed-bytes': SPEED_K,
      'size-units': ['kB', 'MB', 'GB', 'TB'],
      'size-bytes': 1000,
      'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
      'memory-bytes': 1024
    })
  },
  { name: 'utp-enabled', get: () => false },
  { name: 'version', get: (c) => `${TRANSMISSION_VERSION} (p2pshare ${c.version})` }
]

const SESSION_FIELD_BY_KEY = new Map(SESSION_FIELDS.map((f) => [nameKey(f.name), f]))

/** The body as JSON: strict UTF-8 (RFC 8259 §8.1), an optional byte order mark ignored. */
function parseBody (body: Buffer | undefined): { value: unknown, raw: string } {
  if (body === undefined || body.length === 0) return { value: undefined, raw: '' }
  if (!isUtf8(body)) return { value: PARSE_FAILURE, raw: '' }
  let text = body.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  try {
    return { value: JSON.parse(text) as unknown, raw: text }
  } catch {
    return { value: PARSE_FAILURE, raw: text.slice(0, 4096) }
  }
}

function sendJson (reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body))
}

/**
 * The plugin: POST (and GET, for the handshake) at TRANSMISSION_RPC_PATH and TRANSMISSION_RPC_PATH + '/', in a scope
 * of their own (any content type is read as bytes, up to RPC_BODY_LIMIT_BYTES). Answers: 409 without the session id;
 * 405 for a GET with it; 413 past the body limit; 200 with a Transmission reply otherwise (204 for JSON-RPC
 * notifications).
 */
export function transmissionRpc (options: TransmissionRpcOptions): (app: FastifyInstance) => Promise<void> {
  const generated = options.sessionId === undefined ? randomSessionId() : ''
  const sessionId = options.sessionId ?? ((): string => generated)
  return async (app: FastifyInstance): Promise<void> => {
    await app.register(async (scope) => {
      const rpc = new TransmissionRpc({ session: options.session, sessionId, now: options.now ?? Date.now })
      scope.addHook('onClose', async () => { rpc.close() })

      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: RPC_BODY_LIMIT_BYTES }, (_req, body, done) => { done(null, body) })

      // Only our own errors are shaped here; the app's (auth, Host) go on to its handler.
      scope.setErrorHandler((err: FastifyError, _req, reply) => {
        if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return sendJson(reply, 413, { error: `Request body too large (limit ${RPC_BODY_LIMIT_BYTES} bytes)`, code: 'ERR_BODY_TOO_LARGE' })
        }
        throw err
      })

      const handshake = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
        const current = sessionId()
        // On the raw response, to keep Transmission's spelling on the wire: a few clients match the name case-sensitively.
        reply.raw.setHeader(SESSION_ID_HEADER, current)
        const given = req.headers['x-transmission-session-id']
        if (typeof given === 'string' && sameSecret(given, current)) return undefined
        sendJson(reply, 409, {
          error: `Missing or stale ${SESSION_ID_HEADER}: send the request again with the ${SESSION_ID_HEADER} header of this reply`,
          code: 'ERR_SESSION_ID'
        })
        return reply
      }

      scope.route({
        method: ['GET', 'POST'],
        url: '/',
        bodyLimit: RPC_BODY_LIMIT_BYTES,
        onRequest: handshake,
        handler: async (req, reply) => {
          if (req.method !== 'POST') {
            reply.header('Allow', 'POST')
            return sendJson(reply, 405, { error: 'Transmission RPC requests are POSTed as JSON', code: 'ERR_METHOD_NOT_ALLOWED' })
          }
          const { value, raw } = parseBody(Buffer.isBuffer(req.body) ? req.body : undefined)
          const answer = await rpc.handle(value, raw, (err) => { req.log.error({ err }, 'transmission rpc: unexpected error') })
          if (answer === undefined) return reply.code(204).send()
          return sendJson(reply, 200, answer)
        }
      })
    }, { prefix: TRANSMISSION_RPC_PATH })
  }
}
