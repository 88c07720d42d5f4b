/**
 * The node API's JSON schemas, one source for both uses: the routes validate their input with the request schemas,
 * and the OpenAPI document (openapi.ts) publishes those same objects, beside the response schemas below (which
 * describe the plain data of src/session/types.ts; replies are not filtered through them).
 */
import { TORRENT_STATES, type SettingsChanges, type TorrentLimits } from '../session/types.js'
import {
  API_MAX_ACTIVE_TORRENTS,
  API_MAX_MAGNET_LENGTH,
  API_MAX_PATH_LENGTH,
  API_MAX_QUERY_LENGTH,
  API_MAX_RATE,
  API_MAX_SEED_IDLE_MINUTES,
  API_MAX_SEED_RATIO,
  API_MAX_TOKEN_LENGTH,
  API_BODY_LIMIT_BYTES
} from './limits.js'
import { patterned } from './validation.js'

export type JsonSchema = Record<string, unknown>

/** A torrent named in a URL: its id (a positive integer of at most 15 digits) or its info hash. */
export const REF_PATTERN = '^(?:[1-9][0-9]{0,14}|[0-9A-Fa-f]{40})$'

/** Any path without a NUL (which no file system takes, and Node refuses). */
const NO_NUL_PATTERN = '^[^\\u0000]*$'

function pathSchema (description: string): JsonSchema {
  return patterned(NO_NUL_PATTERN, 'must not contain a NUL character', { minLength: 1, maxLength: API_MAX_PATH_LENGTH, description })
}

function rateSchema (description: string): JsonSchema {
  return { type: ['integer', 'null'], minimum: 1, maximum: API_MAX_RATE, description: `${description}, bytes per second; null: none` }
}

const seedRatioSchema: JsonSchema = {
  type: ['number', 'null'],
  minimum: 0,
  maximum: API_MAX_SEED_RATIO,
  description: 'Stop seeding once uploaded / size reaches this; null: the session default'
}

const seedIdleSchema: JsonSchema = {
  type: ['integer', 'null'],
  minimum: 1,
  maximum: API_MAX_SEED_IDLE_MINUTES,
  description: 'Stop seeding after this many minutes without an upload; null: the session default'
}

/** `Partial<TorrentLimits>`. */
export const limitsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    uploadLimit: rateSchema('Upload limit of this torrent'),
    downloadLimit: rateSchema('Download limit of this torrent'),
    seedRatioLimit: seedRatioSchema,
    seedIdleLimitMinutes: seedIdleSchema
  }
}

export const refParamsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ref'],
  properties: {
    ref: patterned(REF_PATTERN, 'must be a torrent id (a positive integer) or an info hash (40 hexadecimal digits)', {
      description: 'The torrent\'s id or its info hash (40 hex, either case)'
    })
  }
}

/** The body of a POST that takes no fields: none, or `{}`. */
export const emptyBodySchema: JsonSchema = { type: 'object', additionalProperties: false, properties: {} }

export const listQuerySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: [...TORRENT_STATES], description: 'Only the torrents in this state' }
  }
}

/** The add sources: exactly one of them. */
export const ADD_SOURCES = ['magnet', 'torrent', 'path', 'catalogue'] as const

export const addBodySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    magnet: patterned('^(?:magnet:\\?|[0-9A-Fa-f]{40}$|[A-Za-z2-7]{32}$)', 'must be a magnet URI (magnet:?...) or an info hash (40 hex or 32 base32)', {
      maxLength: API_MAX_MAGNET_LENGTH,
      description: 'A magnet URI, or a bare info hash (40 hex or 32 base32)'
    }),
    torrent: patterned('^[A-Za-z0-9+/]*={0,2}$', 'must be base64 (RFC 4648, padded, no line breaks)', {
      minLength: 4,
      maxLength: API_BODY_LIMIT_BYTES,
      description: 'A .torrent file\'s bytes in base64 (RFC 4648, padded, no line breaks)'
    }),
    path: pathSchema('A local file or folder to share: a torrent is made of it and seeded from where it is'),
    catalogue: { type: 'string', minLength: 1, maxLength: API_MAX_QUERY_LENGTH, description: 'A name or file hash in the tracker\'s catalogue' },
    downloadDir: pathSchema('Where to download it; default: the session\'s downloadDir'),
    paused: { type: 'boolean', description: 'Add it paused: nothing is dialled or announced until resumed' },
    limits: limitsSchema
  },
  oneOf: ADD_SOURCES.map((name) => ({ required: [name] }))
}

