/**
 * How connections are made: the seam a transfer dials through and a listener hands accepted connections over with.
 * TCP is the one transport today (MSE/PE would wrap its streams, uTP would be a second transport). Where the bytes
 * land is the transport's business: TCP reads every connection into a shared buffer we own (PERFORMANCE.md,
 * lesson 1), outbound ones with `onread`, accepted ones after moving their handle (user-buffer.ts).
 */
import { connect, createServer, type Socket } from 'node:net'
import { moveToUserBuffer, type MovedSocket } from './user-buffer.js'

export interface Transport {
  /**
   * Open a connection to `host`:`port`. Every read is handed to `onData`, valid only during the call (copy what you
   * keep). The socket reports 'connect', 'error' and 'close' as usual; the caller owns its deadlines.
   */
  dial: (host: string, port: number, onData: (data: Uint8Array) => void) => Socket
  /**
   * Take over an accepted connection (its first bytes already read by the listener) so that its reads go where this
   * transport reads; undefined when it cannot, and then the socket's 'data' events carry them.
   */
  adopt: (socket: Socket) => MovedSocket | undefined
  /**
   * Accept connections on `host`:`port` (0: any free port); each is handed to `onConnection`. Rejects with the
   * system error (EADDRINUSE...) when it cannot listen.
   */
  listen: (host: string, port: number, onConnection: (socket: Socket) => void) => Promise<TransportListener>
}

export interface TransportListener {
  readonly host: string
  readonly port: number
  /** Stop accepting; resolves once the listening socket is closed (accepted connections are the caller's). */
  close: () => Promise<void>
}

/** Socket reads of outbound connections land here; every byte is copied out before the callback returns. */
const DIAL_READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

export const tcpTransport: Transport = {
  dial: (host, port, onData) => connect({
    host,
    port,
    onread: { buffer: DIAL_READ_BUFFER, callback: (n: number, buf: Buffer) => { onData(buf.subarray(0, n)); return true } }
  }),
  adopt: moveToUserBuffer,
  listen: async (host, port, onConnection) => {
    const server = createServer(onConnection)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port }, () => { server.off('error', reject); resolve() })
    })
    const address = server.address()
    if (address === null || typeof address === 'string') { server.close(); throw new Error('listener has no TCP address') }
    return {
      host: address.address,
      port: address.port,
      close: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) }
    }
  }
}
