/**
 * The seed's JSON API (ORIGINAL-PYTHON.md): `POST /register`, `GET /lookup`, `GET /files` and the
 * undocumented `GET /get_file/<name>`, with the seed's field names, messages and status codes, plus our
 * extensions: `chunk_size` at register, `/lookup?file_hash=`, `/files?q=`.
 */
import { isHex40 } from '../content/index.js'
import type { FastifyInstance } from 'fastify'
import { HttpError } from './http-errors.js'
import { parseRegistration } from './registration.js'
import { filesReply, lookupReply, registerReply, type FilesReply, type LookupReply, type RegisterReply } from './replies.js'
import type { FileEntry, TrackerStore } from './store.js'

export interface SeedRoutesContext {
  store: TrackerStore
  now: () => number
}

type Query = Record<string, string | string[] | undefined>


/** A query parameter's first value (Flask's `request.args.get` takes the first of repeated ones). */
function param (query: unknown, name: string): string | undefined {
  const value = (query as Query | undefined)?.[name]
  return Array.isArray(value) ? value[0] : value
}

export function registerSeedRoutes (app: FastifyInstance, { store, now }: SeedRoutesContext): void {
  const lookupByName = (name: string | undefined): LookupReply => {
    if (name === undefined || name === '') throw new HttpError(400, 'Missing file_name parameter')
    return reply(store.fileByName(name))
  }
  const reply = (file: FileEntry | undefined): LookupReply => {
    if (file === undefined) throw new HttpError(404, 'File not found')
    return lookupReply(file, store.peersOf(file.fileHash))
  }

  app.post('/register', async (request): Promise<RegisterReply> => {
    const registration = parseRegistration(request.body)
    return registerReply(registration.fileHash, store.register(registration, now()))
  })

  app.get('/lookup', async (request): Promise<LookupReply> => {
    // Extension: by hash. It wins over file_name when both are given; empty counts as absent, as for file_name.
    const fileHash = param(request.query, 'file_hash')
    if (fileHash !== undefined && fileHash !== '') {
      if (!isHex40(fileHash)) throw new HttpError(400, 'Invalid parameter: file_hash: must be 40 hexadecimal characters (a SHA-1)')
      return reply(store.fileByHash(fileHash.toLowerCase()))
    }
    return lookupByName(param(request.query, 'file_name'))
  })

  app.get('/get_file/:name', async (request): Promise<LookupReply> => {
    return lookupByName((request.params as { name?: string }).name)
  })

  app.get('/files', async (request): Promise<FilesReply> => {
    return filesReply(store.listFiles(param(request.query, 'q') ?? ''))
  })
}
