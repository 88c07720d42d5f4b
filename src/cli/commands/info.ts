/** `p2pshare info TORRENT|MAGNET`: what a .torrent file or a magnet link says, for people or (`--json`) scripts. */
import { open } from 'node:fs/promises'
import { isHex40, isMagnet, magnetLink, MAX_METAINFO_BYTES, parseMagnet, parseMetainfo, type Magnet, type Metainfo } from '../../content/index.js'
import { isP2PError, StorageError, systemErrorCode } from '../../errors.js'
import { formatBytes } from '../format.js'
import type { CommandContext } from '../io.js'
import type { InfoCommandOptions } from '../options.js'
import { terminalSafe, terminalSafeJson } from '../terminal-safe.js'

export async function infoCommand (target: string, options: InfoCommandOptions, ctx: CommandContext): Promise<number> {
  if (isMagnet(target)) {
    printMagnet(parseMagnet(target), options, ctx)
    return 0
  }
  const bytes = await readTorrent(target)
  if (bytes === undefined) {
    // Not a file, but an info hash: as good as a magnet link without a name.
    printMagnet({ infoHash: target.toLowerCase(), trackers: [] }, options, ctx)
    return 0
  }
  printTorrent(parseTorrent(target, bytes), options, ctx)
  return 0
}

/**
 * A .torrent file, read and checked (`download FILE.torrent` does so before it starts): what cannot be used is one
 * line naming the file, `Cannot read x.torrent: no such file` or `x.torrent is not a valid torrent file: <reason>`
 * (ERR_INPUT, exit 9).
 */
export async function loadTorrentFile (path: string): Promise<Metainfo> {
  const bytes = await readTorrent(path, { infoHash: false })
  if (bytes === undefined) throw new StorageError('ERR_INPUT', `Cannot read ${path}: no such file`)
  return parseTorrent(path, bytes)
}

function parseTorrent (path: string, bytes: Buffer): Metainfo {
  try {
    return parseMetainfo(bytes)
  } catch (err) {
    if (!isP2PError(err)) throw err
    throw new StorageError('ERR_INPUT', `${path} is not a valid torrent file: ${err.message.replace(/^Invalid torrent: /, '')}`, { cause: err })
  }
}

/** The file's bytes; undefined when there is no such file and `target` is an info hash (unless told it is not one). */
async function readTorrent (target: string, { infoHash = true } = {}): Promise<Buffer | undefined> {
  let handle
  try {
    handle = await open(target, 'r')
  } catch (err) {
    const code = systemErrorCode(err)
    if (code === 'ENOENT' && infoHash && isHex40(target)) return undefined
    throw new StorageError('ERR_INPUT', `Cannot read ${target}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`, { cause: err })
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new StorageError('ERR_INPUT', `Not a torrent file: ${target} is not a regular file`)
    if (info.size > MAX_METAINFO_BYTES) throw new StorageError('ERR_INPUT', `Not a torrent file: ${target} is larger than ${MAX_METAINFO_BYTES} bytes`)
    return await handle.readFile()
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw new StorageError('ERR_INPUT', `Cannot read ${target}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  } finally {
    await handle.close()
  }
}

function printMagnet (magnet: Magnet, options: InfoCommandOptions, ctx: CommandContext): void {
  const link = magnetLink(magnet)
  if (options.json) {
    ctx.out(terminalSafeJson({ info_hash: magnet.infoHash, name: magnet.name ?? null, magnet: link, trackers: magnet.trackers, metadata: false }))
    return
  }
  // Everything but the hashes and the (percent-encoded) link is someone else's text: printed inert (terminal-safe.ts).
  if (magnet.name !== undefined) ctx.out(`Name: ${terminalSafe(magnet.name)}`)
  ctx.out(`Info hash: ${magnet.infoHash}`)
  ctx.out(`Magnet: ${link}`)
  lines(ctx, 'Trackers', magnet.trackers)
  ctx.out('Size, pieces and files: not in a magnet link; they come from peers (BEP 9 metadata)')
}

function printTorrent (m: Metainfo, options: InfoCommandOptions, ctx: CommandContext): void {
  const { info } = m
  const link = magnetLink({ infoHash: m.infoHash, name: info.name, trackers: m.trackers })
  if (options.json) {
    // The same JSON, with the controls JSON leaves as they are (C1, bidi) escaped too: safe on a terminal.
    ctx.out(terminalSafeJson({
      name: info.name,
      info_hash: m.infoHash,
      magnet: link,
      total_size: info.totalSize,
      piece_length: info.pieceLength,
      piece_count: info.pieceCount,
      private: info.private,
      hybrid: info.hybrid,
      files: info.files.map(f => ({ path: f.path, length: f.length, ...(f.padding ? { padding: true } : {}) })),
      trackers: m.trackers,
      created_by: m.createdBy ?? null,
      creation_date: m.creationDate ?? null,
      comment: m.comment ?? null,
      metadata: true
    }))
    return
  }
  // Names, paths, trackers, creator and comment are the torrent maker's text: printed inert (terminal-safe.ts).
  ctx.out(`Name: ${terminalSafe(info.name)}`)
  ctx.out(`Info hash: ${m.infoHash}${info.hybrid ? ' (v1; a hybrid v1+v2 torrent)' : ''}`)
  ctx.out(`Magnet: ${link}`)
  ctx.out(`Size: ${formatBytes(info.totalSize)} (${info.totalSize} bytes)`)
  ctx.out(`Pieces: ${info.pieceCount} × ${formatBytes(info.pieceLength)} (${info.pieceLength} bytes)`)
  ctx.out(`Private: ${info.private ? 'yes (BEP 27: trackers only, no DHT or peer exchange)' : 'no'}`)
  const real = info.files.filter(f => !f.padding)
  const padding = info.files.length - real.length
  ctx.out(`Files: ${real.length}${padding > 0 ? ` (and ${padding} padding file(s), not stored)` : ''}`)
  for (const f of real) ctx.out(`  ${formatBytes(f.length).padStart(10)}  ${terminalSafe(f.path)}`)
  lines(ctx, 'Trackers', m.trackers)
  if (m.createdBy !== undefined) ctx.out(`Created by: ${terminalSafe(m.createdBy)}`)
  if (m.creationDate !== undefined) ctx.out(`Created on: ${dateText(m.creationDate)}`)
  if (m.comment !== undefined) ctx.out(`Comment: ${terminalSafe(m.comment)}`)
}

function lines (ctx: CommandContext, title: string, items: readonly string[]): void {
  if (items.length === 0) {
    ctx.out(`${title}: none`)
    return
  }
  ctx.out(`${title}:`)
  for (const item of items) ctx.out(`  ${terminalSafe(item)}`)
}

function dateText (seconds: number): string {
  const d = new Date(seconds * 1000)
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString().replace('.000Z', 'Z')
}
