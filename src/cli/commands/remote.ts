/**
 * `p2pshare add|list|show|pause|resume|remove|verify`: drive a running node through its REST API (docs/api.md), in
 * the manner of transmission-remote. `--json` prints the API's own objects; otherwise one readable table or block.
 */
import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { P2PError, ValidationError } from '../../errors.js'
import { isHex40, isMagnet } from '../../content/index.js'
import type { TorrentDetail, TorrentSummary } from '../../session/index.js'
import type { CommandContext } from '../io.js'
import type { RemoteOptions } from '../options.js'
import { formatBytes, formatDuration, formatRate } from '../format.js'
import { terminalSafe, terminalSafeJson } from '../terminal-safe.js'

/** One API call may take this long (an add of a large path to share hashes it first: that one waits longer). */
const REQUEST_TIMEOUT_MS = 30_000
const ADD_PATH_TIMEOUT_MS = 30 * 60_000
/** A .torrent larger than this is refused before it is read (the API's body limit is about this, in base64). */
const MAX_TORRENT_FILE_BYTES = 6 * 1024 * 1024

interface AddFlags extends RemoteOptions {
  paused?: boolean
  downloadDir?: string
  share?: boolean
  catalogue?: boolean
  deleteData?: boolean
}

export async function remoteCommand (action: string, args: string[], options: AddFlags, ctx: CommandContext): Promise<number> {
  const api = new NodeClient(options.node, options.auth ?? ctx.io.env.P2PSHARE_NODE_AUTH, ctx.signal)
  switch (action) {
    case 'add': {
      for (const what of args) {
        const body = await addBody(what, options)
        const { torrent } = await api.call<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', body, 'path' in body ? ADD_PATH_TIMEOUT_MS : REQUEST_TIMEOUT_MS)
        if (options.json) ctx.out(terminalSafeJson(torrent))
        else ctx.out(terminalSafe(`Added #${torrent.id} ${torrent.name} (${torrent.infoHash}), ${torrent.state}`))
      }
      return 0
    }
    case 'list': {
      const { torrents } = await api.call<{ torrents: TorrentSummary[] }>('GET', '/api/v1/torrents')
      if (options.json) { ctx.out(terminalSafeJson(torrents)); return 0 }
      for (const line of table(torrents)) ctx.out(terminalSafe(line))
      return 0
    }
    case 'show': {
      const { torrent } = await api.call<{ torrent: TorrentDetail }>('GET', `/api/v1/torrents/${ref(args[0] ?? '')}`)
      if (options.json) { ctx.out(terminalSafeJson(torrent)); return 0 }
      for (const line of details(torrent)) ctx.out(terminalSafe(line))
      return 0
    }
    case 'pause':
    case 'resume':
    case 'verify':
    case 'remove': {
      const targets = await refsOf(api, args)
      for (const id of targets) {
        if (action === 'remove') {
          await api.call('DELETE', `/api/v1/torrents/${id}?deleteData=${options.deleteData === true}`)
          if (!options.json) ctx.out(`Removed #${id}${options.deleteData === true ? ' and its data' : ''}`)
          else ctx.out(JSON.stringify({ removed: id }))
          continue
        }
        const { torrent } = await api.call<{ torrent: TorrentSummary }>('POST', `/api/v1/torrents/${id}/${action}`, {})
        if (options.json) ctx.out(terminalSafeJson(torrent))
        else ctx.out(terminalSafe(`#${torrent.id} ${torrent.name}: ${torrent.state}`))
      }
      return 0
    }
    default:
      throw new ValidationError(`Unknown remote command ${action}`)
  }
}

/** What an argument of `add` is: a magnet or info hash, a .torrent file, a path to share, or a catalogue query. */
async function addBody (what: string, options: AddFlags): Promise<Record<string, unknown>> {
  const extra = { ...(options.paused === true ? { paused: true } : {}), ...(options.downloadDir === undefined ? {} : { downloadDir: resolve(options.downloadDir) }) }
  if (options.catalogue === true) return { catalogue: what, ...extra }
  if (isMagnet(what) || (isHex40(what) && options.share !== true)) return { magnet: what, ...extra }
  const path = resolve(what)
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) {
    if (options.share === true || what.endsWith('.torrent') || what.includes('/')) throw new P2PError('ERR_INPUT', `Cannot read ${what}: no such file`)
    // Neither a file nor a link: a name to find in the tracker's catalogue.
    return { catalogue: what, ...extra }
  }
  if (options.share !== true && info.isFile() && what.endsWith('.torrent')) {
    if (info.size > MAX_TORRENT_FILE_BYTES) throw new P2PError('ERR_INPUT', `${what} is ${info.size} bytes, larger than any torrent the node accepts`)
    return { torrent: (await readFile(path)).toString('base64'), ...extra }
  }
  return { path, ...extra }
}

function ref (text: string): string {
  if (/^\d+$/.test(text) || isHex40(text)) return text.toLowerCase()
  throw new ValidationError(`"${text}" is not a torrent id or info hash`)
}

