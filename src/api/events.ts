/**
 * `GET /api/v1/events`: the session's events as Server-Sent Events (WHATWG HTML, "Server-sent events"). A client gets
 * `event: snapshot` with every torrent first, then each SessionEventMap event as `event: <name>` and its argument as
 * one line of JSON `data:`, and a `: keep-alive` comment every SSE_KEEP_ALIVE_MS. Bounded twice: streams open at once
 * (503 past SSE_MAX_CLIENTS), and bytes a client has not taken (past SSE_MAX_QUEUE_BYTES at its next event or
 * keep-alive it is dropped: a client that stopped reading costs its own stream, never the node's memory). Closing a stream, by either side, removes its
 * listeners; closing the app ends every stream.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { SessionApi, SessionEventMap } from '../session/types.js'
import { ApiError } from './errors.js'
import { SSE_KEEP_ALIVE_MS, SSE_MAX_CLIENTS, SSE_MAX_QUEUE_BYTES } from './limits.js'
import { eventsQuerySchema } from './schemas.js'

export const EVENTS_ROUTE = '/api/v1/events'

export interface EventStreamLimits {
  maxClients: number
  maxQueueBytes: number
  keepAliveMs: number
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = {
  maxClients: SSE_MAX_CLIENTS,
  maxQueueBytes: SSE_MAX_QUEUE_BYTES,
  keepAliveMs: SSE_KEEP_ALIVE_MS
}

/** The named keys of an event map (without its `Record<string, ...>` index signature). */
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] }

/** Every session event, checked at compile time against SessionEventMap: a new event cannot be forgotten here. */
const EVENT_NAMES = Object.keys({
  added: true,
  removed: true,
  state: true,
  metadata: true,
  complete: true,
  stats: true,
  settings: true,
  log: true
} satisfies Record<KnownKeys<SessionEventMap>, true>) as Array<KnownKeys<SessionEventMap>>

/** One open stream. */
class EventClient {
  readonly #res: ServerResponse
  readonly #maxQueueBytes: number
  readonly #offs: Array<() => void> = []
  readonly #onClosed: (client: EventClient) => void
  #keepAlive: ReturnType<typeof setInterval> | undefined
  #closed = false

  constructor (res: ServerResponse, session: SessionApi, limits: EventStreamLimits, onClosed: (client: EventClient) => void) {
    this.#res = res
    this.#maxQueueBytes = limits.maxQueueBytes
    this.#onClosed = onClosed
    res.on('close', () => { this.#close() })
    res.on('error', () => { this.#close() })
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-content-type-options': 'nosniff',
      // A stream's connection is never reused (EventSource reconnects with a new request): once it ends, it closes.
      connection: 'close'
    })
    // Listeners before the snapshot: nothing can happen between the two (both synchronous), nor be missed after.
    for (const name of EVENT_NAMES) {
      this.#offs.push(session.events.on(name, (...args: unknown[]) => { this.send(name, args[0]) }))
    }
    this.send('snapshot', { torrents: session.list() })
    this.#keepAlive = setInterval(() => { this.#write(': keep-alive\n\n') }, limits.keepAliveMs)
    this.#keepAlive.unref()
  }

  get closed (): boolean {
    return this.#closed
  }

  send (event: string, data: unknown): void {
    let line: string
    try {
      line = JSON.stringify(data) ?? 'null'
    } catch {
      // Not plain data (a bug of the session): this event is lost to the stream, not the session's emit.
      return
    }
    // JSON has no raw line breaks, so the data is one `data:` line.
    this.#write(`event: ${event}\ndata: ${line}\n\n`)
  }

  #write (chunk: string): void {
    if (this.#closed) return
    // What the client has not taken yet (the response's buffer and its socket's), judged before this chunk: one big
    // event (`stats` of thousands of torrents) does not drop a client that reads, a backlog does. So a client holds
    // at most the bound plus one event.
    if (this.#res.writableLength > this.#maxQueueBytes) {
      this.#close()
      this.#res.destroy()
      return
    }
    this.#res.write(chunk)
  }

  /** Ends the stream (the app is closing); a client that is not reading is cut off. */
  end (): void {
    if (this.#closed) return
    this.#close()
    this.#res.end()
    if (this.#res.writableLength > 0) this.#res.destroy()
  }

  #close (): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#keepAlive)
    for (const off of this.#offs) off()
    this.#offs.length = 0
    this.#onClosed(this)
  }
}

export function registerEventRoutes (app: FastifyInstance, session: SessionApi, limits: EventStreamLimits): void {
  const clients = new Set<EventClient>()
  app.addHook('preClose', async () => {
    for (const client of [...clients]) client.end()
  })
  app.get(EVENTS_ROUTE, {
    exposeHeadRoute: false,
    schema: { querystring: eventsQuerySchema },
    config: {
      docs: {
        operationId: 'streamEvents',
        summary: 'The session\'s events as Server-Sent Events',
        description: 'First `event: snapshot` (data `{"torrents": [...]}`), then `added`, `removed`, `state`, `metadata`, `complete`, ' +
          '`stats`, `settings`, `log` as they happen, each with one line of JSON data, and a `: keep-alive` comment every 15 s.',
        tags: ['events'],
        queryToken: true,
        responses: {
          200: { description: 'The event stream (never ends on its own)', contentType: 'text/event-stream', schema: { type: 'string' } },
          503: { description: 'Too many event streams open', schema: { $ref: '#/components/schemas/Error' } }
        }
      }
    }
  }, async (_request, reply) => {
    if (clients.size >= limits.maxClients) {
      throw new ApiError(503, 'ERR_TOO_MANY_STREAMS', `Too many event streams open (${limits.maxClients}): close one and try again`, { headers: { 'retry-after': '5' } })
    }
    reply.hijack()
    const client = new EventClient(reply.raw, session, limits, (closed) => { clients.delete(closed) })
    // A snapshot too big for a client that is not reading closes it at once.
    if (!client.closed) clients.add(client)
  })
}
