/**
 * An in-memory Transport for engine tests: no sockets, no ports. `listen()` registers an address in this network,
 * `dial()` makes a pair of connected streams (each write is copied into the other side, as a socket would), with
 * 'connect' on the next turn of the event loop, or ECONNREFUSED where nothing listens. Every dial is counted.
 */
import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { Transport, TransportListener } from '../../src/wire/index.js'

class MemorySocket extends Duplex {
  remoteAddress: string
  remotePort: number
  other: MemorySocket | undefined

  constructor (remoteAddress: string, remotePort: number) {
    super({ allowHalfOpen: false })
    this.remoteAddress = remoteAddress
    this.remotePort = remotePort
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const other = this.other
    if (other === undefined || other.destroyed) { callback(Object.assign(new Error('EPIPE'), { code: 'EPIPE' })); return }
    other.push(Buffer.from(chunk))
    callback()
  }

  override _read (): void {}

  override _final (callback: (err?: Error | null) => void): void {
    this.other?.push(null)
    callback()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    const other = this.other
    if (other !== undefined && !other.destroyed) setImmediate(() => { other.destroy() })
    callback(err)
  }

  setNoDelay (): this { return this }
  setKeepAlive (): this { return this }
  setTimeout (): this { return this }
}

export interface MemoryNetwork {
  /** A transport whose outbound connections come from `address`. */
  transport: (address: string) => Transport
  /** host:port of every dial made, in order. */
  readonly dials: string[]
}

export function memoryNetwork (): MemoryNetwork {
  const listeners = new Map<string, (socket: Socket) => void>()
  const dials: string[] = []
  let nextPort = 40_000
  const transport = (address: string): Transport => ({
    dial: (host, port, onData) => {
      dials.push(`${host}:${port}`)
      const client = new MemorySocket(host, port)
      client.on('data', (d: Buffer) => { onData(d) })
      setImmediate(() => {
        const accept = listeners.get(`${host}:${port}`)
        if (accept === undefined) { client.destroy(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })); return }
        const server = new MemorySocket(address, nextPort++)
        client.other = server
        server.other = client
        accept(server as unknown as Socket)
        client.emit('connect')
      })
      return client as unknown as Socket
    },
    adopt: () => undefined,
    listen: async (host, listenPort, onConnection): Promise<TransportListener> => {
      const port = listenPort === 0 ? nextPort++ : listenPort
      const key = `${host}:${port}`
      if (listeners.has(key)) throw Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })
      listeners.set(key, onConnection)
      return { host, port, close: async () => { listeners.delete(key) } }
    }
  })
  return { transport, dials }
}
