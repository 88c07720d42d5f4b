/**
 * Metainfo (BEP 3 .torrent files) and info dictionaries (BEP 9 metadata): parse with full validation, encode, create.
 *
 * The info hash is the SHA-1 of the info dictionary's exact bytes as they came (DESIGN.md), never of a re-encoding, so
 * keys we do not know keep their hash: BEP 52 hybrid torrents (`meta version`, `file tree`, outer `piece layers`),
 * BEP 47 `attr` and padding files, `source`, `name.utf-8` and the like are carried along untouched.
 *
 * Parsing refuses, with a ProtocolError `ERR_METAINFO` (or `ERR_BENCODE`, `ERR_PATH_*` from paths.ts), anything a
 * download could not safely act on: missing or ill-typed info fields, a piece length that is not a power of two from
 * 16 KiB to 64 MiB (what any client creates, with room above our own 16 MiB; the upper bound caps the memory one piece
 * needs), a `pieces` string that is not 20 bytes per piece of the total size, negative lengths, no content at all
 * (libtorrent and Transmission refuse those too), more than MAX_INFO_FILES files or MAX_TOTAL_SIZE bytes, and paths
 * that could leave the download folder or collide. What lies outside `info` (trackers, comment, creator, date) is
 * advisory: ill-typed values there are ignored, as libtorrent does, rather than costing the whole torrent.
 */
import { createHash } from 'node:crypto'
import { ProtocolError, StorageError, ValidationError } from '../errors.js'
import { bdecode, bencode, bget, isBDict, type BDict, type BEncodable, type BValue } from './bencode.js'
import { listContent } from './file-list.js'
import { safeRelativePath } from './paths.js'
import { hashContent, type HashedFile } from './piece-hasher.js'
import { isPieceLength, MIB, MIN_PIECE_LENGTH, pieceCountFor, pieceLengthFor } from './piece-length.js'

/** Largest .torrent we parse: 1.6 million piece hashes (libtorrent's own limit is 10 MB). */
export const MAX_METAINFO_BYTES = 32 * MIB
/** Largest piece length we accept in others' torrents. */
export const MAX_PARSED_PIECE_LENGTH = 64 * MIB
/** Most files one torrent may list. */
export const MAX_INFO_FILES = 100_000
/** Largest total content: 1 PiB, far past any real torrent and well inside exact integer arithmetic. */
export const MAX_TOTAL_SIZE = 2 ** 50

export interface InfoFile {
  /**
   * Where the file goes, relative to the download folder, `/`-separated and checked by safeRelativePath: the name for
   * a single-file torrent, `name/dir/file` for a multi-file one.
   */
  path: string
  length: number
  /** Where the file starts in the concatenated content (pieces run across files). */
  offset: number
  /** BEP 47 padding file (`attr` contains `p`): zeros that pad the next file to a piece boundary, never written. */
  padding: boolean
  /** BEP 47 `attr` as given (`x` executable, `h` hidden, `l` symlink, `p` padding); empty when absent. */
  attr: string
}

export interface ParsedInfo {
  /** SHA-1 of `raw`, 40 lowercase hex. */
  infoHash: string
  name: string
  pieceLength: number
  pieceCount: number
  /** 20-byte SHA-1 per piece, concatenated. */
  pieces: Buffer
  totalSize: number
  /** True when the dictionary has `files` (content in a folder named `name`), false for `length` (one file). */
  multiFile: boolean
  files: InfoFile[]
  private: boolean
  /** BEP 52 hybrid: the dictionary describes v2 content too (`meta version` 2); we use its v1 view. */
  hybrid: boolean
  /** The info dictionary's exact bytes, as they came. */
  raw: Buffer
}

export interface Metainfo {
  infoHash: string
  info: ParsedInfo
  /** Every tracker URL, BEP 12 tiers flattened in order (`announce` alone when there is no `announce-list`). */
  trackers: string[]
  /** BEP 12 tiers as given; empty when the torrent has none. */
  announceList: string[][]
  announce?: string
  comment?: string
  createdBy?: string
  /** Seconds since the epoch. */
  creationDate?: number
}

