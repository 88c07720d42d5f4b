/**
 * The seed's chunk layout. Chunk `i` covers bytes [i * chunkSize, (i + 1) * chunkSize) of the file; the last one
 * is short; an empty file has no chunks (ORIGINAL-PYTHON.md).
 */
import { PUBLISHED_CHUNK_SIZE, README_CHUNK_SIZE } from '../constants.js'

export type LegacyDialect = 'published' | 'readme'

export const DIALECT_CHUNK_SIZE: Readonly<Record<LegacyDialect, number>> = {
  published: PUBLISHED_CHUNK_SIZE,
  readme: README_CHUNK_SIZE
}

export function chunkCount (fileSize: number, chunkSize: number): number {
  return Math.ceil(fileSize / chunkSize)
}

/** Byte range of chunk `index`; `length` is 0 when the chunk lies past the end of the file. */
export function chunkRange (index: number, fileSize: number, chunkSize: number): { offset: number, length: number } {
  const offset = index * chunkSize
  return { offset, length: Math.max(0, Math.min(chunkSize, fileSize - offset)) }
}

/**
 * The chunk size a registered peer uses. A peer of ours says it (`chunk_size`); the seed's peers do not, so it is
 * read off the chunk ids they list: an id at or past the 1 MiB chunk count, or as many ids as there are 1 KiB
 * chunks (when that differs from the 1 MiB count), can only be the 1 KiB README dialect. Otherwise, the published
 * 1 MiB dialect. For a file of at most 1 KiB both readings agree: chunk 0 is the whole file.
 */
export function inferChunkSize (fileSize: number, chunks: readonly number[], declared?: number): number {
  if (declared === PUBLISHED_CHUNK_SIZE || declared === README_CHUNK_SIZE) return declared
  const published = chunkCount(fileSize, PUBLISHED_CHUNK_SIZE)
  const readme = chunkCount(fileSize, README_CHUNK_SIZE)
  if (readme === published) return PUBLISHED_CHUNK_SIZE
  let max = -1
  for (const id of chunks) if (id > max) max = id
  if (max >= published || chunks.length === readme) return README_CHUNK_SIZE
  return PUBLISHED_CHUNK_SIZE
}
