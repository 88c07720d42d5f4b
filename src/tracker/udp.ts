/**
 * The UDP tracker protocol (BEP 15): connect, announce, scrape, error, on one dgram socket bound to the HTTP
 * server's port number. It serves the same Swarms as `GET /announce` and `GET /scrape`, so a peer announcing over
 * UDP is handed to peers announcing over HTTP and the other way round.
 *
 * Every packet is judged by `handle()`, synchronously, with no state per client: connection ids are HMACs of the
 * source address and port (connection-ids.ts), checked on every announce and scrape. Lengths are checked before any
 * field is read. A packet from port 0 or shorter than a request header (16 bytes) is dropped without a reply; any
 * other bad packet gets an error reply (action 3) with a short message — a few tens of bytes, never more than a
 * small multiple of the request, so a spoofed source cannot use the tracker to amplify traffic. Only a source that
 * proved its address with a connection id gets an announce reply (at most 1,226 bytes).
 *
 * Abuse limits: every packet (connect included) takes from its source address's UDP budget (rate-limit.ts) before
 * anything else is read. Over budget, it is dropped without a reply: an error reply would be sent, under a flood, to
 * whatever source the packets name, and a spoofed source must get nothing. A real client retransmits with BEP 15's
 * back-off (15 × 2^n s), which is the wait it needs. The UDP budget is apart from HTTP's, so a flood in a victim's
 * name can cost the victim its UDP announces, never its HTTP ones.
 *
 * The hot path allocates one buffer per reply (node's pool) and the strings the swarms keep (info hash, peer id);
 * the announce fields and parameters are read into objects reused from packet to packet.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import type { LookupOneOptions } from 'node:dns'
import { isIP } from 'node:net'
import { parseIPv4 } from '../discovery/compact.js'
import {
  ACTION_ANNOUNCE, ACTION_CONNECT, ACTION_ERROR, ACTION_SCRAPE, ANNOUNCE_REPLY_HEADER_BYTES, ANNOUNCE_REQUEST_BYTES, CONNECT_REPLY_BYTES,
  CONNECT_REQUEST_BYTES, ERROR_REPLY_HEADER_BYTES, EVENT_COMPLETED, EVENT_NONE, EVENT_PAUSED, EVENT_STARTED, EVENT_STOPPED,
  SCRAPE_REPLY_HEADER_BYTES, SCRAPE_ENTRY_BYTES, hasProtocolId, readAnnounce, scrapeHashCount, encodeErrorReply,
  writeAnnounceReplyHeader, writeConnectReplyHeader, writeScrapeEntry, writeScrapeReplyHeader, type UdpAnnounceFields
} from '../discovery/udp-tracker-messages.js'
import { AnnounceFailure, type AnnounceParams } from './announce-params.js'
import { ConnectionIds } from './connection-ids.js'
import { DEFAULT_NUMWANT, MAX_NUMWANT, UDP_MAX_PEERS_IPV6, UDP_SCRAPE_MAX_HASHES, UDP_SOCKET_BUFFER_BYTES } from './limits.js'
import { peerAddress } from './peer-address.js'
import type { RateLimiter } from './rate-limit.js'
import { CompactPicks, type Swarms } from './swarms.js'

export interface UdpTrackerContext {
  swarms: Swarms
  /** Clock, ms: announce times and connection id windows. */
  now: () => number
  /** `interval` of every announce reply, seconds. */
  intervalS: number
  /** Connection id maker; default one with a random secret. */
  ids?: ConnectionIds | undefined
  /** Socket errors and unexpected exceptions (the tracker keeps serving). */
  onError?: ((err: Error) => void) | undefined
  /** The per-source budget of packets (abuse limits); none: no limit. */
  limiter?: RateLimiter | undefined
}

/** What the tracker did with the packets it was given. */
export interface UdpTrackerStats {
  connects: number
  announces: number
  scrapes: number
  /** Error replies sent (bad packets, unknown or expired connection ids, refused announces). */
  errors: number
  /** Packets dropped without a reply (source port 0, shorter than 16 bytes). */
  dropped: number
  /** Packets dropped without a reply because their source was over its budget (not counted in `dropped`). */
  limited: number
}

/** Error messages: short ASCII, one line (clients show them to users). */
const MESSAGE = {
  badProtocolId: Buffer.from('Bad protocol id'),
  unknownAction: Buffer.from('Unknown action'),
  badConnectionId: Buffer.from('Invalid connection id'),
  shortAnnounce: Buffer.from('Announce request too short'),
  badScrapeLength: Buffer.from('Scrape request: bad length'),
  tooManyHashes: Buffer.from(`Too many info hashes (at most ${UDP_SCRAPE_MAX_HASHES})`),
  badPort: Buffer.from('Invalid port'),
  badEvent: Buffer.from('Invalid event')
} as const