export interface AddBody {
  magnet?: string
  torrent?: string
  path?: string
  catalogue?: string
  downloadDir?: string
  paused?: boolean
  limits?: Partial<TorrentLimits>
}

export const torrentPatchSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    limits: limitsSchema,
    downloadDir: pathSchema('Point the torrent at this folder'),
    moveData: { type: 'boolean', description: 'With downloadDir: move the torrent\'s files there first' }
  },
  dependencies: { moveData: ['downloadDir'] }
}

export interface TorrentPatchBody {
  limits?: Partial<TorrentLimits>
  downloadDir?: string
  moveData?: boolean
}

export const QUEUE_MOVES = ['top', 'up', 'down', 'bottom'] as const

export const queueBodySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['move'],
  properties: {
    move: { type: 'string', enum: [...QUEUE_MOVES], description: 'Where to move the torrent in the queue' }
  }
}

export interface QueueBody {
  move: typeof QUEUE_MOVES[number]
}

export const deleteQuerySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    deleteData: { type: 'string', enum: ['true', 'false'], description: 'Also delete its files (or partial files); default false' }
  }
}

export const settingsPatchSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    downloadDir: pathSchema('Where new torrents are downloaded'),
    maxActiveDownloads: { type: 'integer', minimum: 1, maximum: API_MAX_ACTIVE_TORRENTS, description: 'Torrents downloading at once; the rest wait in queued' },
    maxActiveSeeds: { type: 'integer', minimum: 1, maximum: API_MAX_ACTIVE_TORRENTS, description: 'Torrents seeding at once' },
    uploadLimit: rateSchema('Upload limit of the whole session'),
    downloadLimit: rateSchema('Download limit of the whole session'),
    seedRatioLimit: { ...seedRatioSchema, description: 'Default seed ratio limit; null: seed forever' },
    seedIdleLimitMinutes: { ...seedIdleSchema, description: 'Default seed idle limit, minutes; null: none' },
    watchDir: { ...pathSchema('A folder whose new .torrent files are added (then renamed .torrent.added); null: none'), type: ['string', 'null'] }
  }
}

/** Checked at compile time: the settings schema names exactly the changeable settings. */
const SETTINGS_FIELDS: Record<keyof SettingsChanges, true> = {
  downloadDir: true,
  maxActiveDownloads: true,
  maxActiveSeeds: true,
  uploadLimit: true,
  downloadLimit: true,
  seedRatioLimit: true,
  seedIdleLimitMinutes: true,
  watchDir: true
}
export const SETTINGS_FIELD_NAMES = Object.keys(SETTINGS_FIELDS) as Array<keyof SettingsChanges>

export const freeSpaceQuerySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: pathSchema('A folder on the node')
  }
}

export const eventsQuerySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token: { type: 'string', minLength: 1, maxLength: API_MAX_TOKEN_LENGTH, description: 'The bearer token, for clients that cannot send headers (EventSource)' }
  }
}

// Replies: the plain data of src/session/types.ts, for the OpenAPI document.

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string, extra: JsonSchema = {}): JsonSchema => ({ type: [type, 'null'], ...extra })
const integer: JsonSchema = { type: 'integer', minimum: 0 }
const time = (description: string, orNull = false): JsonSchema => orNull
  ? nullable('integer', { description: `${description}, ms since the epoch; null: never` })
  : { type: 'integer', description: `${description}, ms since the epoch` }

function object (properties: Record<string, JsonSchema>, description?: string): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties, ...(description === undefined ? {} : { description }) }
}

