/**
 * The tracker's plain-HTTP listener: BitTorrent announces and scrapes answered straight from the socket, everything
 * else handed, with its connection, to the general HTTP server (fastify's).
 *
 * Why: nearly every request a public tracker gets is `GET /announce?...`, and on this kind of machine Node's `http`
 * machinery (parser callbacks, IncomingMessage, ServerResponse, two writes per reply) costs about twice the CPU of the
 * announce itself (bench/results/tracker.md). Here a complete request head is found in the bytes read, its request line
 * and the few headers that matter are read in place, and the reply goes out in one write.
 *
 * Only the simplest, well-formed case is taken: `GET /announce` or `GET /scrape` (with or without a query), HTTP/1.1 or
 * 1.0, no request body, a head within MAX_HEAD_BYTES. Anything else (another method or path, a body, `Expect`, a head
 * too long or malformed, anything not ASCII in the request line) goes to the general server unchanged, from the first
 * byte of that request, together with the connection and everything after it: it answers as it always did (routes,
 * errors, 4xx). A connection handed over stays there.
 *
 * Requests are answered in order (pipelining works); a client that does not read its replies stops being read
 * (backpressure), so it holds at most one socket buffer of our replies. Keep-alive: HTTP/1.1 unless `Connection: close`,
 * HTTP/1.0 only with `Connection: keep-alive`; an idle connection is closed after IDLE_TIMEOUT_MS.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import { peerAddress } from './peer-address.js'

/** A route of the front door: the reply body (bencoded, `text/plain`) for a request target and the client's address. */
export type FastRoute = (target: string, ip: string | undefined) => Buffer

export interface FrontDoorOptions {
  /** The server that takes every request the front door does not answer, with its connection. */
  fallback: HttpServer
  announce: FastRoute
  scrape: FastRoute
  /** Called after each answered request: which route, and the seconds it took (parse to reply written). */
  observe?: ((route: 'announce' | 'scrape', seconds: number) => void) | undefined
  /** Open connections at most (the front door's and those handed over); more are refused at accept. */
  maxConnections: number
  /** An idle keep-alive connection is closed after this long, ms. */
  idleTimeoutMs: number
  /** A request head must arrive whole within this long, ms; default HEAD_TIMEOUT_MS. */
  headTimeoutMs?: number | undefined
}

/** Longest request head the front door reads before giving the connection to the general server (which limits it again). */
export const MAX_HEAD_BYTES = 8 * 1024
/**
 * A request head must arrive whole within this long (a BitTorrent client sends it in one packet): a client that trickles
 * it (slow loris) loses its connection, checked when more of it arrives; one that sends nothing more meets the idle
 * timeout.
 */
export const HEAD_TIMEOUT_MS = 10_000

const CR = 0x0d
const LF = 0x0a
const SPACE = 0x20
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')
const GET = 'GET /'

const enum Keep { Default, Close, KeepAlive }

interface Head {
  route: 'announce' | 'scrape'
  target: string
  keepAlive: boolean
}

/**
 * The head in `buf[start, end)` (end: the index of its blank line) if the front door takes it, else undefined.
 * Every header line must have a name and a colon; names are matched case-insensitively, and only Connection,
 * Content-Length, Transfer-Encoding and Expect matter.
 */
export function readHead (buf: Buffer, start: number, end: number): Head | undefined {
  const lineEnd = buf.indexOf(CR, start)
  if (lineEnd === -1 || lineEnd > end || buf[lineEnd + 1] !== LF) return undefined
  // "GET " target " HTTP/1.x"
  if (lineEnd - start < 14 || buf.toString('latin1', start, start + 5) !== GET) return undefined
  const versionAt = lineEnd - 9
  if (buf[versionAt] !== SPACE || buf.toString('latin1', versionAt + 1, lineEnd - 1) !== 'HTTP/1.') return undefined
  const minor = buf[lineEnd - 1]
  if (minor !== 0x30 && minor !== 0x31) return undefined
  const targetStart = start + 4
  for (let i = targetStart; i < versionAt; i++) {
    const c = buf[i] as number
    if (c <= SPACE || c >= 0x7f) return undefined
  }
  const target = buf.toString('latin1', targetStart, versionAt)
  let route: Head['route']
  if (target.startsWith('/announce') && (target.length === 9 || target.charCodeAt(9) === 0x3f)) route = 'announce'
  else if (target.startsWith('/scrape') && (target.length === 7 || target.charCodeAt(7) === 0x3f)) route = 'scrape'
  else return undefined

  let keep = Keep.Default
  let line = lineEnd + 2
  while (line < end) {
    const next = buf.indexOf(CR, line)
    if (next === -1 || next > end || buf[next + 1] !== LF) return undefined
    const colon = buf.indexOf(0x3a, line)
    if (colon === -1 || colon > next || colon === line) return undefined
    const first = (buf[line] as number) | 0x20
    if (first === 0x63 /* c */ || first === 0x74 /* t */ || first === 0x65 /* e */) {
      const name = buf.toString('latin1', line, colon).toLowerCase()
      if (name === 'transfer-encoding' || name === 'expect') return undefined
      const value = buf.toString('latin1', colon + 1, next).trim().toLowerCase()
      if (name === 'content-length' && value !== '0') return undefined
      if (name === 'connection') {
        if (value === 'close') keep = Keep.Close
        else if (value === 'keep-alive') keep = Keep.KeepAlive
        else return undefined
      }
    }
    line = next + 2
  }
  const http11 = minor === 0x31
  return { route, target, keepAlive: keep === Keep.Default ? http11 : keep === Keep.KeepAlive }
}

