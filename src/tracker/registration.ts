/**
 * The `POST /register` body: the seed's six fields, checked the way server.py checks them (the first
 * missing one in a fixed order is named), then — beyond the seed, which checks nothing else — every value
 * validated, so a bad registration is a 400 with a reason and never a corrupt catalogue.
 */
import { isHex40, parseMetainfo } from '../content/index.js'
import { isIP } from 'node:net'
import { isP2PError, ValidationError } from '../errors.js'
import { countRanges, rangesOf, type ChunkRange } from './chunk-ranges.js'
import {
  DEFAULT_BOUND_CHUNK_SIZE,
  LEGACY_CHUNK_SIZES,
  MAX_CHUNK_RANGES_PER_PEER,
  MAX_FILE_NAME_BYTES,
  MAX_IP_LENGTH,
  TRACKER_MAX_METAINFO_BYTES
} from './limits.js'

/** server.py's order: the first of these missing from the body is the one the error names. */
export const REQUIRED_FIELDS = ['file_name', 'file_hash', 'file_size', 'chunks', 'ip', 'port'] as const

/** A registration that passed validation, normalised (hash lower case, IPv6 canonical, chunks as runs). */
export interface Registration {
  fileName: string
  fileHash: string
  fileSize: number
  /** The peer's chunk ids as ascending runs of consecutive ids. */
  chunks: ChunkRange[]
  /** How many chunk ids the runs hold. */
  chunkCount: number
  ip: string
  port: number
  /** The extension field, when the peer sent it. */
  chunkSize?: number
  /** Extension: the file's BitTorrent info hash (40 lower-case hex), when the peer sent it. */
  infoHash?: string
  /** Extension: the file's metainfo (.torrent bytes), checked to be a torrent of `infoHash` and `fileSize`. */
  metainfo?: Buffer
}

/** `Invalid field: <name>: <reason>`, the 400 message of every value that fails validation. */
export function invalidField (name: string, reason: string): ValidationError {
  return new ValidationError(`Invalid field: ${name}: ${reason}`)
}

/** Unicode control characters (C0, DEL, C1). */
const CONTROL = /\p{Cc}/u
/**
 * Unicode bidirectional controls: embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069), the marks
 * LRM, RLM (U+200E, U+200F) and ALM (U+061C). In a name they reorder how the text is shown, not what it is
 * (`photo\u202Egpj.exe` shows as `photoexe.jpg`): every listing, web page and terminal that prints the name would show
 * a lie (CVE-2021-42574, "Trojan Source"). No file name needs them: bidirectional text displays right without them.
 */
export const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u
const BIDI_REASON = 'must not contain Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)'
/** A UTF-16 surrogate not part of a pair: the string has no UTF-8 encoding. */
const LONE_SURROGATE = /[\ud800-\udfff]/u

/** Checks a file name: a non-empty base name of at most 255 bytes of UTF-8 with no control characters. */
export function checkFileName (value: unknown, field = 'file_name'): string {
  if (typeof value !== 'string') throw invalidField(field, 'must be a string')
  if (value === '') throw invalidField(field, 'must not be empty')
  if (LONE_SURROGATE.test(value)) throw invalidField(field, 'must be valid Unicode (unpaired surrogate)')
  if (Buffer.byteLength(value, 'utf8') > MAX_FILE_NAME_BYTES) {
    throw invalidField(field, `must be at most ${MAX_FILE_NAME_BYTES} bytes of UTF-8`)
  }
  if (CONTROL.test(value)) throw invalidField(field, 'must not contain control characters')
  if (BIDI_CONTROL.test(value)) throw invalidField(field, BIDI_REASON)
  if (value.includes('/') || value.includes('\\')) throw invalidField(field, "must be a base name (no '/' or '\\')")
  if (value === '.' || value === '..') throw invalidField(field, "must be a base name, not '.' or '..'")
  return value
}

/** Checks a file hash (SHA-1 of the whole file, 40 hex digits) and returns it in lower case. */
export function checkFileHash (value: unknown, field = 'file_hash'): string {
  if (typeof value !== 'string' || !isHex40(value)) {
    throw invalidField(field, 'must be 40 hexadecimal characters (a SHA-1)')
  }
  return value.toLowerCase()
}

