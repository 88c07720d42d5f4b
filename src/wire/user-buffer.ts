/**
 * Reads of an accepted socket into one buffer we own. Node offers `onread` (read into a caller's buffer, no
 * allocation per read) only to sockets it creates for `connect`; accepted ones allocate a fresh buffer for every
 * read, which PERFORMANCE.md measured as the cost that dominated a transfer. So the connection's handle is moved
 * into a new socket made with `onread`. This uses Node's `handle` socket option and the `_handle` / `_server`
 * fields (stable across Node 20; the engines field pins that); when anything is not as expected the socket is left
 * as it is and reads keep coming as 'data' events.
 */
import { Socket, type SocketConstructorOpts } from 'node:net'

/** Every inbound connection reads here; each callback copies out what it keeps before returning. */
const INBOUND_READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

export interface MovedSocket {
  socket: Socket
  /** Where the bytes of each read go (only valid during the call). */
  onRead: (reader: (data: Uint8Array) => void) => void
}

interface SocketInternals { _handle: unknown, _server: unknown }

/** The same connection on a socket that reads into a shared buffer; undefined when it cannot be moved. */
export function moveToUserBuffer (socket: Socket): MovedSocket | undefined {
  const old = socket as unknown as SocketInternals
  if (old._handle === null || old._handle === undefined || socket.destroyed || socket.readableLength > 0) return undefined
  socket.pause()
  const handle = old._handle
  let reader: (data: Uint8Array) => void = () => {}
  let fresh: Socket
  try {
    fresh = new Socket({
      handle,
      onread: { buffer: INBOUND_READ_BUFFER, callback: (n: number, buf: Buffer) => { reader(buf.subarray(0, n)); return true } }
    } as SocketConstructorOpts)
  } catch {
    socket.resume()
    return undefined
  }
  old._handle = null
  // The server counts its connections down when one closes: the new socket does that for the old.
  ;(fresh as unknown as SocketInternals)._server = old._server
  socket.removeAllListeners()
  fresh.resume()
  return { socket: fresh, onRead: (r) => { reader = r } }
}
