/**
 * What a file or folder puts into a torrent, decided here once:
 *
 * - a file: itself, a single-file torrent named after it;
 * - a folder: every regular file below it, hidden ones included (nothing is skipped silently; Transmission and
 *   WebTorrent leave out dotfiles, libtorrent does not), in a deterministic order: sorted by path, component by
 *   component, comparing UTF-8 bytes, so the same folder gives the same info hash on any machine. Empty folders
 *   cannot be expressed in BEP 3 and are left out; empty files are kept.
 * - symbolic links: the path given is followed (it is what the user named), but a link *inside* a folder is refused
 *   with an error naming it. Following it could pull files from outside the folder into a torrent unnoticed, or loop;
 *   leaving it out would skip something silently. FIFOs, sockets and devices are refused the same way.
 * - every name must pass safeRelativePath, since that is what a downloader will check: we refuse to create a torrent
 *   that our own parser, or a careful client, would refuse.
 */
import type { Dirent, Stats } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { StorageError, systemErrorCode } from '../errors.js'
import { pathProblem } from './paths.js'

/** Most files one torrent may hold (the parser's limit, MAX_INFO_FILES). */
const MAX_LISTED_FILES = 100_000

export interface ListedFile {
  /** Where the file is on disk. */
  path: string
  /** Its path inside the torrent's folder (empty for a single-file torrent). */
  components: string[]
  length: number
}

export interface ListedContent {
  /** The torrent's `name`: the file's or folder's own name. */
  name: string
  multiFile: boolean
  files: ListedFile[]
}

export async function listContent (path: string): Promise<ListedContent> {
  const root = resolve(path)
  const name = basename(root)
  const info = await statInput(root, path)
  checkName([name], path)
  if (info.isFile()) return { name, multiFile: false, files: [{ path: root, components: [], length: info.size }] }
  if (!info.isDirectory()) throw new StorageError('ERR_INPUT', `Not a regular file or folder: ${path}`)
  const files: ListedFile[] = []
  await walk(root, [], files, path)
  if (files.length === 0) throw new StorageError('ERR_INPUT', `Nothing to put in a torrent: ${path} contains no files`)
  return { name, multiFile: true, files }
}

async function walk (dir: string, components: string[], out: ListedFile[], shown: string): Promise<void> {
  let entries: Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    throw new StorageError('ERR_INPUT', `Cannot read folder ${join(shown, ...components)}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
  const sorted = entries.map(e => ({ e, key: Buffer.from(e.name, 'utf8') })).sort((a, b) => Buffer.compare(a.key, b.key))
  for (const { e } of sorted) {
    const inner = [...components, e.name]
    const where = join(shown, ...inner)
    if (e.isSymbolicLink()) throw new StorageError('ERR_INPUT', `${where} is a symbolic link: links inside a folder are not followed (they could point outside it); replace it with what it points to, or remove it`)
    if (e.isDirectory()) {
      await walk(join(dir, e.name), inner, out, shown)
    } else if (e.isFile()) {
      checkName(inner, where)
      if (out.length >= MAX_LISTED_FILES) throw new StorageError('ERR_INPUT', `${shown} holds more than ${MAX_LISTED_FILES} files, more than one torrent may list`)
      const full = join(dir, e.name)
      out.push({ path: full, components: inner, length: (await statInput(full, where)).size })
    } else {
      throw new StorageError('ERR_INPUT', `${where} is not a regular file or folder (a FIFO, socket or device cannot be shared)`)
    }
  }
}

async function statInput (full: string, shown: string): Promise<Stats> {
  try {
    return await stat(full)
  } catch (err) {
    const code = systemErrorCode(err)
    throw new StorageError('ERR_INPUT', `Cannot read ${shown}: ${code === 'ENOENT' ? 'no such file or folder' : code ?? String(err)}`, { cause: err })
  }
}

function checkName (components: string[], shown: string): void {
  const problem = pathProblem(components)
  if (problem !== undefined) throw new StorageError('ERR_INPUT', `Cannot put ${shown} in a torrent: ${problem.why}`)
}
