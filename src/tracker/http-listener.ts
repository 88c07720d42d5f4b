/**
 * Where the tracker's HTTP side listens and how it shuts down. Plain HTTP: the front door (front-door.ts) listens and
 * hands fastify's server every connection it does not answer itself; fastify's server never listens. HTTPS: fastify
 * listens as usual.
 *
 * Shutdown is the same in both: stop accepting, answer the requests in flight, close connections as they become idle,
 * close whatever is left after the timeout, then close the app (its hooks stop UDP and the prober, then the database).
 */
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { listenError } from '../errors.js'
import type { FrontDoor } from './front-door.js'

export interface HttpListener {
  listen: (host: string, port: number) => Promise<void>
  /** The bound address, once listening. */
  address: () => { host: string, port: number }
  /** Stops listening (after a listen whose UDP half failed). */
  unlisten: () => Promise<void>
  /** Graceful shutdown within `timeoutMs`, then the app's close. */
  close: (timeoutMs: number) => Promise<void>
}

/** How often a closing front door ends the handed-over connections that have become idle, ms. */
const IDLE_SWEEP_MS = 50

function boundAddress (address: AddressInfo | string | null): { host: string, port: number } {
  const bound = address as AddressInfo
  return { host: bound.address, port: bound.port }
}

/** fastify listens itself (HTTPS). */
export function fastifyListener (app: FastifyInstance): HttpListener {
  return {
    async listen (host, port) {
      try {
        await app.listen({ host, port })
      } catch (err) {
        throw listenError(err, host, port)
      }
    },
    address: () => boundAddress(app.server.address()),
    unlisten: async () => { await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) }) },
    async close (timeoutMs) {
      // fastify closes idle keep-alive connections at once and the others after their reply.
      const timer = setTimeout(() => { app.server.closeAllConnections() }, timeoutMs)
      try {
        await app.close()
      } finally {
        clearTimeout(timer)
      }
    }
  }
}

/** The front door listens (plain HTTP) and hands fastify's server the rest. */
export function frontDoorListener (app: FastifyInstance, door: FrontDoor): HttpListener {
  const server = door.server
  return {
    async listen (host, port) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          server.off('listening', onListening)
          reject(listenError(err, host, port))
        }
        const onListening = (): void => {
          server.off('error', onError)
          resolve()
        }
        server.once('error', onError)
        server.once('listening', onListening)
        server.listen({ host, port })
      })
      // Once listening, an error is one failed accept (the process out of memory or file descriptors; libuv already
      // sheds connections at EMFILE): logged, never fatal.
      server.on('error', (err) => { app.log.warn({ err }, 'HTTP accept failed') })
      // fastify's server gets its connections from the front door and never listens, but its connection tracking
      // (headers and request timeouts, closeIdleConnections) starts on its 'listening' event.
      app.server.emit('listening')
    },
    address: () => boundAddress(server.address()),
    unlisten: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) },
    async close (timeoutMs) {
      if (server.listening) {
        // The front door's close callback comes once every connection it accepted is closed, handed over or not.
        const drained = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
        door.closeConnections()
        app.server.closeIdleConnections()
        const sweep = setInterval(() => { app.server.closeIdleConnections() }, IDLE_SWEEP_MS)
        const timer = setTimeout(() => {
          door.destroyConnections()
          app.server.closeAllConnections()
        }, timeoutMs)
        try {
          await drained
        } finally {
          clearInterval(sweep)
          clearTimeout(timer)
        }
      }
      await app.close()
    }
  }
}