/**
 * The socket's address "resolution": every address it is given is an IP literal (the bind address, checked, and the
 * sources of packets), so it is passed through at once. Node's default, dns.lookup, answers a literal on the next
 * tick: a closure and a tick per reply, a sixth of the time a bare echo server spends per packet.
 */
function literalLookup (
  address: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void
): void {
  // Node asks with the socket's family (4 for udp4, 6 for udp6): the family of the address to send to.
  callback(null, address, typeof options === 'number' ? options : options.family === 6 ? 6 : 4)
}

function errorReply (transactionId: number, message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(ERROR_REPLY_HEADER_BYTES + message.length)
  out.writeUInt32BE(ACTION_ERROR, 0)
  out.writeUInt32BE(transactionId, 4)
  message.copy(out, ERROR_REPLY_HEADER_BYTES)
  return out
}

export class UdpTracker {
  readonly stats: UdpTrackerStats = { connects: 0, announces: 0, scrapes: 0, errors: 0, dropped: 0, limited: 0 }
  readonly #swarms: Swarms
  readonly #now: () => number
  readonly #intervalS: number
  readonly #ids: ConnectionIds
  readonly #onError: (err: Error) => void
  readonly #limiter: RateLimiter | undefined
  readonly #picks = new CompactPicks()
  /** One announce's fields and parameters, reused: handling is synchronous. */
  readonly #fields: UdpAnnounceFields = {
    transactionId: 0, infoHash: '', peerId: '', downloaded: 0, left: 0, uploaded: 0, event: 0, ip: 0, key: 0, numWant: 0, port: 0
  }

  readonly #params: AnnounceParams = {
    infoHash: '', peerId: '', port: 0, uploaded: 0, downloaded: 0, left: 0, event: '', numwant: 0, compact: true, noPeerId: false
  }

  #socket: Socket | undefined

  constructor (context: UdpTrackerContext) {
    this.#swarms = context.swarms
    this.#now = context.now
    this.#intervalS = context.intervalS
    this.#ids = context.ids ?? new ConnectionIds()
    this.#onError = context.onError ?? (() => {})
    this.#limiter = context.limiter
  }

  /** The bound port, while listening. */
  get port (): number | undefined {
    return this.#socket?.address().port
  }

  /**
   * Binds a udp4 socket, or a udp6 one for an IPv6 host (`::` is dual-stack, as node's HTTP server on `::`), and
   * serves. `host` is an IP literal. Resolves to the bound port; rejects with the system error (EADDRINUSE...) when it cannot bind.
   */
  async listen (host: string, port: number): Promise<number> {
    if (this.#socket !== undefined) throw new Error('The UDP tracker is already listening')
    const family = isIP(host)
    if (family === 0) throw new TypeError(`The UDP tracker binds an IP address, not a name: ${host}`)
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      socket.once('error', onError)
      socket.bind({ address: host, port }, () => {
        socket.off('error', onError)
        resolve()
      })
    }).catch((err: unknown) => {
      socket.close()
      throw err
    })
    for (const set of [socket.setRecvBufferSize, socket.setSendBufferSize]) {
      try {
        set.call(socket, UDP_SOCKET_BUFFER_BYTES)
      } catch {
        // The kernel caps the size at its maximum; a refusal only means the default buffers.
      }
    }
    socket.on('error', this.#onError)
    socket.on('message', this.#onMessage)
    this.#socket = socket
    return socket.address().port
  }

  /** Stops serving and closes the socket. Idempotent. */
  async close (): Promise<void> {
    const socket = this.#socket
    if (socket === undefined) return
    this.#socket = undefined
    await new Promise<void>((resolve) => { socket.close(() => { resolve() }) })
  }

  readonly #onMessage = (packet: Buffer, remote: RemoteInfo): void => {
    let reply: Buffer | undefined
    try {
      reply = this.handle(packet, remote.address, remote.port)
    } catch (err) {
      // A bug must cost one packet, not the tracker.
      this.#onError(err as Error)
      return
    }
    if (reply !== undefined) this.#socket?.send(reply, remote.port, remote.address)
  }

  /**
   * Judges one packet from `address`:`port` (the source, as the socket reports it) and returns the reply to send
   * back, or undefined to send nothing. Synchronous; never throws for any packet.
   */
  handle (packet: Buffer, address: string, port: number): Buffer | undefined {
    if (port === 0 || packet.length < CONNECT_REQUEST_BYTES) {
      this.stats.dropped++
      return undefined
    }
    if (this.#limiter !== undefined && this.#limiter.take(address, this.#now()) !== 0) {
      this.stats.limited++
      return undefined
    }
    const action = packet.readUInt32BE(8)
    const transactionId = packet.readUInt32BE(12)
    switch (action) {
      case ACTION_CONNECT: return this.#connect(packet, address, port, transactionId)
      case ACTION_ANNOUNCE: return this.#announce(packet, address, port, transactionId)
      case ACTION_SCRAPE: return this.#scrape(packet, address, port, transactionId)
      default: return this.#error(transactionId, MESSAGE.unknownAction)
    }
  }

  #error (transactionId: number, message: Buffer): Buffer {
    this.stats.errors++
    return errorReply(transactionId, message)
  }

  /** BEP 15 connect: a fresh connection id for this source. */
  #connect (packet: Buffer, address: string, port: number, transactionId: number): Buffer {
    if (!hasProtocolId(packet)) return this.#error(transactionId, MESSAGE.badProtocolId)
    const out = Buffer.allocUnsafe(CONNECT_REPLY_BYTES)
    writeConnectReplyHeader(out, transactionId)
    this.#ids.write(out, 8, address, port, this.#now())
    this.stats.connects++
    return out
  }

  #announce (packet: Buffer, address: string, port: number, transactionId: number): Buffer {
    if (packet.length < ANNOUNCE_REQUEST_BYTES) return this.#error(transactionId, MESSAGE.shortAnnounce)
    const now = this.#now()
    if (!this.#ids.verify(packet, 0, address, port, now)) return this.#error(transactionId, MESSAGE.badConnectionId)
    const f = this.#fields
    readAnnounce(packet, f)
    if (f.port === 0) return this.#error(transactionId, MESSAGE.badPort)
    const p = this.#params
    switch (f.event) {
      case EVENT_NONE: case EVENT_PAUSED: p.event = ''; break
      case EVENT_COMPLETED: p.event = 'completed'; break
      case EVENT_STARTED: p.event = 'started'; break
      case EVENT_STOPPED: p.event = 'stopped'; break
      default: return this.#error(transactionId, MESSAGE.badEvent)
    }
    p.infoHash = f.infoHash
    p.peerId = f.peerId
    p.port = f.port
    p.uploaded = f.uploaded
    p.downloaded = f.downloaded
    p.left = f.left
    // BEP 15's num_want is signed, -1 for the default; clamped as HTTP's numwant.
    p.numwant = f.numWant < 0 ? DEFAULT_NUMWANT : Math.min(f.numWant, MAX_NUMWANT)
    // The peer is the packet's source: the `IP address` field is ignored (BEP 15: "most trackers will only honor
    // the IP address field under limited circumstances"; we never do, as HTTP ignores `ip`), and so is `key`
    // (peers are keyed by address and port, as opentracker keys them).
    const ip = peerAddress(address) as string

    let outcome
    try {
      outcome = this.#swarms.announce(p, ip, now)
    } catch (err) {
      if (!(err instanceof AnnounceFailure)) throw err
      this.stats.errors++
      return encodeErrorReply(transactionId, err.message)
    }
    const { swarm, self, early } = outcome
    // BEP 15: the reply's peer form follows the family of the packet's address.
    const ipv6 = parseIPv4(ip) < 0
    // No peers after stopped, nor for an announce before min interval (swarms.ts).
    let want = swarm === undefined || self === undefined || early ? 0 : p.numwant
    if (ipv6 && want > UDP_MAX_PEERS_IPV6) want = UDP_MAX_PEERS_IPV6
    const picks = this.#picks
    if (want > 0) this.#swarms.pickCompact(swarm as NonNullable<typeof swarm>, self, want, picks)
    else picks.length4 = picks.length6 = 0
    const bytes = ipv6 ? picks.length6 : picks.length4
    const out = Buffer.allocUnsafe(ANNOUNCE_REPLY_HEADER_BYTES + bytes)
    writeAnnounceReplyHeader(out, transactionId, this.#intervalS, swarm?.leechers.length ?? 0, swarm?.seeders.length ?? 0)
    ;(ipv6 ? picks.peers6 : picks.peers).copy(out, ANNOUNCE_REPLY_HEADER_BYTES, 0, bytes)
    this.stats.announces++
    return out
  }

  #scrape (packet: Buffer, address: string, port: number, transactionId: number): Buffer {
    const n = scrapeHashCount(packet.length)
    if (n < 0) return this.#error(transactionId, MESSAGE.badScrapeLength)
    if (n > UDP_SCRAPE_MAX_HASHES) return this.#error(transactionId, MESSAGE.tooManyHashes)
    const now = this.#now()
    if (!this.#ids.verify(packet, 0, address, port, now)) return this.#error(transactionId, MESSAGE.badConnectionId)
    const out = Buffer.allocUnsafe(SCRAPE_REPLY_HEADER_BYTES + n * SCRAPE_ENTRY_BYTES)
    writeScrapeReplyHeader(out, transactionId)
    for (let i = 0; i < n; i++) {
      const o = CONNECT_REQUEST_BYTES + i * 20
      // BEP 15 answers every hash, in order: one the tracker does not know is all zeros.
      const swarm = this.#swarms.get(packet.toString('hex', o, o + 20), now)
      writeScrapeEntry(out, i, swarm?.seeders.length ?? 0, swarm?.downloaded ?? 0, swarm?.leechers.length ?? 0)
    }
    this.stats.scrapes++
    return out
  }
}