function checkFileSize (value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidField('file_size', 'must be an integer')
  if (value < 0) throw invalidField('file_size', 'must not be negative')
  if (!Number.isSafeInteger(value)) throw invalidField('file_size', `must be at most ${Number.MAX_SAFE_INTEGER}`)
  return value
}

function checkChunkSize (value: unknown): number {
  if (typeof value !== 'number' || !LEGACY_CHUNK_SIZES.includes(value)) {
    throw invalidField('chunk_size', `must be ${LEGACY_CHUNK_SIZES.join(' or ')}`)
  }
  return value
}

/** Number of chunks of a file: ceil(size / chunk size); an empty file has none. */
export function chunkCountOf (fileSize: number, chunkSize: number): number {
  return Math.ceil(fileSize / chunkSize)
}

/**
 * Checks a chunk list: distinct integers in [0, count). Returns the ids as ascending runs. Linear when the
 * list is already ascending (as every known peer sends it); otherwise one numeric sort of a copy.
 */
function checkChunks (value: unknown, fileSize: number, chunkSize: number): ChunkRange[] {
  if (!Array.isArray(value)) throw invalidField('chunks', 'must be an array of chunk ids')
  const count = chunkCountOf(fileSize, chunkSize)
  let ascending = true
  let previous = -1
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i]
    if (typeof id !== 'number' || !Number.isInteger(id)) {
      throw invalidField('chunks', `chunk id at index ${i} is not an integer`)
    }
    if (id < 0 || id >= count) {
      throw invalidField('chunks', `chunk id ${id} is out of range (the file has ${count} chunk${count === 1 ? '' : 's'} of ${chunkSize} bytes)`)
    }
    if (id === previous) throw invalidField('chunks', `duplicate chunk id ${id}`)
    if (id < previous) ascending = false
    previous = id
  }
  let sorted: ArrayLike<number> = value as number[]
  if (!ascending) {
    const copy = Float64Array.from(value as number[]).sort()
    for (let i = 1; i < copy.length; i++) {
      if (copy[i] === copy[i - 1]) throw invalidField('chunks', `duplicate chunk id ${copy[i]}`)
    }
    sorted = copy
  }
  const ranges = rangesOf(sorted)
  if (ranges.length > MAX_CHUNK_RANGES_PER_PEER) {
    throw invalidField('chunks', `too fragmented (more than ${MAX_CHUNK_RANGES_PER_PEER} runs of consecutive ids)`)
  }
  return ranges
}

/**
 * Checks an IP literal and returns it normalised: IPv6 in its canonical RFC 5952 form, an IPv4-mapped IPv6
 * address as the plain IPv4 it stands for (so one peer is one (ip, port) however it wrote its address).
 */
export function checkIp (value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_IP_LENGTH) throw invalidField('ip', 'must be an IPv4 or IPv6 address')
  const family = isIP(value)
  if (family === 4) return value
  // A zone id (fe80::1%eth0) names an interface of the registering host: meaningless to anyone else.
  if (family !== 6 || value.includes('%')) throw invalidField('ip', 'must be an IPv4 or IPv6 address')
  const canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
  if (mapped !== null) {
    const high = parseInt(mapped[1] as string, 16)
    const low = parseInt(mapped[2] as string, 16)
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  }
  return canonical
}

/**
 * Base64 (RFC 4648 §4) with its padding: what Buffer's 'base64' writes; with a length that is a multiple of 4, checked
 * apart (a regular expression repeating 4-character groups overflows V8's stack on megabytes). Node's decoder would
 * skip anything else silently.
 */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
/** Longest base64 text of a metainfo within the bound. */
const MAX_METAINFO_BASE64 = Math.ceil(TRACKER_MAX_METAINFO_BYTES / 3) * 4

/**
 * Checks an uploaded metainfo: base64 of at most TRACKER_MAX_METAINFO_BYTES that parses as a torrent (the same checks
 * as any .torrent we read), whose info hash is the registration's `info_hash` (which it requires) and whose content is
 * `file_size` bytes. Returns the decoded bytes, kept as they came.
 */
