/**
 * The REST routes under /api/v1: JSON in and out, every input validated by the schemas of schemas.ts before a
 * handler runs (so a handler meets only the shapes its types say), every failure `{ "error", "code" }` (errors.ts).
 * The handlers only translate between HTTP and SessionApi.
 */
import type { FastifyInstance } from 'fastify'
import { P2PError, ValidationError } from '../errors.js'
import type { AddOptions, AddSource, SessionApi, SettingsChanges, TorrentRef, TorrentState, TorrentSummary } from '../session/types.js'
import {
  addBodySchema,
  deleteQuerySchema,
  emptyBodySchema,
  freeSpaceQuerySchema,
  listQuerySchema,
  queueBodySchema,
  refParamsSchema,
  SETTINGS_FIELD_NAMES,
  settingsPatchSchema,
  torrentPatchSchema,
  type AddBody,
  type JsonSchema,
  type QueueBody,
  type TorrentPatchBody
} from './schemas.js'
import type { ResponseDoc } from './openapi.js'

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` })
const wrapped = (key: string, name: string): JsonSchema => ({ type: 'object', required: [key], properties: { [key]: ref(name) } })
const torrentReply: ResponseDoc = { description: 'The torrent', schema: wrapped('torrent', 'TorrentSummary') }
const noContent: ResponseDoc = { description: 'Done' }

/** A validated `:ref` (REF_PATTERN): an id of at most 15 digits (a safe integer), or an info hash in lower case. */
export function torrentRef (text: string): TorrentRef {
  return /^[0-9]+$/.test(text) ? Number(text) : text.toLowerCase()
}

function describeRef (ref: TorrentRef): string {
  return typeof ref === 'number' ? `with id ${ref}` : `with info hash ${ref}`
}

/** The add source of a validated body (exactly one of the four, the schema's `oneOf`). */
function addSource (body: AddBody): AddSource {
  if (body.magnet !== undefined) return { kind: 'magnet', uri: body.magnet }
  if (body.path !== undefined) return { kind: 'path', path: body.path }
  if (body.catalogue !== undefined) return { kind: 'catalogue', query: body.catalogue }
  const text = body.torrent ?? ''
  // The schema checks the alphabet; the length (a pattern for it overflows V8's regexp stack on megabytes) here.
  if (text.length % 4 !== 0) throw new ValidationError('body.torrent must be base64 (RFC 4648, padded): its length is not a multiple of 4')
  return { kind: 'torrent', data: Buffer.from(text, 'base64') }
}

function addOptions (body: AddBody): AddOptions {
  const options: AddOptions = {}
  if (body.downloadDir !== undefined) options.downloadDir = body.downloadDir
  if (body.paused !== undefined) options.paused = body.paused
  if (body.limits !== undefined) options.limits = body.limits
  return options
}

type RefParams = { Params: { ref: string } }

export function registerRestRoutes (app: FastifyInstance, session: SessionApi): void {
  app.get<{ Querystring: { state?: TorrentState } }>('/api/v1/torrents', {
    schema: { querystring: listQuerySchema },
    config: {
      docs: {
        operationId: 'listTorrents',
        summary: 'Every torrent of the session, in queue order',
        tags: ['torrents'],
        responses: { 200: { description: 'The torrents', schema: { type: 'object', required: ['torrents'], properties: { torrents: { type: 'array', items: ref('TorrentSummary') } } } } }
      }
    }
  }, async (request) => {
    const state = request.query.state
    const torrents = session.list()
    return { torrents: state === undefined ? torrents : torrents.filter((t) => t.state === state) }
  })

  app.post<{ Body: AddBody }>('/api/v1/torrents', {
    schema: { body: addBodySchema },
    config: {
      docs: {
        operationId: 'addTorrent',
        summary: 'Add a torrent: exactly one of magnet, torrent, path, catalogue',
        tags: ['torrents'],
        responses: {
          201: { description: 'Added', schema: wrapped('torrent', 'TorrentSummary') },
          409: {
            description: 'ERR_DUPLICATE: the info hash is already in the session; `id` is that torrent',
            schema: { allOf: [ref('Error'), { type: 'object', required: ['id'], properties: { id: { type: 'integer' } } }] }
          }
        }
      }
    }
  }, async (request, reply) => {
    const torrent = await session.add(addSource(request.body), addOptions(request.body))
    return reply.code(201).header('location', `/api/v1/torrents/${torrent.id}`).send({ torrent })
  })

  app.get<RefParams>('/api/v1/torrents/:ref', {
    schema: { params: refParamsSchema },
    config: {
      docs: {
        operationId: 'getTorrent',
        summary: 'One torrent with its files, peers, trackers and pieces',
        tags: ['torrents'],
        responses: { 200: { description: 'The torrent', schema: wrapped('torrent', 'TorrentDetail') } }
      }
    }
  }, async (request) => {
    const ref = torrentRef(request.params.ref)
    const torrent = session.get(ref)
    if (torrent === undefined) throw new P2PError('ERR_NOT_FOUND', `No torrent ${describeRef(ref)}`)
    return { torrent }
  })

  const actions = {
    pause: { run: (r: TorrentRef) => session.pause(r), summary: 'Pause: stop transferring, keep the torrent' },
    resume: { run: (r: TorrentRef) => session.resume(r), summary: 'Resume a paused, stopped or failed torrent' },
    verify: { run: (r: TorrentRef) => session.verify(r), summary: 'Re-hash every piece on disk (state checking meanwhile)' },
    reannounce: { run: (r: TorrentRef) => session.reannounce(r), summary: 'Announce to every tracker now' }
  } satisfies Record<string, { run: (ref: TorrentRef) => Promise<TorrentSummary>, summary: string }>
  for (const [name, action] of Object.entries(actions)) {
    app.post<RefParams>(`/api/v1/torrents/:ref/${name}`, {
      schema: { params: refParamsSchema, body: emptyBodySchema },
      config: { docs: { operationId: `${name}Torrent`, summary: action.summary, tags: ['torrents'], responses: { 200: torrentReply } } }
    }, async (request) => ({ torrent: await action.run(torrentRef(request.params.ref)) }))
  }

  app.patch<RefParams & { Body: TorrentPatchBody }>('/api/v1/torrents/:ref', {
    schema: { params: refParamsSchema, body: torrentPatchSchema },
    config: {
      docs: {
        operationId: 'changeTorrent',
        summary: 'Change a torrent\'s limits, or point it at another folder (moveData: move its files there first)',
        tags: ['torrents'],
        responses: { 200: torrentReply }
      }
    }
  }, async (request) => {
    const ref = torrentRef(request.params.ref)
    const { limits, downloadDir, moveData } = request.body
    let torrent: TorrentSummary | undefined
    // The location first: it is the change that can fail for reasons of the disk, and then nothing has changed.
    if (downloadDir !== undefined) torrent = await session.setLocation(ref, downloadDir, { move: moveData === true })
    if (limits !== undefined) torrent = await session.set(ref, { limits })
    if (torrent === undefined) throw new ValidationError('body needs limits or downloadDir')
    return { torrent }
  })

  app.post<RefParams & { Body: QueueBody }>('/api/v1/torrents/:ref/queue', {
    schema: { params: refParamsSchema, body: queueBodySchema },
    config: { docs: { operationId: 'moveTorrentInQueue', summary: 'Move a torrent in the queue', tags: ['torrents'], responses: { 204: noContent } } }
  }, async (request, reply) => {
    await session.queueMove(torrentRef(request.params.ref), request.body.move)
    return reply.code(204).send()
  })

  app.delete<RefParams & { Querystring: { deleteData?: 'true' | 'false' } }>('/api/v1/torrents/:ref', {
    schema: { params: refParamsSchema, querystring: deleteQuerySchema },
    config: { docs: { operationId: 'removeTorrent', summary: 'Remove a torrent (deleteData=true: and its files)', tags: ['torrents'], responses: { 204: noContent } } }
  }, async (request, reply) => {
    await session.remove(torrentRef(request.params.ref), { deleteData: request.query.deleteData === 'true' })
    return reply.code(204).send()
  })

  app.get('/api/v1/session', {
    config: {
      docs: {
        operationId: 'getSession',
        summary: 'The session\'s settings and the node\'s version',
        tags: ['session'],
        responses: { 200: { description: 'Settings', schema: { type: 'object', required: ['settings', 'version'], properties: { settings: ref('SessionSettings'), version: { type: 'string' } } } } }
      }
    }
  }, async () => ({ settings: session.settings, version: session.version }))

  app.patch<{ Body: SettingsChanges }>('/api/v1/session', {
    schema: { body: settingsPatchSchema },
    config: {
      docs: {
        operationId: 'changeSession',
        summary: 'Change settings (all but port)',
        tags: ['session'],
        responses: { 200: { description: 'The settings after the change', schema: wrapped('settings', 'SessionSettings') } }
      }
    }
  }, async (request) => {
    // The schema admits exactly these fields; copied by name, so nothing else could reach the session.
    const changes: Record<string, unknown> = {}
    for (const name of SETTINGS_FIELD_NAMES) if (Object.hasOwn(request.body, name)) changes[name] = request.body[name]
    return { settings: await session.updateSettings(changes as SettingsChanges) }
  })

  app.get('/api/v1/stats', {
    config: { docs: { operationId: 'getStats', summary: 'Rates and totals of the session', tags: ['session'], responses: { 200: { description: 'Statistics', schema: ref('SessionStats') } } } }
  }, async () => session.stats())

  app.get<{ Querystring: { path: string } }>('/api/v1/free-space', {
    schema: { querystring: freeSpaceQuerySchema },
    config: { docs: { operationId: 'getFreeSpace', summary: 'Space left on the file system holding a folder', tags: ['session'], responses: { 200: { description: 'Free space', schema: ref('FreeSpace') } } } }
  }, async (request) => session.freeSpace(request.query.path))
}