function reply (body: Buffer, keepAlive: boolean): Buffer {
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
    (keepAlive ? 'Connection: keep-alive\r\n\r\n' : 'Connection: close\r\n\r\n')
  const out = Buffer.allocUnsafe(head.length + body.length)
  const o = out.write(head, 0, 'latin1')
  body.copy(out, o)
  return out
}

/** A net.Server to listen with; `close()` it, then `closeConnections()` to end the front door's own idle connections. */
export interface FrontDoor {
  readonly server: Server
  /** Ends every connection the front door still holds (it holds no request in progress: replies are synchronous). */
  closeConnections: () => void
  /** Destroys every connection the front door still holds, replies not yet flushed included. */
  destroyConnections: () => void
}

export function createFrontDoor (options: FrontDoorOptions): FrontDoor {
  const { fallback, announce, scrape, observe, idleTimeoutMs } = options
  const headTimeoutMs = options.headTimeoutMs ?? HEAD_TIMEOUT_MS
  const sockets = new Set<Socket>()

  const handOver = (socket: Socket, rest: Buffer | undefined): void => {
    sockets.delete(socket)
    socket.removeAllListeners('data')
    socket.removeAllListeners('timeout')
    socket.setTimeout(0)
    // The general server sets up its parser on 'connection' (synchronously); the bytes read so far go to it as the
    // 'data' event it listens for, and what arrives later reaches it as it would have.
    fallback.emit('connection', socket)
    if (rest !== undefined && rest.length > 0) socket.emit('data', rest)
  }

  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => { socket.destroy() })
    socket.setTimeout(idleTimeoutMs)
    socket.on('timeout', () => { socket.destroy() })
    const ip = peerAddress(socket.remoteAddress ?? '')
    let pending: Buffer | undefined
    /** When the head now pending began to arrive; 0 when none is pending. */
    let pendingSince = 0
    socket.on('data', (chunk: Buffer) => {
      const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
      pending = undefined
      let start = 0
      while (start < buf.length) {
        const end = buf.indexOf(HEAD_END, start)
        if (end === -1) {
          if (buf.length - start > MAX_HEAD_BYTES) { handOver(socket, buf.subarray(start)); return }
          // start > 0: a new head after the ones answered from this buffer; else the pending one goes on, or begins.
          if (start > 0 || pendingSince === 0) {
            pendingSince = Date.now()
          } else if (Date.now() - pendingSince > headTimeoutMs) {
            socket.destroy()
            return
          }
          pending = buf.subarray(start)
          return
        }
        // A long head goes to the general server whole, which enforces the head limit (431) as for any route.
        const head = end - start > MAX_HEAD_BYTES ? undefined : readHead(buf, start, end)
        pendingSince = 0
        if (head === undefined) { handOver(socket, buf.subarray(start)); return }
        const began = observe === undefined ? 0 : performance.now()
        const body = head.route === 'announce' ? announce(head.target, ip) : scrape(head.target, ip)
        const flushed = socket.write(reply(body, head.keepAlive))
        if (observe !== undefined) observe(head.route, (performance.now() - began) / 1000)
        start = end + 4
        if (!head.keepAlive) {
          socket.end()
          socket.removeAllListeners('data')
          return
        }
        if (!flushed) {
          // Replies are not being read: stop reading until they are.
          socket.pause()
          socket.once('drain', () => { socket.resume() })
        }
      }
    })
  })
  server.maxConnections = options.maxConnections
  return {
    server,
    closeConnections () {
      for (const socket of sockets) socket.end()
    },
    destroyConnections () {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    }
  }
}
