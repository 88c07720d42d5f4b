/**
 * Every error the tracker's HTTP app answers is JSON `{"error": "<one line>"}` with a 4xx status (a 5xx
 * only for a fault of ours): bad bodies, unknown routes (404), known routes with another method (405),
 * oversize bodies (413), other content types (415), malformed URLs and malformed HTTP. Nothing reaches a
 * client in fastify's default error shape.
 */
import { isUtf8 } from 'node:buffer'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { P2PError, ValidationError } from '../errors.js'

/** An HTTP error with the status to answer; its message is the reply's `error`. */
export class HttpError extends P2PError {
  readonly statusCode: number

  constructor (statusCode: number, message: string) {
    super('ERR_HTTP', message)
    this.statusCode = statusCode
  }
}

/** The error body of every failed request. */
export interface ErrorBody {
  error: string
}

/** Status and message for an error thrown anywhere in a request's handling. */
export function describeError (err: unknown, bodyLimit: number): { status: number, message: string } {
  if (err instanceof HttpError) return { status: err.statusCode, message: err.message }
  if (err instanceof ValidationError) return { status: 400, message: err.message }
  if (err instanceof P2PError && err.code === 'ERR_TRACKER_FULL') return { status: 503, message: err.message }
  const fastifyError = err as Partial<FastifyError>
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `Request body too large (limit ${bodyLimit} bytes)` }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Unsupported content type: expected application/json' }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'Invalid JSON body: empty' }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: 'Request body length does not match its Content-Length' }
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof fastifyError.message === 'string') {
    return { status, message: fastifyError.message }
  }
  return { status: 500, message: 'Internal server error' }
}

const BOM = 0xfeff

/**
 * The JSON body parser: strict UTF-8 (RFC 8259 §8.1; invalid bytes are refused, not replaced with U+FFFD),
 * an optional byte order mark ignored, any syntax error a 400.
 */
export function parseJsonBody (body: Buffer): unknown {
  if (body.length === 0) throw new HttpError(400, 'Invalid JSON body: empty')
  if (!isUtf8(body)) throw new HttpError(400, 'Invalid JSON body: not valid UTF-8')
  let text = body.toString('utf8')
  if (text.charCodeAt(0) === BOM) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'Invalid JSON body: syntax error')
  }
}

interface RouteMatcher {
  pattern: RegExp
  methods: Set<string>
}

/** Turns a route URL (`/get_file/:name`, `/x/*`) into a regular expression over raw request paths. */
function routePattern (url: string): RegExp {
  const source = url.split('/').map((segment) => {
    if (segment.startsWith(':')) return '[^/]+'
    if (segment === '*') return '.*'
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }).join('/')
  return new RegExp(`^${source}$`)
}

/**
 * Records every route added to `app` from now on (call it before any route); the function returned gives the methods
 * routed for a raw request path: none is a 404, some a 405 with them in `Allow`.
 */
export function watchRoutes (app: FastifyInstance): (path: string) => Set<string> {
  const routes: RouteMatcher[] = []
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const pattern = routePattern(route.url)
    let matcher = routes.find((r) => r.pattern.source === pattern.source)
    if (matcher === undefined) {
      matcher = { pattern, methods: new Set() }
      routes.push(matcher)
    }
    for (const method of methods) matcher.methods.add(method)
  })
  return (path) => {
    const allowed = new Set<string>()
    for (const route of routes) if (route.pattern.test(path)) for (const method of route.methods) allowed.add(method)
    return allowed
  }
}

/** Flask's jsonify writes compact JSON ending in a newline; so do we, for every reply. */
export function serializeJson (payload: unknown): string {
  return `${JSON.stringify(payload)}\n`
}

/** Sends `{"error": message}` with a status, through the same serializer in every context (404, framework errors). */
function sendError (reply: FastifyReply, status: number, message: string): void {
  void reply.code(status).type('application/json; charset=utf-8').serializer(serializeJson).send({ error: message } satisfies ErrorBody)
}

/** Writes a JSON error straight to a socket, for malformed HTTP that never became a request. */
function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  let status = '400 Bad Request'
  let message = 'Bad request: malformed HTTP'
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = '408 Request Timeout'
    message = 'Request timeout'
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = '431 Request Header Fields Too Large'
    message = 'Request headers too large'
  }
  const body = serializeJson({ error: message } satisfies ErrorBody)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}

/** Fastify options that route framework-level errors into the JSON shape. */
export const jsonErrorServerOptions = {
  clientErrorHandler,
  frameworkErrors (_error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
    sendError(reply, 400, 'Bad request: malformed URL')
  },
  // fastify's own 503-while-closing body has its own shape; requests arriving during close are served instead.
  return503OnClosing: false
}

/**
 * Installs the JSON body parser, the error handler, the 404/405 handler and the reply serializer. Call it
 * before any route is added: it watches routes being added to tell 405 from 404.
 */
export function installJsonErrors (app: FastifyInstance, bodyLimit: number): void {
  const methodsFor = watchRoutes(app)

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  app.setReplySerializer(serializeJson)

  app.setErrorHandler((err, request, reply) => {
    const { status, message } = describeError(err, bodyLimit)
    if (status >= 500) request.log.error({ err }, 'request failed')
    sendError(reply, status, message)
  })

  app.setNotFoundHandler((request, reply) => {
    const allowed = methodsFor(request.url.split('?', 1)[0] ?? '')
    if (allowed.size > 0) {
      void reply.header('allow', [...allowed].sort().join(', '))
      sendError(reply, 405, 'Method not allowed')
      return
    }
    sendError(reply, 404, 'Not found')
  })
}
