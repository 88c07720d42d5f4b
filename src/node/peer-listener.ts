/**
 * The peer's one TCP listener. The first bytes of each connection decide its protocol; `GET_CHUNK` requests are
 * served in the dialect this peer registered with. Bounded: connections in total and per address (BitTorrent ones
 * handed to a transfer included, until they close), bytes and time to send a request (a deadline from the accept,
 * not an idle timeout a byte now and then would restart), time to read a reply.
 */
import type { Socket } from 'node:net'
import type { LegacyDialect } from '../content/index.js'
import {
  LEGACY_MAX_CONNECTIONS, LEGACY_MAX_CONNECTIONS_PER_IP, LEGACY_MAX_REQUEST_BYTES, LEGACY_REQUEST_GRACE_MS, LEGACY_REQUEST_TIMEOUT_MS
} from '../constants.js'
import { listenError } from '../errors.js'
import { looksComplete, serveChunkRequest, sniffProtocol, tcpTransport, type ChunkSource, type LegacyOutcome, type MovedSocket, type Throttle, type Transport, type TransportListener } from '../wire/index.js'

export interface PeerListenerOptions {
  host: string
  port: number
  source: ChunkSource
  dialect: LegacyDialect
  maxConnections?: number
  maxConnectionsPerIp?: number
  /**
   * Deadline from the accept for a whole `GET_CHUNK` request, or for the first 48 bytes of a BitTorrent handshake
   * (the transfer's handshake deadline takes over from there).
   */
  requestTimeoutMs?: number
  /** The reply's deadline: this, plus its size at `sendMinBytesPerSecond` (LEGACY_SEND_TIMEOUT_MS, LEGACY_SEND_MIN_BYTES_PER_S). */
  sendTimeoutMs?: number
  sendMinBytesPerSecond?: number
  /** BitTorrent connections: the transfer for an info hash, if we have one. */
  torrents?: (infoHash: Buffer) => InboundTorrent | undefined
  /** Upload limit for `GET_CHUNK` replies (the same limiter as the BitTorrent uploads, so one total holds). */
  uploadLimit?: Throttle
  /** How connections are accepted (default TCP; tests pass an in-memory one). */
  transport?: Transport
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
  readonly #transport: Transport
  #server: TransportListener | undefined
  readonly #perIp = new Map<string, number>()
  readonly #sockets = new Set<Socket>()
  readonly stats: ListenerStats = { open: 0, served: 0, refused: 0 }
  #closed = false

  constructor (options: PeerListenerOptions) {
    this.#options = options
    this.#transport = options.transport ?? tcpTransport
  }

  /** Start listening; resolves with the bound address. Port in use is an `ERR_PORT_IN_USE` error. */
  async listen (): Promise<{ host: string, port: number }> {
    const { host, port } = this.#options
    try {
      this.#server = await this.#transport.listen(host, port, (socket) => { this.#accept(socket) })
    } catch (err) {
      throw listenError(err, host, port)
    }
    return { host: this.#server.host, port: this.#server.port }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const socket of this.#sockets) socket.destroy()
    await this.#server?.close()
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
    // A deadline, not socket.setTimeout: an idle timeout restarts on every byte, so one byte every few seconds would
    // hold the connection (and a place under the per-address cap) for as long as the request may grow.
    const deadline = setTimeout(() => { socket.destroy() }, this.#options.requestTimeoutMs ?? LEGACY_REQUEST_TIMEOUT_MS)

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
        clearTimeout(deadline)
        // From here the connection carries pieces: reads go into one shared buffer (PERFORMANCE.md, lesson 1).
        const moved = this.#transport.adopt(socket)
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
      clearTimeout(deadline)
      // Keep reading so the client's close is seen, but a client that floods after its request is dropped.
      let extra = 0
      socket.on('data', (more: Buffer) => { extra += more.length; if (extra > LEGACY_MAX_REQUEST_BYTES) socket.destroy() })
      const request = received.subarray(0, LEGACY_MAX_REQUEST_BYTES)
      const { sendTimeoutMs, sendMinBytesPerSecond } = this.#options
      const timing = { ...(sendTimeoutMs === undefined ? {} : { timeoutMs: sendTimeoutMs }), ...(sendMinBytesPerSecond === undefined ? {} : { minBytesPerSecond: sendMinBytesPerSecond }) }
      void serveChunkRequest(socket, request, this.#options.source, this.#options.dialect, this.#options.uploadLimit, timing).then((outcome) => {
        if (outcome === 'served') this.stats.served++
        this.#options.onRequest?.(outcome, `${ip}:${socket.remotePort ?? 0}`)
      })
    }
    socket.once('close', () => { clearTimeout(grace); clearTimeout(deadline) })
    socket.on('data', onData)
  }
}
