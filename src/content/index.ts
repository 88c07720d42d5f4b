export { isHex40, parseFileHash } from './identifiers.js'
export { chunkCount, chunkRange, inferChunkSize, DIALECT_CHUNK_SIZE, type LegacyDialect } from './chunks.js'
export { hashFile, SequentialHasher, type FileDigest, type HashFileOptions } from './hash.js'
export { magnetLink, parseMagnet, isMagnet, type Magnet } from './magnet.js'
export { bdecode, bencode, bget, isBDict, BENCODE_MAX_DEPTH, type BValue, type BDict, type BEncodable, type Decoded, type DecodeOptions } from './bencode.js'
export { Bitfield } from './bitfield.js'
export { pieceLengthFor, pieceCountFor, isPieceLength, parsePieceLength, MIN_PIECE_LENGTH, MAX_PIECE_LENGTH } from './piece-length.js'
export { hashContent, PieceHasher, HASH_BLOCK_BYTES, WORKER_MIN_BYTES, type ContentFile, type HashedFile, type ContentDigest, type HashContentOptions } from './piece-hasher.js'
export { safeRelativePath, resolveInside, pathProblem, type PathProblem } from './paths.js'
export { listContent, type ListedContent, type ListedFile } from './file-list.js'
export {
  parseMetainfo, parseInfoDict, encodeInfo, encodeMetainfo, createMetainfo, infoHashOf,
  MAX_METAINFO_BYTES, MAX_PARSED_PIECE_LENGTH, MAX_INFO_FILES, MAX_TOTAL_SIZE,
  type Metainfo, type ParsedInfo, type InfoFile, type InfoFields, type MetainfoFields, type CreateMetainfoOptions, type CreatedMetainfo
} from './metainfo.js'