function invalid (why: string): never {
  throw new ProtocolError('ERR_METAINFO', `Invalid torrent: ${why}`)
}

export function infoHashOf (infoBytes: Uint8Array): string {
  return createHash('sha1').update(infoBytes).digest('hex')
}

/** Parse a .torrent file's bytes. */
export function parseMetainfo (bytes: Uint8Array): Metainfo {
  if (bytes.length > MAX_METAINFO_BYTES) invalid(`larger than ${MAX_METAINFO_BYTES} bytes`)
  const { value, span } = bdecode(bytes, { spanOf: 'info' })
  if (!isBDict(value)) invalid('not a dictionary')
  if (!isBDict(value.info) || span === undefined) invalid('no "info" dictionary')
  const info = parseInfoDict(bytes.subarray(span[0], span[1]))

  const announce = bget.string(value, 'announce')
  const announceList: string[][] = []
  for (const tier of bget.list(value, 'announce-list') ?? []) {
    if (!Array.isArray(tier)) continue
    const urls = tier.filter((u): u is Uint8Array => u instanceof Uint8Array).map(utf8).filter(u => u !== '')
    if (urls.length > 0) announceList.push(urls)
  }
  // BEP 12: with an announce-list, `announce` is ignored.
  const listed = announceList.length > 0 ? announceList.flat() : announce === undefined || announce === '' ? [] : [announce]
  const comment = bget.string(value, 'comment')
  const createdBy = bget.string(value, 'created by')
  const creationDate = bget.int(value, 'creation date')
  return {
    infoHash: info.infoHash,
    info,
    trackers: [...new Set(listed)],
    announceList,
    ...(announce === undefined ? {} : { announce }),
    ...(comment === undefined ? {} : { comment }),
    ...(createdBy === undefined ? {} : { createdBy }),
    ...(creationDate === undefined ? {} : { creationDate })
  }
}

/** Parse an info dictionary's bytes (BEP 9 metadata, or the `info` of a .torrent): same checks, hash of these bytes. */
export function parseInfoDict (bytes: Uint8Array): ParsedInfo {
  if (bytes.length > MAX_METAINFO_BYTES) invalid(`info dictionary larger than ${MAX_METAINFO_BYTES} bytes`)
  // Our own copy: the caller may reuse its buffer, and everything returned points into this one.
  const raw = Buffer.from(bytes)
  const { value } = bdecode(raw)
  if (!isBDict(value)) invalid('info is not a dictionary')
  return parseInfoValue(value, raw)
}

