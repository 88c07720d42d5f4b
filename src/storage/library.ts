/**
 * The content-addressed library: `downloads/p2p_share/<file hash>`, as the seed stores files.
 */
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { hashFile } from '../content/index.js'
import { StorageError, systemErrorCode } from '../errors.js'

export function libraryPath (dir: string, fileHash: string): string {
  return join(dir, fileHash)
}

/** Make sure the output folder exists and is a folder. */
export async function ensureDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
  } catch (err) {
    throw new StorageError('ERR_OUTPUT', `Cannot create folder ${dir}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
}

/**
 * True if `<dir>/<fileHash>` exists with this size and its bytes hash to `fileHash`. A file of the right name but
 * wrong content is not trusted (and is left for the caller to replace).
 */
export async function hasVerifiedCopy (dir: string, fileHash: string, size: number, signal?: AbortSignal): Promise<boolean> {
  const path = libraryPath(dir, fileHash)
  try {
    const info = await stat(path)
    if (!info.isFile() || info.size !== size) return false
  } catch {
    return false
  }
  const digest = await hashFile(path, signal === undefined ? {} : { signal })
  return digest.sha1 === fileHash
}

/**
 * Keep a copy of `source` as `<dir>/<fileHash>`, as the seed's share does. Copied to a temporary name and renamed,
 * so the library never holds a half-copied file under a hash name. Skipped when a copy of that size is there.
 */
export async function saveCopy (source: string, dir: string, fileHash: string, size: number): Promise<string> {
  const target = libraryPath(dir, fileHash)
  await ensureDir(dir)
  try {
    const info = await stat(target)
    if (info.isFile() && info.size === size) return target
  } catch {
    // not there yet
  }
  const temp = `${target}.copy-${process.pid}`
  try {
    await copyFile(source, temp)
    await rename(temp, target)
  } catch (err) {
    await rm(temp, { force: true })
    throw new StorageError('ERR_OUTPUT', `Cannot save a copy to ${target}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
  return target
}
