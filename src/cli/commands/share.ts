/**
 * `p2pshare share FILE`: the seed's `--share`. Prints the seed's lines, plus the file's BitTorrent info hash and magnet
 * link (the same as `create FILE` gives), then serves until Ctrl+C.
 */
import { formatBytes } from '../format.js'
import { trackerBaseUrl } from '../../discovery/index.js'
import { stat } from 'node:fs/promises'
import { defaultAdvertiseIp, SharedFolder, SharingPeer } from '../../node/index.js'
import { RateLimiter } from '../../swarm/index.js'
import { untilAborted, type CommandContext } from '../io.js'
import type { ShareCommandOptions } from '../options.js'
import { terminalSafe } from '../terminal-safe.js'

export async function shareCommand (file: string, options: ShareCommandOptions, ctx: CommandContext): Promise<number> {
  if (await isFolder(file)) return await shareFolderCommand(file, options, ctx)
  const base = trackerBaseUrl(options.tracker)
  const peer = await SharingPeer.start({
    path: file,
    port: options.port,
    host: options.host,
    ip: options.ip ?? defaultAdvertiseIp(base),
    // As typed, not the base URL: a private tracker's ?passkey= goes with every request and announce.
    trackerUrl: options.tracker,
    dialect: options.dialect,
    libraryDir: options.library,
    signal: ctx.signal,
    ...(options.uploadLimit === undefined || options.uploadLimit === 0 ? {} : { uploadLimit: new RateLimiter(options.uploadLimit * 1024) }),
    ...(ctx.verbose ? { onRequest: (outcome: string, remote: string) => { ctx.err(`request from ${remote}: ${outcome}`) }, onLog: (m: string) => { ctx.err(m) } } : {})
  })
  const { info } = peer
  ctx.out(`Sharing file: ${file}`)
  ctx.out(`File size: ${info.size} bytes`)
  ctx.out(`File hash: ${info.fileHash}`)
  ctx.out(`Chunks: ${info.chunks} (${info.chunkSize === 1024 ? '1 KiB, README dialect' : '1 MiB, published dialect'})`)
  if (info.infoHash !== undefined && info.magnet !== undefined) {
    ctx.out(`Info hash: ${info.infoHash}`)
    ctx.out(`Magnet: ${info.magnet}`)
  } else {
    ctx.out(`Info hash: none (${info.size === 0 ? 'an empty file cannot be a torrent' : 'its name cannot be a torrent\'s name'})`)
  }
  ctx.out('')
  if ('notRegistered' in info.registration) {
    ctx.out(`⚠️  Not registered: the tracker has no /register (a BitTorrent-only tracker?); sharing over BitTorrent only (${terminalSafe(info.registration.notRegistered)})`)
  } else {
    // The tracker's own words.
    ctx.out(`✅ Registered with tracker (${terminalSafe(info.registration.message)}; ${info.registration.peers_count} peer(s))`)
  }
  ctx.out(`Saved copy to: ${info.copyPath}`)
  ctx.out(`Listening for chunk requests on ${info.listening.host}:${info.listening.port}`)
  ctx.out('Peer is now online. Press Ctrl+C to stop.')
  await untilAborted(ctx.signal)
  await peer.close()
  ctx.out(`Stopped sharing (${peer.stats.served} chunk(s) served, ${formatBytes(peer.uploaded)} uploaded over BitTorrent).`)
  return 0
}

async function isFolder (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/**
 * `share FOLDER`: the folder as a multi-file torrent over BitTorrent, until Ctrl+C. Not registered in the catalogue:
 * the seed's chunk protocol (GET_CHUNK) covers single files only; the magnet link is how others fetch it.
 */
async function shareFolderCommand (path: string, options: ShareCommandOptions, ctx: CommandContext): Promise<number> {
  const shared = await SharedFolder.start({
    path,
    port: options.port,
    host: options.host,
    trackerUrl: options.tracker,
    createdBy: 'p2pshare',
    signal: ctx.signal,
    ...(options.uploadLimit === undefined || options.uploadLimit === 0 ? {} : { uploadLimit: new RateLimiter(options.uploadLimit * 1024) }),
    ...(ctx.verbose ? { onLog: (m: string) => { ctx.err(m) } } : {})
  })
  const { info } = shared
  ctx.out(`Sharing folder: ${terminalSafe(path)}`)
  ctx.out(`Files: ${info.files}, ${formatBytes(info.size)} (${info.size} bytes)`)
  ctx.out(`Info hash: ${info.infoHash}`)
  ctx.out(`Magnet: ${info.magnet}`)
  ctx.out('')
  ctx.out('⚠️  Over BitTorrent only: the seed\'s chunk protocol (GET_CHUNK) covers single files, so a folder is not in the')
  ctx.out('   tracker\'s catalogue; download it with the magnet link above (p2pshare download \'magnet:?...\').')
  ctx.out(`Listening for BitTorrent peers on ${info.listening.host}:${info.listening.port}`)
  ctx.out('Peer is now online. Press Ctrl+C to stop.')
  await untilAborted(ctx.signal)
  await shared.close()
  ctx.out(`Stopped sharing (${formatBytes(shared.uploaded)} uploaded over BitTorrent).`)
  return 0
}