function parseInfoValue (info: BDict, raw: Buffer): ParsedInfo {
  const nameBytes = fieldOf(info, 'name', 'bytes')
  const name = utf8(nameBytes)
  safeRelativePath([name])

  const pieceLength = fieldOf(info, 'piece length', 'int')
  if (!isPieceLength(pieceLength, MIN_PIECE_LENGTH, MAX_PARSED_PIECE_LENGTH)) {
    invalid(`piece length ${pieceLength} is not a power of two from 16 KiB to 64 MiB`)
  }

  const metaVersion = bget.int(info, 'meta version')
  if (!(info.pieces instanceof Uint8Array) && metaVersion === 2) invalid('BitTorrent v2-only torrent (BEP 52): it has no v1 piece hashes, which p2pshare needs')
  const pieces = fieldOf(info, 'pieces', 'bytes')
  if (pieces.length % 20 !== 0) invalid(`"pieces" is ${pieces.length} bytes, not a multiple of 20`)

  let isPrivate = false
  if (info.private !== undefined) isPrivate = fieldOf(info, 'private', 'int') !== 0

  if (info.length !== undefined && info.files !== undefined) invalid('both "length" and "files"')
  const multiFile = info.files !== undefined
  const files: InfoFile[] = []
  let totalSize = 0
  if (!multiFile) {
    totalSize = checkLength(fieldOf(info, 'length', 'int'), 'length')
    files.push({ path: name, length: totalSize, offset: 0, padding: false, attr: '' })
  } else {
    const list = fieldOf(info, 'files', 'list')
    if (list.length === 0) invalid('"files" is empty')
    if (list.length > MAX_INFO_FILES) invalid(`${list.length} files, more than ${MAX_INFO_FILES}`)
    const taken = new PathClaims()
    list.forEach((entry, i) => {
      if (!isBDict(entry)) invalid(`files[${i}] is not a dictionary`)
      const length = checkLength(fieldOf(entry, 'length', 'int', `files[${i}].`), `files[${i}].length`)
      const pathList = fieldOf(entry, 'path', 'list', `files[${i}].`)
      if (pathList.length === 0) invalid(`files[${i}].path is empty`)
      const components = pathList.map((c, j) => c instanceof Uint8Array ? utf8(c) : invalid(`files[${i}].path[${j}] is not a string`))
      const path = safeRelativePath([name, ...components])
      const attr = bget.string(entry, 'attr') ?? ''
      const padding = attr.includes('p')
      if (!padding) taken.claim(path)
      files.push({ path, length, offset: totalSize, padding, attr })
      totalSize += length
      if (totalSize > MAX_TOTAL_SIZE) invalid(`content larger than ${MAX_TOTAL_SIZE} bytes`)
    })
  }
  if (totalSize === 0) invalid('no content (total size 0)')

  const pieceCount = pieces.length / 20
  const expected = pieceCountFor(totalSize, pieceLength)
  if (pieceCount !== expected) invalid(`${pieceCount} piece hashes for ${totalSize} bytes in pieces of ${pieceLength} (expected ${expected})`)

  return {
    infoHash: infoHashOf(raw),
    name,
    pieceLength,
    pieceCount,
    pieces: Buffer.from(pieces.buffer, pieces.byteOffset, pieces.byteLength),
    totalSize,
    multiFile,
    files,
    private: isPrivate,
    hybrid: metaVersion === 2,
    raw
  }
}

/** Paths already used by a file, and folders implied by them: a second file at either would overwrite or collide. */
class PathClaims {
  readonly #files = new Set<string>()
  readonly #dirs = new Set<string>()

