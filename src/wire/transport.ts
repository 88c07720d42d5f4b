/**
 * How connections are made: the seam a transfer dials through and a listener hands accepted connections over with.
 * TCP is the one transport today (MSE/PE would wrap its streams, uTP would be a second transport). Where the bytes
 * land is the transport's business: TCP reads every connection into a shared buffer we own (PERFORMANCE.md,
 * lesson 1), outbound ones with `onread`, accepted ones after moving their handle (user-buffer.ts).
 */
import { connect, type Socket } from 'node:net'
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
}

/** Socket reads of outbound connections land here; every byte is copied out before the callback returns. */
const DIAL_READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

export const tcpTransport: Transport = {
  dial: (host, port, onData) => connect({
    host,
    port,
    onread: { buffer: DIAL_READ_BUFFER, callback: (n: number, buf: Buffer) => { onData(buf.subarray(0, n)); return true } }
  }),
  adopt: moveToUserBuffer
}
