/**
 * The seed's JSON API (ORIGINAL-PYTHON.md): `POST /register`, `GET /lookup`, `GET /files` and the
 * undocumented `GET /get_file/<name>`, with the seed's field names, messages and status codes, plus our
 * extensions: `chunk_size`, `info_hash` and `metainfo` at register, `/lookup?file_hash=` and `?info_hash=`,
 * `/files` search, sorting and paging (`q`, `sort`, `order`, `limit`, `offset`, and `total` in the reply), and for a
 * file with an info hash the BitTorrent keys (`info_hash`, `magnet`, `seeders`, `leechers`, `completed`, `bt_peers`,
 * `torrent_url`) joined from the announce swarms and the stored metainfo.
 */
import { isHex40 } from '../content/index.js'
import type { FastifyInstance } from 'fastify'
import type { CompletedCounts } from './catalogue-completed.js'
import { CatalogueJoin, linkQueryOf, torrentUrlOf, trackerBaseOf } from './catalogue-join.js'
import { parseCatalogueQuery } from './catalogue-query.js'
import { searchCatalogue } from './catalogue-search.js'
import { HttpError } from './http-errors.js'
import { parseRegistration } from './registration.js'
import { filesEntry, lookupReply, registerReply, type FilesReply, type LookupReply, type RegisterReply } from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'
import type { Swarms } from './swarms.js'

export interface SeedRoutesContext {
  store: TrackerStore
  swarms: Swarms
  now: () => number
  /** Completed downloads not yet written to the store, added to the stored counts in replies. */
  completed?: CompletedCounts | undefined
}

type Query = Record<string, string | string[] | undefined>

/** A query parameter's first value (Flask's `request.args.get` takes the first of repeated ones). */
function param (query: unknown, name: string): string | undefined {
  const value = (query as Query | undefined)?.[name]
  return Array.isArray(value) ? value[0] : value
}

export function registerSeedRoutes (app: FastifyInstance, { store, swarms, now, completed }: SeedRoutesContext): void {
  const catalogue = new CatalogueJoin(store, swarms, now, completed)
  const seedersOf = (infoHash: string): number => catalogue.seeders(infoHash)

  const lookup = (file: FileEntry | undefined, base: string, query: string): LookupReply => {
    if (file === undefined) throw new HttpError(404, 'File not found')
    const join = catalogue.join(file, base, query)
    const peers = store.peersOf(file.fileHash)
    return join === undefined
      ? lookupReply(file, peers)
      : lookupReply(file, peers, undefined, { ...join, btPeers: catalogue.btPeers(file) })
  }
  const lookupByName = (name: string | undefined, base: string, query: string): LookupReply => {
    if (name === undefined || name === '') throw new HttpError(400, 'Missing file_name parameter')
    return lookup(store.fileByName(name), base, query)
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

  app.get('/lookup', async (request): Promise<LookupReply> => {
    const base = trackerBaseOf(request)
    const query = linkQueryOf(request)
    // Extensions: by file hash, then by info hash; either wins over file_name. Empty counts as absent, as for file_name.
    const fileHash = param(request.query, 'file_hash')
    if (fileHash !== undefined && fileHash !== '') {
      if (!isHex40(fileHash)) throw new HttpError(400, 'Invalid parameter: file_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(store.fileByHash(fileHash.toLowerCase()), base, query)
    }
    const infoHash = param(request.query, 'info_hash')
    if (infoHash !== undefined && infoHash !== '') {
      if (!isHex40(infoHash)) throw new HttpError(400, 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(store.fileByInfoHash(infoHash.toLowerCase()), base, query)
    }
    return lookupByName(param(request.query, 'file_name'), base, query)
  })

  app.get('/get_file/:name', async (request): Promise<LookupReply> => {
    return lookupByName((request.params as { name?: string }).name, trackerBaseOf(request), linkQueryOf(request))
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