async function refsOf (api: NodeClient, args: string[]): Promise<string[]> {
  if (args.length === 1 && args[0] === 'all') {
    const { torrents } = await api.call<{ torrents: TorrentSummary[] }>('GET', '/api/v1/torrents')
    return torrents.map(t => String(t.id))
  }
  return args.map(ref)
}

function table (torrents: TorrentSummary[]): string[] {
  const rows = torrents.map(t => [
    String(t.id), `${(t.progress * 100).toFixed(0)}%`, formatBytes(t.verifiedBytes), t.eta === null ? '-' : formatDuration(t.eta),
    formatRate(t.downloadRate), formatRate(t.uploadRate), t.ratio.toFixed(2), t.state, t.name
  ])
  const head = ['ID', 'Done', 'Have', 'ETA', 'Down', 'Up', 'Ratio', 'State', 'Name']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ')
  const total = torrents.reduce((a, t) => ({ down: a.down + t.downloadRate, up: a.up + t.uploadRate }), { down: 0, up: 0 })
  return [line(head), ...rows.map(line), `Sum: ${torrents.length} torrents, down ${formatRate(total.down)}, up ${formatRate(total.up)}`]
}

function details (t: TorrentDetail): string[] {
  const out = [
    `#${t.id} ${t.name}`,
    `  Hash: ${t.infoHash}`,
    `  State: ${t.state}${t.error === null ? '' : ` (${t.error})`}`,
    `  Location: ${t.downloadDir}`,
    `  Size: ${formatBytes(t.totalSize)} in ${t.pieceCount} pieces of ${formatBytes(t.pieceLength)}; have ${formatBytes(t.verifiedBytes)} (${(t.progress * 100).toFixed(1)}%)`,
    `  Rates: down ${formatRate(t.downloadRate)}, up ${formatRate(t.uploadRate)}; ever: down ${formatBytes(t.downloadedEver)}, up ${formatBytes(t.uploadedEver)}, ratio ${t.ratio.toFixed(2)}`,
    `  Peers: ${t.peers} connected, ${t.seeds} seeds`,
    `  Magnet: ${t.magnet}`,
    '  Files:'
  ]
  for (const f of t.files) out.push(`    ${f.index}: ${f.path} (${formatBytes(f.length)}, ${f.length === 0 ? 100 : Math.floor(f.completed * 100 / f.length)}%)`)
  out.push('  Trackers:')
  for (const tr of t.trackers) out.push(`    ${tr.url}: ${tr.state}${tr.message === null ? '' : ` (${tr.message})`}${tr.peers === null ? '' : `, ${tr.peers} peers`}`)
  if (t.peerList.length > 0) out.push('  Connected peers:')
  for (const p of t.peerList) out.push(`    ${p.address} ${p.client ?? '?'} (${p.source}, ${p.direction}) ${(p.progress * 100).toFixed(0)}% down ${formatRate(p.downloadRate)} up ${formatRate(p.uploadRate)}`)
  return out
}

/** The node's REST API over fetch: JSON both ways, errors as one line with the API's own message. */
class NodeClient {
  readonly #base: string
  readonly #auth: string | undefined
  readonly #signal: AbortSignal

  constructor (base: string, auth: string | undefined, signal: AbortSignal) {
    let url: URL
    try { url = new URL(base) } catch { throw new ValidationError(`--node ${base} is not a URL (like http://127.0.0.1:9091)`) }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValidationError(`--node ${base}: http or https only`)
    this.#base = url.href.replace(/\/+$/, '')
    this.#auth = auth === undefined || auth === '' ? undefined : `Basic ${Buffer.from(auth).toString('base64')}`
    this.#signal = signal
  }

  async call<T = unknown> (method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    let res: Response
    try {
      res = await fetch(this.#base + path, {
        method,
        // A JSON content type on every call that changes something: the node refuses others (its CSRF rule).
        headers: { accept: 'application/json', ...(method === 'GET' ? {} : { 'content-type': 'application/json' }), ...(this.#auth === undefined ? {} : { authorization: this.#auth }) },
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: JSON.stringify(body ?? {}) }),
        signal: AbortSignal.any([this.#signal, AbortSignal.timeout(timeoutMs)])
      })
    } catch (err) {
      if (this.#signal.aborted) throw err
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message
      throw new P2PError('ERR_NODE_UNREACHABLE', `Cannot reach the node at ${this.#base} (${cause}): is "p2pshare node" running? (--node URL)`)
    }
    const text = await res.text()
    let json: unknown
    try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
    if (res.ok) return json as T
    const message = typeof json === 'object' && json !== null && 'error' in json ? String((json as { error: unknown }).error) : `HTTP ${res.status}`
    const code = typeof json === 'object' && json !== null && 'code' in json ? String((json as { code: unknown }).code) : ''
    if (res.status === 401) throw new P2PError('ERR_AUTH', `The node refused the credentials (${message}): pass --auth USER:PASS or set P2PSHARE_NODE_AUTH`)
    throw new P2PError(code !== '' ? code : res.status === 404 ? 'ERR_NOT_FOUND' : 'ERR_NODE', message)
  }
}
