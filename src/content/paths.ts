/**
 * File paths that come from a torrent: a list of components (BEP 3 `path`, plus the `name`), written by whoever made
 * the torrent. Before one becomes a path on our disk it must be a plain relative path that cannot leave the output
 * folder on any platform we might run on: no `..` or `.`, no empty component, nothing absolute, no separator inside
 * a component (`/`, and `\` which Windows treats as one), no NUL, no drive letter (`C:`), no Windows device name
 * (`CON`, `NUL`, `COM1`, ... which open a device rather than a file).
 *
 * A component made only of dots and spaces (`...`, `. .`) is refused too: Windows trims trailing dots and spaces, so
 * `.. ` would become `..`. Other names Windows cannot store (`a:b`, `x?`) are not a way out of the folder, so they are
 * left to the file system to refuse.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { ProtocolError } from '../errors.js'

/** Windows device names, with or without an extension (`CON`, `con.txt`, `LPT1.log`). */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i
const DRIVE = /^[a-z]:/i

export interface PathProblem {
  /** `ERR_PATH_EMPTY`, `ERR_PATH_NUL`, `ERR_PATH_TRAVERSAL`, `ERR_PATH_DOT`, `ERR_PATH_ABSOLUTE`, `ERR_PATH_SEPARATOR`, `ERR_PATH_DRIVE` or `ERR_PATH_RESERVED`. */
  code: string
  why: string
}

/** What is wrong with the components as a relative path (see above), or undefined when nothing is. */
export function pathProblem (components: readonly string[]): PathProblem | undefined {
  if (components.length === 0) return { code: 'ERR_PATH_EMPTY', why: 'no components' }
  for (const [i, c] of components.entries()) {
    if (c === '') return { code: 'ERR_PATH_EMPTY', why: 'empty component' }
    if (c.includes('\0')) return { code: 'ERR_PATH_NUL', why: 'NUL character' }
    if (c === '..') return { code: 'ERR_PATH_TRAVERSAL', why: '".." would leave the folder' }
    if (c === '.') return { code: 'ERR_PATH_DOT', why: '"." component' }
    if (i === 0 && (c.startsWith('/') || c.startsWith('\\'))) return { code: 'ERR_PATH_ABSOLUTE', why: 'absolute path' }
    if (c.includes('/') || c.includes('\\')) return { code: 'ERR_PATH_SEPARATOR', why: `separator inside the component "${short(c)}"` }
    if (DRIVE.test(c)) return { code: 'ERR_PATH_DRIVE', why: `Windows drive letter in "${short(c)}"` }
    if (/^[. ]+$/.test(c)) return { code: 'ERR_PATH_DOT', why: `component "${c}" of only dots and spaces` }
    if (RESERVED.test(c.replace(/[. ]+$/, ''))) return { code: 'ERR_PATH_RESERVED', why: `"${short(c)}" is a Windows device name` }
  }
  return undefined
}

function short (c: string): string {
  return c.length > 64 ? c.slice(0, 64) + '…' : c
}

/**
 * The components as one relative path joined with `/`, after checking every component (see above). Throws a
 * ProtocolError whose code is the PathProblem's.
 */
export function safeRelativePath (components: readonly string[]): string {
  const problem = pathProblem(components)
  if (problem !== undefined) {
    const shown = JSON.stringify(components.slice(0, 8).map(short))
    throw new ProtocolError(problem.code, `Unsafe path in torrent ${shown}: ${problem.why}`)
  }
  return components.join('/')
}

/**
 * `rel` (a `/`-separated relative path, as safeRelativePath returns) resolved under `root`, guaranteed to be inside
 * it: throws a ProtocolError `ERR_PATH_OUTSIDE` otherwise. It checks the text of the path; it does not look at the
 * disk, so a symbolic link already inside `root` is the storage layer's business (it creates what it writes).
 */
export function resolveInside (root: string, rel: string): string {
  const base = resolve(root)
  if (rel === '' || isAbsolute(rel) || DRIVE.test(rel) || rel.includes('\0')) {
    throw new ProtocolError('ERR_PATH_OUTSIDE', `Path "${rel.slice(0, 200)}" is not a relative path inside ${base}`)
  }
  const full = resolve(base, ...rel.split('/'))
  const within = relative(base, full)
  if (within === '' || within === '..' || within.startsWith('..' + sep) || isAbsolute(within)) {
    throw new ProtocolError('ERR_PATH_OUTSIDE', `Path "${rel.slice(0, 200)}" would be outside ${base}`)
  }
  return full
}
