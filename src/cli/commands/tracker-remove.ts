/**
 * `p2pshare tracker remove <file hash | info hash>`: takes a file out of a tracker's catalogue, with its registered
 * peers, in one transaction. Works while the tracker runs on the same file (SQLite WAL): its next `/files` or
 * `/lookup` no longer has the file. Peers announcing the info hash keep their swarm (memory), unlisted.
 */
import { isHex40 } from '../../content/index.js'
import { P2PError, ValidationError } from '../../errors.js'
import { TrackerStore } from '../../tracker/store.js'
import type { CommandContext } from '../io.js'
import type { TrackerRemoveOptions } from '../options.js'
import { terminalSafe } from '../terminal-safe.js'

export async function trackerRemoveCommand (hash: string, options: TrackerRemoveOptions, ctx: CommandContext): Promise<number> {
  if (!isHex40(hash)) throw new ValidationError(`Not a file hash or info hash: ${hash} (40 hexadecimal characters)`)
  const store = TrackerStore.openExisting(options.db)
  let removed
  try {
    removed = store.removeFile(hash)
  } finally {
    store.close()
  }
  if (removed === undefined) throw new P2PError('ERR_NOT_FOUND', `No file with hash ${hash.toLowerCase()} in ${options.db}`)
  const { file, peersRemoved } = removed
  const hashes = `file hash ${file.fileHash}${file.infoHash === undefined ? '' : `, info hash ${file.infoHash}`}`
  ctx.out(`Removed ${terminalSafe(file.fileName)} (${hashes}) and its ${peersRemoved} registered peer${peersRemoved === 1 ? '' : 's'} from ${options.db}.`)
  return 0
}
