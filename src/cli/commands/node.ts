/**
 * `p2pshare node`: the long-running client. One session holding many torrents (state in --data-dir), its REST API,
 * event stream and Transmission RPC on --api-port (127.0.0.1 unless told otherwise). Runs until Ctrl+C or SIGTERM,
 * then announces `stopped` and writes the resume data of every torrent.
 */
import { isIP } from 'node:net'
import { P2PError, ValidationError } from '../../errors.js'
import { buildNodeApp, transmissionRpc } from '../../api/index.js'
import { Session } from '../../session/index.js'
import { untilAborted, type CommandContext } from '../io.js'
import type { NodeCommandOptions } from '../options.js'
import { terminalSafe } from '../terminal-safe.js'

export async function nodeCommand (options: NodeCommandOptions, ctx: CommandContext): Promise<number> {
  const auth = parseAuth(options.apiAuth)
  if (!isLoopback(options.apiBind) && auth === undefined && options.apiToken === undefined) {
    throw new ValidationError(`The API would be reachable from the network on ${options.apiBind} with no password: add --api-auth USER:PASS (or --api-token), or bind it to 127.0.0.1`)
  }
  const session = await Session.open({
    dataDir: options.dataDir,
    ...(options.downloadDir === undefined ? {} : { downloadDir: options.downloadDir }),
    port: options.port,
    host: options.host,
    ...(options.tracker === undefined ? {} : { trackerUrl: options.tracker }),
    settings: {
      ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit === 0 ? null : options.uploadLimit * 1024 }),
      ...(options.downloadLimit === undefined ? {} : { downloadLimit: options.downloadLimit === 0 ? null : options.downloadLimit * 1024 }),
      ...(options.maxActiveDownloads === undefined ? {} : { maxActiveDownloads: options.maxActiveDownloads }),
      ...(options.maxActiveSeeds === undefined ? {} : { maxActiveSeeds: options.maxActiveSeeds }),
      ...(options.watchDir === undefined ? {} : { watchDir: options.watchDir })
    },
    ...(ctx.verbose ? { onLog: (line: string) => { ctx.err(line) } } : {})
  })
  let app: Awaited<ReturnType<typeof buildNodeApp>> | undefined
  try {
    app = await buildNodeApp({
      session,
      port: options.apiPort,
      ...(auth === undefined ? {} : { auth }),
      ...(options.apiToken === undefined ? {} : { token: options.apiToken }),
      // A specific address it binds is a name it answers to (a LAN address given to --api-bind).
      allowedHosts: [...options.apiHost, ...(options.apiBind === '0.0.0.0' || options.apiBind === '::' || isLoopback(options.apiBind) ? [] : [options.apiBind.includes(':') ? `[${options.apiBind}]` : options.apiBind])],
      csrfExemptPrefixes: ['/transmission/'],
      plugins: [transmissionRpc({ session })]
    })
    try {
      await app.listen({ host: options.apiBind, port: options.apiPort })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE') throw new P2PError('ERR_PORT_IN_USE', `API port ${options.apiPort} is already in use (another node or transmission-daemon?): choose another with --api-port`)
      throw new P2PError('ERR_LISTEN', `Cannot listen on ${options.apiBind}:${options.apiPort}: ${code ?? String(err)}`)
    }
    const address = app.server.address()
    const apiPort = typeof address === 'object' && address !== null ? address.port : options.apiPort
    const host = options.apiBind.includes(':') ? `[${options.apiBind}]` : options.apiBind
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${apiPort}`
    const list = session.list()
    ctx.out(`p2pshare node running: BitTorrent on port ${session.port}, ${list.length} torrent${list.length === 1 ? '' : 's'}`)
    ctx.out(`API: ${url}/api/v1  Transmission RPC: ${url}/transmission/rpc  Events: ${url}/api/v1/events`)
    ctx.out(terminalSafe(`State: ${options.dataDir}  Downloads: ${session.settings.downloadDir}`))
    ctx.out('Press Ctrl+C to stop.')
    await untilAborted(ctx.signal)
    ctx.out('Stopping: telling trackers, writing resume data...')
  } finally {
    await app?.close()
    await session.close()
  }
  ctx.out('Node stopped.')
  return 0
}

function parseAuth (value: string | undefined): { user: string, pass: string } | undefined {
  if (value === undefined) return undefined
  const at = value.indexOf(':')
  if (at <= 0 || at === value.length - 1) throw new ValidationError('--api-auth takes USER:PASS (both non-empty)')
  return { user: value.slice(0, at), pass: value.slice(at + 1) }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}
