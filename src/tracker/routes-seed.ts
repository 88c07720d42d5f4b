/**
 * The seed's JSON API (ORIGINAL-PYTHON.md): `POST /register`, `GET /lookup`, `GET /files` and the
 * undocumented `GET /get_file/<name>`, with the seed's field names, messages and status codes, plus our
 * extensions: `chunk_size` and `info_hash` at register, `/lookup?file_hash=` and `?info_hash=`, `/files?q=`,
 * and for a file with an info hash the BitTorrent keys (`info_hash`, `magnet`, `seeders`, `leechers`,
 * `bt_peers`) joined from the announce swarms.
 */
import { isHex40 } from '../content/index.js'
import type { FastifyInstance } from 'fastify'
import { announceUrlOf, CatalogueJoin } from './catalogue-join.js'
import { HttpError } from './http-errors.js'
import { parseRegistration } from './registration.js'
import { filesEntry, lookupReply, registerReply, type FilesReply, type LookupReply, type RegisterReply } from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'
import type { Swarms } from './swarms.js'

export interface SeedRoutesContext {
  store: TrackerStore
  swarms: Swarms
  now: () => number
}

type Query = Record<string, string | string[] | undefined>

/** A query parameter's first value (Flask's `request.args.get` takes the first of repeated ones). */
function param (query: unknown, name: string): string | undefined {
  const value = (query as Query | undefined)?.[name]
  return Array.isArray(value) ? value[0] : value
}

export function registerSeedRoutes (app: FastifyInstance, { store, swarms, now }: SeedRoutesContext): void {
  const catalogue = new CatalogueJoin(store, swarms, now)

  const lookup = (file: FileEntry | undefined, announceUrl: string): LookupReply => {
    if (file === undefined) throw new HttpError(404, 'File not found')
    const join = catalogue.join(file, announceUrl)
    const peers = store.peersOf(file.fileHash)
    return join === undefined
      ? lookupReply(file, peers)
      : lookupReply(file, peers, undefined, { ...join, btPeers: catalogue.btPeers(file) })
  }
  const lookupByName = (name: string | undefined, announceUrl: string): LookupReply => {
    if (name === undefined || name === '') throw new HttpError(400, 'Missing file_name parameter')
    return lookup(store.fileByName(name), announceUrl)
  }

  app.post('/register', async (request): Promise<RegisterReply> => {
    const registration = parseRegistration(request.body)
    const result = store.register(registration, now())
    const file = { fileHash: registration.fileHash, ...(result.infoHash === undefined ? {} : { infoHash: result.infoHash }) }
    return registerReply(registration.fileHash, result, catalogue.peersCount(file, result.peersCount), registration.infoHash !== undefined)
  })

  app.get('/lookup', async (request): Promise<LookupReply> => {
    const announceUrl = announceUrlOf(request)
    // Extensions: by file hash, then by info hash; either wins over file_name. Empty counts as absent, as for file_name.
    const fileHash = param(request.query, 'file_hash')
    if (fileHash !== undefined && fileHash !== '') {
      if (!isHex40(fileHash)) throw new HttpError(400, 'Invalid parameter: file_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(store.fileByHash(fileHash.toLowerCase()), announceUrl)
    }
    const infoHash = param(request.query, 'info_hash')
    if (infoHash !== undefined && infoHash !== '') {
      if (!isHex40(infoHash)) throw new HttpError(400, 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)')
      return lookup(store.fileByInfoHash(infoHash.toLowerCase()), announceUrl)
    }
    return lookupByName(param(request.query, 'file_name'), announceUrl)
  })

  app.get('/get_file/:name', async (request): Promise<LookupReply> => {
    return lookupByName((request.params as { name?: string }).name, announceUrlOf(request))
  })

  app.get('/files', async (request): Promise<FilesReply> => {
    const announceUrl = announceUrlOf(request)
    return {
      files: store.listFiles(param(request.query, 'q') ?? '').map((file) =>
        filesEntry(file, catalogue.peersCount(file, file.peersCount), catalogue.join(file, announceUrl)))
    }
  })
}
