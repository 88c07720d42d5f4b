/**
 * The seed's JSON API (ORIGINAL-PYTHON.md): `POST /register`, `GET /lookup`, `GET /files` and the
 * undocumented `GET /get_file/<name>`, with the seed's field names, messages and status codes, plus our
 * extensions: `chunk_size`, `info_hash` and `metainfo` at register, `/lookup?file_hash=` and `?info_hash=`,
 * `/files` search, sorting and paging (`q`, `sort`, `order`, `limit`, `offset`, and `total` in the reply), and for a
 * file with an info hash the BitTorrent keys (`info_hash`, `magnet`, `seeders`, `leechers`, `completed`, `bt_peers`,
 * `torrent_url`) joined from the announce swarms and the stored metainfo.
 */
import { isHex40 } from '../content/index.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendTooManyRequests, type ReplyCosts } from './abuse.js'
import type { CompletedCounts } from './catalogue-completed.js'
import { CatalogueJoin, linkQueryOf, torrentUrlOf, trackerBaseOf } from './catalogue-join.js'
import { parseCatalogueQuery } from './catalogue-query.js'
import { searchCatalogue } from './catalogue-search.js'
import { HttpError } from './http-errors.js'
import { PROBE_CONNECT_TIMEOUT_MS, TRACKER_MAX_PEERS_PER_FILE } from './limits.js'
import { tcpProbe, type ProbeFn } from './probe.js'
import { parseRegistration, parseUnregister } from './registration.js'
import {
  CHUNK_FORMATS,
  filesEntry,
  lookupReply,
  planLookup,
  registerReply,
  type ChunkFormat,
  type FilesReply,
  type LookupReply,
  type RegisterReply
} from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'
import type { Swarms } from './swarms.js'

export interface SeedRoutesContext {
  store: TrackerStore
  swarms: Swarms
  now: () => number
  /** Completed downloads not yet written to the store, added to the stored counts in replies. */
  completed?: CompletedCounts | undefined
  /** Rate limits by reply size (abuse.ts): a lookup pays for its chunk lists before they are read. None: no limits. */
  replyCosts?: ReplyCosts | undefined
  /** The liveness check `/unregister` runs on the peer it is asked to forget. */
  probe?: ProbeFn | undefined
}

type Query = Record<string, string | string[] | undefined>

/** A query parameter's first value (Flask's `request.args.get` takes the first of repeated ones). */
function param (query: unknown, name: string): string | undefined {
  const value = (query as Query | undefined)?.[name]
  return Array.isArray(value) ? value[0] : value
}

/** The `chunk_format` parameter of a lookup: `list` (the default: the seed's `chunks`) or `ranges` (`chunk_ranges`). */
function chunkFormatOf (query: unknown): ChunkFormat {
  const value = param(query, 'chunk_format')
  if (value === undefined || value === '') return 'list'
  if (!(CHUNK_FORMATS as readonly string[]).includes(value)) {
    throw new HttpError(400, `Invalid parameter: chunk_format: must be ${CHUNK_FORMATS.join(' or ')}`)
  }
  return value as ChunkFormat
}

