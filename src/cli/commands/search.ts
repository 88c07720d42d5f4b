/**
 * `p2pshare search [TEXT]`: the files of a tracker's catalogue whose name contains TEXT (case-insensitively; none:
 * every file), as a table for people or, with `--json`, one JSON object per file and line (JSON Lines) for scripts.
 */
import { searchFiles, type CatalogueFile, type CatalogueSearch } from '../../discovery/index.js'
import { formatBytes } from '../format.js'
import type { CommandContext } from '../io.js'
import type { SearchCommandOptions } from '../options.js'
import { terminalSafe, terminalSafeJson } from '../terminal-safe.js'

/** Widest NAME column; longer names are cut with an ellipsis (the full name is in --json). */
const MAX_NAME_WIDTH = 48

export async function searchCommand (text: string | undefined, options: SearchCommandOptions, ctx: CommandContext): Promise<number> {
  const search: CatalogueSearch = {
    q: text ?? '',
    limit: options.limit,
    offset: options.offset,
    ...(options.sort === undefined ? {} : { sort: options.sort }),
    ...(options.order === undefined ? {} : { order: options.order })
  }
  const result = await searchFiles(options.tracker, search, { signal: ctx.signal })
  if (options.json) {
    // One line per file whatever a name holds (JSON escapes newlines), and nothing a terminal would act on.
    for (const file of result.files) ctx.out(terminalSafeJson(file))
    return 0
  }
  const what = text === undefined || text === '' ? '' : ` match "${terminalSafe(text)}"`
  if (result.files.length === 0) {
    ctx.out(result.total === 0 ? `No files${what === '' ? ' in the catalogue' : what}.` : `No files past ${options.offset} (${result.total} in all${what === '' ? '' : ' that' + what}).`)
    return 0
  }
  for (const line of table(result.files)) ctx.out(line)
  const first = options.offset + 1
  const last = options.offset + result.files.length
  const shown = result.files.length === result.total ? `${result.total} file${result.total === 1 ? '' : 's'}` : `${first}-${last} of ${result.total} files`
  const more = last < result.total ? ` (--offset ${last} for more)` : ''
  ctx.out(`${shown}${what}${more}.`)
  return 0
}

/**
 * The table's lines: header, then one row per file. Seeders and leechers are '-' for a file with no info hash (no
 * BitTorrent swarm); PEERS counts every peer; FILE HASH is what `download` and `tracker remove` take (--json has the
 * info hash and magnet link too).
 */
export function table (files: readonly CatalogueFile[]): string[] {
  // Names (and hashes) come from the tracker, which may be anyone's: printed inert (terminal-safe.ts).
  const names = files.map((f) => cut(terminalSafe(f.file_name), MAX_NAME_WIDTH))
  const nameWidth = Math.max(4, ...names.map(width))
  const rows = files.map((f, i) => [
    pad(names[i] ?? '', nameWidth),
    formatBytes(f.file_size).padStart(10),
    count(f.seeders, f.info_hash).padStart(7),
    count(f.leechers, f.info_hash).padStart(8),
    String(f.completed ?? 0).padStart(9),
    String(f.peers_count).padStart(5),
    terminalSafe(f.file_hash)
  ].join('  '))
  const header = [pad('NAME', nameWidth), 'SIZE'.padStart(10), 'SEEDERS', 'LEECHERS', 'COMPLETED', 'PEERS', 'FILE HASH'].join('  ')
  return [header, ...rows]
}

function count (value: number | undefined, infoHash: string | undefined): string {
  return infoHash === undefined ? '-' : String(value ?? 0)
}

/** Characters, not UTF-16 units (an emoji is one). */
function width (text: string): number {
  return [...text].length
}

function cut (text: string, max: number): string {
  const chars = [...text]
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`
}

function pad (text: string, to: number): string {
  return text + ' '.repeat(Math.max(0, to - width(text)))
}
