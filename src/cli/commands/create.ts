/** `p2pshare create PATH`: write a .torrent (BEP 3) for a file or a folder; print its info hash and magnet link. */
import { randomBytes } from 'node:crypto'
import { rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, relative, resolve, sep, isAbsolute } from 'node:path'
import { createMetainfo, magnetLink } from '../../content/index.js'
import { StorageError, systemErrorCode } from '../../errors.js'
import { formatBytes } from '../format.js'
import type { CommandContext } from '../io.js'
import { CREATE_DEFAULT_TRACKERS, type CreateCommandOptions } from '../options.js'
import { terminalSafe } from '../terminal-safe.js'

export async function createCommand (path: string, options: CreateCommandOptions, ctx: CommandContext): Promise<number> {
  const source = resolve(path)
  const name = basename(source)
  const out = resolve(options.out ?? `${name}.torrent`)
  await checkOutput(out, source, options.force)
  const trackers = options.tracker.length > 0 ? [...new Set(options.tracker)] : CREATE_DEFAULT_TRACKERS
  // A torrent for a private tracker (its URL carries a passkey) is private (BEP 27), asked for or not.
  const isPrivate = options.private || trackers.some(hasPasskey)

  const progress = hashingProgress(ctx)
  let created: Awaited<ReturnType<typeof createMetainfo>>
  try {
    created = await createMetainfo({
      path,
      trackers,
      createdBy: options.createdBy,
      signal: ctx.signal,
      onProgress: progress.update,
      ...(options.pieceLength === undefined ? {} : { pieceLength: options.pieceLength }),
      ...(isPrivate ? { private: true } : {}),
      ...(options.comment === undefined ? {} : { comment: options.comment })
    })
  } finally {
    progress.done()
  }
  await writeOutput(out, created.torrent, options.force)

  const { info } = created
  ctx.out(`Created: ${options.out ?? relative(process.cwd(), out)}`)
  ctx.out(`Name: ${terminalSafe(info.name)}`)
  ctx.out(`Size: ${formatBytes(info.totalSize)} (${info.totalSize} bytes) in ${info.files.length} file(s)`)
  ctx.out(`Pieces: ${info.pieceCount} × ${formatBytes(info.pieceLength)}`)
  if (isPrivate) ctx.out(`Private: yes (BEP 27: peers from its trackers only${options.private ? '' : '; the tracker URL carries a passkey'})`)
  ctx.out(`Info hash: ${created.infoHash}`)
  ctx.out(`Magnet: ${magnetLink({ infoHash: created.infoHash, name: info.name, trackers })}`)
  return 0
}

/** Refuse before hashing (which can take minutes) what writing would refuse afterwards. */
async function checkOutput (out: string, source: string, force: boolean): Promise<void> {
  let exists: boolean
  try {
    exists = (await stat(out)).isFile()
    if (!exists) throw new StorageError('ERR_OUTPUT', `Cannot write ${out}: it is a folder`)
  } catch (err) {
    if (err instanceof StorageError) throw err
    if (systemErrorCode(err) !== 'ENOENT') throw new StorageError('ERR_OUTPUT', `Cannot write ${out}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
    exists = false
  }
  if (!exists) return
  if (!force) throw new StorageError('ERR_OUTPUT', `${out} already exists: use --force to overwrite it, or -o to write elsewhere`)
  const inside = relative(source, out)
  if (inside === '' || (!inside.startsWith('..' + sep) && inside !== '..' && !isAbsolute(inside))) {
    throw new StorageError('ERR_OUTPUT', `${out} is part of the content the torrent describes: write it elsewhere with -o`)
  }
}

async function writeOutput (out: string, data: Buffer, force: boolean): Promise<void> {
  try {
    if (!force) {
      await writeFile(out, data, { flag: 'wx' })
      return
    }
    // Replace atomically: a reader never sees half a torrent.
    const temp = `${out}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(temp, data, { flag: 'wx' })
      await rename(temp, out)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
  } catch (err) {
    if (systemErrorCode(err) === 'EEXIST') throw new StorageError('ERR_OUTPUT', `${out} already exists: use --force to overwrite it, or -o to write elsewhere`)
    throw new StorageError('ERR_OUTPUT', `Cannot write ${out}: ${systemErrorCode(err) ?? String(err)}`, { cause: err })
  }
}

/** "Hashing 42% (430.0 MiB of 1.0 GiB)" redrawn on a terminal's stderr; silent otherwise (the result lines say it all). */
function hashingProgress (ctx: CommandContext): { update: (hashed: number, total: number) => void, done: () => void } {
  if (ctx.io.stderr.isTTY !== true) return { update: () => {}, done: () => {} }
  let last = 0
  let drawn = false
  return {
    update: (hashed, total) => {
      const now = Date.now()
      if (now - last < 200 && hashed < total) return
      last = now
      drawn = true
      ctx.io.stderr.write(`\rHashing ${total === 0 ? 100 : Math.floor(hashed * 100 / total)}% (${formatBytes(hashed)} of ${formatBytes(total)})\x1b[K`)
    },
    done: () => { if (drawn) ctx.io.stderr.write('\r\x1b[K') }
  }
}

/** Whether a tracker URL carries a private tracker's passkey (`?passkey=KEY`). */
function hasPasskey (url: string): boolean {
  try {
    return (new URL(url).searchParams.get('passkey') ?? '') !== ''
  } catch {
    return false
  }
}