export const responseSchemas: Record<string, JsonSchema> = {
  Error: object({
    error: { type: 'string', description: 'One readable line' },
    code: { type: 'string', description: 'Stable code: ERR_VALIDATION, ERR_NOT_FOUND, ERR_DUPLICATE...' }
  }, 'Every error; ERR_DUPLICATE also carries `id`, the torrent already in the session'),
  TorrentLimits: object({
    uploadLimit: nullable('integer'),
    downloadLimit: nullable('integer'),
    seedRatioLimit: nullable('number'),
    seedIdleLimitMinutes: nullable('integer')
  }),
  TorrentSummary: object({
    id: { type: 'integer', minimum: 1 },
    infoHash: { type: 'string', pattern: '^[0-9a-f]{40}$' },
    name: { type: 'string' },
    state: { type: 'string', enum: [...TORRENT_STATES] },
    error: nullable('string'),
    hasMetadata: { type: 'boolean' },
    totalSize: integer,
    verifiedBytes: integer,
    leftBytes: integer,
    progress: { type: 'number', minimum: 0, maximum: 1 },
    pieceCount: integer,
    pieceLength: integer,
    fileCount: integer,
    downloadedEver: integer,
    uploadedEver: integer,
    downloadRate: { type: 'number', minimum: 0, description: 'Bytes per second' },
    uploadRate: { type: 'number', minimum: 0, description: 'Bytes per second' },
    peers: integer,
    seeds: integer,
    eta: nullable('number', { description: 'Seconds until done; null: unknown or not downloading' }),
    ratio: { type: 'number', minimum: 0 },
    downloadDir: { type: 'string' },
    addedAt: time('When it was added'),
    doneAt: time('When every piece was verified', true),
    activityAt: time('When a payload byte last came or went', true),
    magnet: { type: 'string' },
    limits: ref('TorrentLimits'),
    queuePosition: integer,
    isPrivate: { type: 'boolean' }
  }),
  TorrentFile: object({ index: integer, path: { type: 'string' }, length: integer, completed: integer }),
  TorrentPeer: object({
    address: { type: 'string', description: 'host:port' },
    client: nullable('string'),
    protocol: { type: 'string', enum: ['bittorrent', 'get-chunk'] },
    source: { type: 'string' },
    direction: { type: 'string', enum: ['in', 'out'] },
    downloadRate: { type: 'number' },
    uploadRate: { type: 'number' },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    amChoking: { type: 'boolean' },
    amInterested: { type: 'boolean' },
    peerChoking: { type: 'boolean' },
    peerInterested: { type: 'boolean' }
  }),
  TorrentTracker: object({
    url: { type: 'string' },
    state: { type: 'string', enum: ['pending', 'ok', 'refused', 'failed'] },
    message: nullable('string'),
    peers: nullable('integer'),
    lastAnnounceAt: time('Its last announce', true)
  }),
  TorrentDetail: {
    allOf: [ref('TorrentSummary'), object({
      files: { type: 'array', items: ref('TorrentFile') },
      peerList: { type: 'array', items: ref('TorrentPeer') },
      trackers: { type: 'array', items: ref('TorrentTracker') },
      pieces: { type: 'string', description: 'The verified pieces as a BEP 3 bitfield, base64' }
    })]
  },
  SessionSettings: object({
    downloadDir: { type: 'string' },
    port: { type: 'integer', description: 'BitTorrent listening port (TCP); not changeable through the API' },
    maxActiveDownloads: integer,
    maxActiveSeeds: integer,
    uploadLimit: nullable('integer'),
    downloadLimit: nullable('integer'),
    seedRatioLimit: nullable('number'),
    seedIdleLimitMinutes: nullable('integer'),
    watchDir: nullable('string')
  }),
  SessionStats: object({
    torrentCount: integer,
    activeTorrentCount: integer,
    pausedTorrentCount: integer,
    downloadRate: { type: 'number' },
    uploadRate: { type: 'number' },
    current: object({ downloaded: integer, uploaded: integer, seconds: integer, piecesChecked: integer }, 'This run of the node; piecesChecked: pieces hashed by checks'),
    cumulative: object({ downloaded: integer, uploaded: integer, seconds: integer, sessions: integer }, 'Over every run')
  }),
  FreeSpace: object({ path: { type: 'string' }, free: integer, total: integer })
}