function checkMetainfo (value: unknown, infoHash: string | undefined, fileSize: number): Buffer {
  if (typeof value !== 'string') throw invalidField('metainfo', 'must be a string (the .torrent file, base64)')
  if (value.length > MAX_METAINFO_BASE64) throw invalidField('metainfo', `must be at most ${TRACKER_MAX_METAINFO_BYTES} bytes (before base64)`)
  if (value === '') throw invalidField('metainfo', 'must not be empty')
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw invalidField('metainfo', 'must be base64 (RFC 4648, with padding)')
  if (infoHash === undefined) throw invalidField('metainfo', 'needs info_hash (the torrent\'s info hash) in the same registration')
  const bytes = Buffer.from(value, 'base64')
  if (bytes.length > TRACKER_MAX_METAINFO_BYTES) throw invalidField('metainfo', `must be at most ${TRACKER_MAX_METAINFO_BYTES} bytes (before base64)`)
  let parsed
  try {
    parsed = parseMetainfo(bytes)
  } catch (err) {
    if (!isP2PError(err)) throw err
    throw invalidField('metainfo', `not a valid torrent file: ${err.message.replace(/^Invalid torrent: /, '')}`)
  }
  if (parsed.infoHash !== infoHash) throw invalidField('metainfo', `its info hash ${parsed.infoHash} differs from info_hash ${infoHash}`)
  // The catalogue serves the torrent to anyone, who shows its names: held to the rule of file names.
  for (const file of parsed.info.files) {
    if (CONTROL.test(file.path)) throw invalidField('metainfo', 'its file names must not contain control characters')
    if (BIDI_CONTROL.test(file.path)) throw invalidField('metainfo', `its file names ${BIDI_REASON}`)
  }
  if (parsed.info.totalSize !== fileSize) {
    throw invalidField('metainfo', `describes ${parsed.info.totalSize} bytes, not file_size ${fileSize}`)
  }
  return bytes
}

function checkPort (value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw invalidField('port', 'must be an integer from 1 to 65535')
  }
  return value
}

/**
 * Validates a parsed `/register` body. Throws ValidationError with the reply's message:
 * `Missing field: <name>` for the first absent field (server.py's order), else `Invalid field: <name>: <reason>`
 * for the first bad value, checked in the order file_name, file_hash, file_size, chunk_size, chunks, ip, port,
 * info_hash, metainfo (chunk_size before chunks because it bounds the ids; the optional extensions last, metainfo
 * after the info hash it must match). Fields it does not know are ignored.
 */
export function parseRegistration (body: unknown): Registration {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Request body must be a JSON object')
  }
  const fields = body as Record<string, unknown>
  for (const name of REQUIRED_FIELDS) {
    if (!Object.hasOwn(fields, name) || fields[name] === undefined) throw new ValidationError(`Missing field: ${name}`)
  }
  const fileName = checkFileName(fields.file_name)
  const fileHash = checkFileHash(fields.file_hash)
  const fileSize = checkFileSize(fields.file_size)
  const chunkSize = Object.hasOwn(fields, 'chunk_size') ? checkChunkSize(fields.chunk_size) : undefined
  const chunks = checkChunks(fields.chunks, fileSize, chunkSize ?? DEFAULT_BOUND_CHUNK_SIZE)
  const ip = checkIp(fields.ip)
  const port = checkPort(fields.port)
  const infoHash = Object.hasOwn(fields, 'info_hash') ? checkFileHash(fields.info_hash, 'info_hash') : undefined
  const metainfo = Object.hasOwn(fields, 'metainfo') ? checkMetainfo(fields.metainfo, infoHash, fileSize) : undefined
  const registration: Registration = {
    fileName,
    fileHash,
    fileSize,
    chunks,
    chunkCount: countRanges(chunks),
    ip,
    port
  }
  if (chunkSize !== undefined) registration.chunkSize = chunkSize
  if (infoHash !== undefined) registration.infoHash = infoHash
  if (metainfo !== undefined) registration.metainfo = metainfo
  return registration
}

/** Validates a `/unregister` body: `{ ip, port }` of the peer to forget, checked as `/register` checks them. */
export function parseUnregister (body: unknown): { ip: string, port: number } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ValidationError('Request body must be a JSON object')
  const fields = body as Record<string, unknown>
  for (const name of ['ip', 'port']) {
    if (!Object.hasOwn(fields, name) || fields[name] === undefined) throw new ValidationError(`Missing field: ${name}`)
  }
  return { ip: checkIp(fields.ip), port: checkPort(fields.port) }
}