export function registerSeedRoutes (app: FastifyInstance, { store, swarms, now, completed, replyCosts, probe }: SeedRoutesContext): void {
  const catalogue = new CatalogueJoin(store, swarms, now, completed)
  const seedersOf = (infoHash: string): number => catalogue.seeders(infoHash)

  /**
   * The reply of a lookup. Its peers are chosen from their listings (no chunk list read), the client pays for their
   * chunk lists (a 429 if it cannot), and only then are those lists read: a lookup costs what its reply is worth,
   * which is bounded (planLookup), and never more than the client's budget allows.
   */
  const lookup = (request: FastifyRequest, reply: FastifyReply, file: FileEntry | undefined): LookupReply | FastifyReply => {
    const format = chunkFormatOf(request.query)
    if (file === undefined) throw new HttpError(404, 'File not found')
    return store.snapshot(() => {
      const plan = planLookup(store.listingsOf(file.fileHash, TRACKER_MAX_PEERS_PER_FILE), file.fileSize, format)
      const wait = replyCosts?.prepay(request, plan.chunkBytes) ?? 0
      if (wait > 0) return sendTooManyRequests(reply, wait)
      const join = catalogue.join(file, trackerBaseOf(request), linkQueryOf(request))
      const chunksOf = (id: number): string | undefined => store.chunksOf(id)
      return join === undefined
        ? lookupReply(file, plan, chunksOf, format)
        : lookupReply(file, plan, chunksOf, format, { ...join, btPeers: catalogue.btPeers(file) })
    })
  }
  const lookupByName = (request: FastifyRequest, reply: FastifyReply, name: string | undefined): LookupReply | FastifyReply => {
    if (name === undefined || name === '') throw new HttpError(400, 'Missing file_name parameter')
    return lookup(request, reply, store.fileByName(name))
  }

  app.post('/register', async (request): Promise<RegisterReply> => {
    const registration = parseRegistration(request.body)
    const result = store.register(registration, now())
    const file = { fileHash: registration.fileHash, ...(result.infoHash === undefined ? {} : { infoHash: result.infoHash }) }
    // torrent_url tells an uploader where the catalogue's metainfo for the file is (its own, or an earlier upload's).
    const torrentUrl = registration.metainfo !== undefined && result.hasMetainfo && result.infoHash !== undefined
      ? torrentUrlOf(trackerBaseOf(request), result.infoHash, linkQueryOf(request))
      : undefined
    return registerReply(registration.fileHash, result, catalogue.peersCount(file, result.peersCount), registration.infoHash !== undefined, torrentUrl)
  })

  /**
   * Ours: a sharer that stops asks to be forgotten at once rather than after three failed probes. Anyone can send it,
   * so it is only a request to probe now: a registered peer is removed when it no longer accepts connections (the
   * sharer closes its listener first), never while it is alive, and the tracker only ever connects to registered
   * endpoints. The seed's peers never send it.
   */
  app.post('/unregister', async (request): Promise<{ message: string, removed: number }> => {
    const { ip, port } = parseUnregister(request.body)
    if (!store.isRegistered(ip, port)) return { message: 'Peer not registered', removed: 0 }
    const startedAt = now()
    const alive = await (probe ?? tcpProbe)(ip, port, AbortSignal.timeout(PROBE_CONNECT_TIMEOUT_MS))
    if (alive) return { message: 'Peer still accepts connections: kept', removed: 0 }
    return { message: 'Peer unregistered', removed: store.recordProbe({ ip, port }, false, startedAt, now(), 1) }
  })

  app.get('/lookup', async (request, reply): Promise<LookupReply | FastifyReply> => {
    // Extensions: by file hash, then by info hash; either wins over file_name. Empty counts as absent, as for file_name.
    const fileHash = param(request.query, 'file_hash')
    if (fileHash !== undefined && fileHash !== '') {
      if (!isHex40(fileHash)) throw new HttpError(400, 'Invalid parameter: file_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(request, reply, store.fileByHash(fileHash.toLowerCase()))
    }
    const infoHash = param(request.query, 'info_hash')
    if (infoHash !== undefined && infoHash !== '') {
      if (!isHex40(infoHash)) throw new HttpError(400, 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(request, reply, store.fileByInfoHash(infoHash.toLowerCase()))
    }
    return lookupByName(request, reply, param(request.query, 'file_name'))
  })

  app.get('/get_file/:name', async (request, reply): Promise<LookupReply | FastifyReply> => {
    return lookupByName(request, reply, (request.params as { name?: string }).name)
  })

  app.get('/files', async (request): Promise<FilesReply> => {
    const query = parseCatalogueQuery(request.raw.url ?? request.url)
    const base = trackerBaseOf(request)
    const links = linkQueryOf(request)
    const page = searchCatalogue(store, seedersOf, query)
    return {
      files: page.files.map((file) => filesEntry(file, catalogue.peersCount(file, file.peersCount), catalogue.join(file, base, links))),
      total: page.total
    }
  })
}
