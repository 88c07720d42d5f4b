/**
 * Writing under a folder the user chose without ever following a symbolic link we did not create, and without
 * replacing what is already there. The output folder itself may be a link (a user's ~/Downloads often is); every
 * path component we create below it is checked with `lstat` and made one at a time, and files are opened with
 * `O_NOFOLLOW`, so a planted `<name>.part -> /home/victim/.bashrc` (or a linked folder inside the tree) is refused
 * rather than written through.
 */
import { constants, lstatSync, mkdirSync, openSync } from 'node:fs'
import { lstat, rename, rm } from 'node:fs/promises'
import { relative, sep } from 'node:path'
import { StorageError, systemErrorCode } from '../errors.js'

/** Linux and macOS have it; elsewhere 0 (no protection beyond the lstat checks). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/**
 * Make `dir` (a folder at or below `root`) and every missing folder between them, refusing any existing component
 * below `root` that is a symbolic link or not a folder. `root` itself is made if missing, as `mkdir -p` would.
 */
export function makeDirsInside (root: string, dir: string): void {
  const rel = relative(root, dir)
  if (rel.startsWith('..') || rel.startsWith(sep)) throw new StorageError('ERR_PATH_OUTSIDE', `${dir} is outside ${root}`)
  try {
    mkdirSync(root, { recursive: true })
  } catch (err) {
    throw new StorageError('ERR_OUTPUT', `Cannot create folder ${root}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
  let at = root
  for (const part of rel === '' ? [] : rel.split(sep)) {
    at = `${at}${sep}${part}`
    try {
      mkdirSync(at)
      continue
    } catch (err) {
      if (systemErrorCode(err) !== 'EEXIST') throw new StorageError('ERR_OUTPUT', `Cannot create folder ${at}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
    }
    const info = lstatSync(at)
    if (info.isSymbolicLink()) throw symlinkRefused(at)
    if (!info.isDirectory()) throw new StorageError('ERR_OUTPUT', `Cannot create folder ${at}: a file of that name is in the way`)
  }
}

/**
 * Open a file for reading (`r`) or for writing (`rw`, created if missing, existing bytes kept) without following a
 * symbolic link at its own name. Callers check the folders above it with `makeDirsInside` / `assertNoLinksInside`.
 */
export function openNoFollow (path: string, mode: 'r' | 'rw'): number {
  const flags = mode === 'r' ? constants.O_RDONLY : constants.O_RDWR | constants.O_CREAT
  try {
    return openSync(path, flags | O_NOFOLLOW, 0o666)
  } catch (err) {
    // ELOOP is what O_NOFOLLOW gives for a link; a link that lstat sees is reported the same way.
    if (systemErrorCode(err) === 'ELOOP' || isLinkSync(path)) throw symlinkRefused(path)
    throw err
  }
}

/** Refuse when any existing component of `path` below `root` (the file itself included) is a symbolic link. */
export function assertNoLinksInside (root: string, path: string): void {
  const rel = relative(root, path)
  if (rel.startsWith('..') || rel.startsWith(sep)) throw new StorageError('ERR_PATH_OUTSIDE', `${path} is outside ${root}`)
  let at = root
  for (const part of rel === '' ? [] : rel.split(sep)) {
    at = `${at}${sep}${part}`
    if (isLinkSync(at)) throw symlinkRefused(at)
  }
}

/** What is at `path`, without following a link there: missing, a link, a folder, or another file. */
export async function pathKind (path: string): Promise<'missing' | 'link' | 'dir' | 'file'> {
  try {
    const info = await lstat(path)
    return info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : 'file'
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return 'missing'
    throw new StorageError('ERR_OUTPUT', `Cannot inspect ${path}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
}

/**
 * Rename a verified download (`from`, its `.part`) onto its final name. Whatever is at `to` stays untouched unless
 * `overwrite` (then it is removed first, a link as a link, never what it points to); otherwise this fails with
 * `ERR_OUTPUT_EXISTS` and the verified download is left at `from`.
 */
export async function moveIntoPlace (from: string, to: string, overwrite: boolean): Promise<void> {
  // Checked, then renamed: Node has no renameat2(RENAME_NOREPLACE), so something created at `to` in the instant
  // between the two would be replaced. Only a local process racing us could do that; a download refuses an
  // existing target before it starts fetching as well.
  const kind = await pathKind(to)
  if (kind !== 'missing') {
    if (!overwrite) throw existsRefused(to, `the verified download is kept at ${from}`)
    await rm(to, { recursive: true, force: true })
  }
  try {
    await rename(from, to)
  } catch (err) {
    throw new StorageError('ERR_OUTPUT', `Cannot rename ${from} to ${to}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
}

/** The error for an existing, different file or folder where a download would go. */
export function existsRefused (path: string, detail: string): StorageError {
  return new StorageError('ERR_OUTPUT_EXISTS', `${path} already exists and is not this download's content; not replacing it (${detail}; move it away, or pass --overwrite)`)
}

function symlinkRefused (path: string): StorageError {
  return new StorageError('ERR_PATH_SYMLINK', `${path} is a symbolic link; refusing to follow it (remove it, or choose another --out folder)`)
}

function isLinkSync (path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
