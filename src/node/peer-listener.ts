/**
 * The peer's one TCP listener. The first bytes of each connection decide its protocol; `GET_CHUNK` requests are
 * served in the dialect this peer registered with. Bounded: connections in total and per address, bytes and time
 * to send a request, time to read a reply.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { LegacyDialect } from '../content/index.js'
import {
  LEGACY_MAX_CONNECTIONS, LEGACY_MAX_CONNECTIONS_PER_IP, LEGACY_MAX_REQUEST_BYTES, LEGACY_REQUEST_GRACE_MS, LEGACY_REQUEST_TIMEOUT_MS
} from '../constants.js'
import { listenError, P2PError } from '../errors.js'
import { looksComplete, moveToUserBuffer, serveChunkRequest, sniffProtocol, type ChunkSource, type LegacyOutcome, type MovedSocket, type Throttle } from '../wire/index.js'

export interface PeerListenerOptions {
  host: string
  port: number
  source: ChunkSource
  dialect: LegacyDialect
  maxConnections?: number
  maxConnectionsPerIp?: number
  requestTimeoutMs?: number
  /** BitTorrent connections: the transfer for an info hash, if we have one. */
  torrents?: (infoHash: Buffer) => InboundTorrent | undefined
  /** Upload limit for `GET_CHUNK` replies (the same limiter as the BitTorrent uploads, so one total holds). */
  uploadLimit?: Throttle
  /** Called once per finished legacy request (for logs and tests). */
  onRequest?: (outcome: LegacyOutcome, remote: string) => void
}

export interface InboundTorrent {
  /** `reads` is given when the socket reads into a shared buffer: set the reader there instead of a 'data' listener. */
  attachInbound: (socket: Socket, initial: Uint8Array, reads?: MovedSocket) => void
}

/** Bytes of a BitTorrent handshake up to the end of its info hash: enough to route the connection. */
const BT_ROUTE_BYTES = 48

export interface ListenerStats {
  open: number
  served: number
  refused: number
}

export class PeerListener {
  readonly #options: PeerListenerOptions
  readonly #server: Server
  readonly #perIp = new Map<string, number>()
  readonly #sockets = new Set<Socket>()
  readonly stats: ListenerStats = { open: 0, served: 0, refused: 0 }
  #closed = false

  constructor (options: PeerListenerOptions) {
    this.#options = options
    this.#server = createServer((socket) => { this.#accept(socket) })
  }

  /** Start listening; resolves with the bound address. Port in use is an `ERR_PORT_IN_USE` error. */
  async listen (): Promise<{ host: string, port: number }> {
    const { host, port } = this.#options
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(listenError(err, host, port)) }
      this.#server.once('error', onError)
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new P2PError('ERR_LISTEN', 'listener has no TCP address')
    return { host: address.address, port: address.port }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => { resolve() }))
  }

  /** Count the connection until it closes (per address and in total). */
  #track (socket: Socket, ip: string): void {
    this.#sockets.add(socket)
    this.stats.open = this.#sockets.size
    socket.once('close', () => {
      this.#sockets.delete(socket)
      const left = (this.#perIp.get(ip) ?? 1) - 1
      if (left <= 0) this.#perIp.delete(ip)
      else this.#perIp.set(ip, left)
      this.stats.open = this.#sockets.size
    })
    socket.on('error', () => { socket.destroy() })
  }

  #accept (socket: Socket): void {
    const ip = socket.remoteAddress ?? '?'
    const perIp = this.#perIp.get(ip) ?? 0
    const max = this.#options.maxConnections ?? LEGACY_MAX_CONNECTIONS
    const maxPerIp = this.#options.maxConnectionsPerIp ?? LEGACY_MAX_CONNECTIONS_PER_IP
    if (this.#closed || this.#sockets.size >= max || perIp >= maxPerIp) {
      this.stats.refused++
      socket.destroy()
      return
    }
    this.#perIp.set(ip, perIp + 1)
    this.#track(socket, ip)
    socket.setTimeout(this.#options.requestTimeoutMs ?? LEGACY_REQUEST_TIMEOUT_MS, () => { socket.destroy() })

    let received: Buffer = Buffer.alloc(0)
    let grace: NodeJS.Timeout | undefined
    const onData = (data: Buffer): void => {
      received = received.length === 0 ? data : Buffer.concat([received, data])
      const protocol = sniffProtocol(received)
      if (protocol === 'undecided' && received.length < LEGACY_MAX_REQUEST_BYTES) return
      if (protocol === 'bittorrent') {
        if (received.length < BT_ROUTE_BYTES) return
        const torrent = this.#options.torrents?.(Buffer.from(received.subarray(28, 48)))
        if (torrent === undefined) { socket.destroy(); return }
        socket.off('data', onData)
        socket.setTimeout(0)
        // From here the connection carries pieces: reads go into one shared buffer (PERFORMANCE.md, lesson 1).
        const moved = moveToUserBuffer(socket)
        if (moved === undefined) { torrent.attachInbound(socket, received); return }
        this.#sockets.delete(socket)
        this.#track(moved.socket, ip)
        torrent.attachInbound(moved.socket, received, moved)
        return
      }
      if (protocol !== 'legacy') {
        socket.destroy()
        return
      }
      // The Python server reads one recv(1024) and answers what it got. We answer as soon as three tokens are
      // there, and give a request split across segments a short grace before judging what arrived.
      if (!looksComplete(received) && received.length < LEGACY_MAX_REQUEST_BYTES) {
        grace ??= setTimeout(() => { socket.off('data', onData); handle() }, LEGACY_REQUEST_GRACE_MS)
        return
      }
      socket.off('data', onData)
      handle()
    }
    const handle = (): void => {
      clearTimeout(grace)
      // Keep reading so the client's close is seen, but a client that floods after its request is dropped.
      let extra = 0
      socket.on('data', (more: Buffer) => { extra += more.length; if (extra > LEGACY_MAX_REQUEST_BYTES) socket.destroy() })
      const request = received.subarray(0, LEGACY_MAX_REQUEST_BYTES)
      void serveChunkRequest(socket, request, this.#options.source, this.#options.dialect, this.#options.uploadLimit).then((outcome) => {
        if (outcome === 'served') this.stats.served++
        this.#options.onRequest?.(outcome, `${ip}:${socket.remotePort ?? 0}`)
      })
    }
    socket.once('close', () => { clearTimeout(grace) })
    socket.on('data', onData)
  }
}