  claim (path: string): void {
    if (this.#files.has(path)) invalid(`two files at "${path}"`)
    if (this.#dirs.has(path)) invalid(`"${path}" is both a file and a folder`)
    for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) {
      const dir = path.slice(0, at)
      if (this.#files.has(dir)) invalid(`"${dir}" is both a file and a folder`)
      this.#dirs.add(dir)
    }
    this.#files.add(path)
  }
}

interface FieldTypes { int: number, bytes: Uint8Array, list: BValue[] }

function fieldOf<K extends keyof FieldTypes> (d: BDict, key: string, type: K, where = ''): FieldTypes[K] {
  const v = d[key]
  if (v === undefined) invalid(`missing "${where}${key}"`)
  const ok = type === 'int' ? typeof v === 'number' : type === 'bytes' ? v instanceof Uint8Array : Array.isArray(v)
  if (!ok) invalid(`"${where}${key}" is not ${type === 'int' ? 'an integer' : type === 'bytes' ? 'a string' : 'a list'}`)
  return v as FieldTypes[K]
}

function checkLength (n: number, what: string): number {
  if (n < 0) invalid(`${what} is negative (${n})`)
  if (n > MAX_TOTAL_SIZE) invalid(`${what} is larger than ${MAX_TOTAL_SIZE} bytes`)
  return n
}

function utf8 (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
}

// ---- Encoding ----

export interface InfoFields {
  name: string
  pieceLength: number
  pieces: Uint8Array
  private?: boolean
  /** One file of this many bytes; or `files`, several files in a folder named `name`. */
  length?: number
  files?: ReadonlyArray<{ path: readonly string[], length: number }>
}

/** The bencoded info dictionary (BEP 3; `private` per BEP 27). Nothing time- or machine-dependent goes in. */
export function encodeInfo (fields: InfoFields): Buffer {
  if ((fields.length === undefined) === (fields.files === undefined)) throw new TypeError('encodeInfo: exactly one of length and files')
  const info: Record<string, BEncodable | undefined> = {
    name: fields.name,
    'piece length': fields.pieceLength,
    pieces: fields.pieces,
    length: fields.length,
    files: fields.files?.map(f => ({ length: f.length, path: [...f.path] })),
    private: fields.private === true ? 1 : undefined
  }
  return bencode(info)
}

export interface MetainfoFields {
  /** The info dictionary's bytes, embedded as they are. */
  info: Uint8Array
  /** Announce URLs: the first is `announce`; with more than one, each is its own BEP 12 tier in `announce-list`. */
  trackers: readonly string[]
  comment?: string
  createdBy?: string
  /** Seconds since the epoch. */
  creationDate?: number
}

/** A .torrent file around the given info dictionary bytes. */
export function encodeMetainfo (fields: MetainfoFields): Buffer {
  const outer = bencode({
    announce: fields.trackers[0],
    'announce-list': fields.trackers.length > 1 ? fields.trackers.map(t => [t]) : undefined,
    comment: fields.comment,
    'created by': fields.createdBy,
    'creation date': fields.creationDate
  })
  // `info` sorts after every other key we write (BEP 3: keys in sorted order), so it goes last, its bytes untouched.
  return Buffer.concat([outer.subarray(0, outer.length - 1), Buffer.from('4:info'), fields.info, Buffer.from('e')])
}

// ---- Creating ----

export interface CreateMetainfoOptions {
  /** A file or a folder. */
  path: string
  /** Default: pieceLengthFor(total size). */
  pieceLength?: number
  trackers: readonly string[]
  private?: boolean
  comment?: string
  createdBy: string
  /** Seconds since the epoch; default now. Outside `info`, so it never changes the info hash. */
  creationDate?: number
  signal?: AbortSignal
  onProgress?: (hashed: number, total: number) => void
}

export interface CreatedMetainfo {
  torrent: Buffer
  infoHash: string
  info: ParsedInfo
  /** Each file's whole-file SHA-1, as hashed in the same pass. */
  files: HashedFile[]
}

/**
 * A .torrent for a file or a folder (see file-list.ts for what a folder contributes). The same content with the same
 * options always gives the same info hash.
 */
export async function createMetainfo (options: CreateMetainfoOptions): Promise<CreatedMetainfo> {
  const content = await listContent(options.path)
  const totalSize = content.files.reduce((sum, f) => sum + f.length, 0)
  if (totalSize === 0) {
    throw new StorageError('ERR_INPUT', `Nothing to put in a torrent: ${options.path} ${content.multiFile ? 'holds only empty files' : 'is empty'} (BitTorrent clients refuse torrents of 0 bytes)`)
  }
  if (totalSize > MAX_TOTAL_SIZE) throw new StorageError('ERR_INPUT', `${options.path} is larger than ${MAX_TOTAL_SIZE} bytes`)
  const pieceLength = options.pieceLength ?? pieceLengthFor(totalSize)
  if (!isPieceLength(pieceLength)) throw new ValidationError(`Piece length ${pieceLength} is not a power of two from 16 KiB to 16 MiB`)

  const digest = await hashContent(content.files, {
    pieceLength,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
  })
  const infoBytes = encodeInfo({
    name: content.name,
    pieceLength,
    pieces: digest.pieces,
    ...(options.private === true ? { private: true } : {}),
    ...(content.multiFile ? { files: content.files.map(f => ({ path: f.components, length: f.length })) } : { length: totalSize })
  })
  // Parse what we made: the same checks others' torrents get, and the ParsedInfo callers want.
  const info = parseInfoDict(infoBytes)
  const torrent = encodeMetainfo({
    info: infoBytes,
    trackers: options.trackers,
    createdBy: options.createdBy,
    creationDate: options.creationDate ?? Math.floor(Date.now() / 1000),
    ...(options.comment === undefined || options.comment === '' ? {} : { comment: options.comment })
  })
  return { torrent, infoHash: info.infoHash, info, files: digest.files }
}
