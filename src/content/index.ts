export { isHex40, parseFileHash } from './identifiers.js'
export { chunkCount, chunkRange, inferChunkSize, DIALECT_CHUNK_SIZE, type LegacyDialect } from './chunks.js'
export { hashFile, SequentialHasher, type FileDigest, type HashFileOptions } from './hash.js'
