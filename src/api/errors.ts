/**
 * Every error the node API answers is JSON `{"error": "<one line>", "code": "ERR_..."}` with its status: the session's
 * P2PErrors by their code (ERR_NOT_FOUND 404, ERR_DUPLICATE 409 with the existing torrent's `id`...), schema
 * violations 400, framework errors (413, 415, malformed URLs, malformed HTTP) and unknown routes (404 ERR_NO_ROUTE,
 * apart from a torrent not found; 405) in the same shape. A 500 that is no P2PError says nothing of its cause to the
 * client, and is logged.
 */
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { P2PError } from '../errors.js'
import { HttpError, parseJsonBody, serializeJson, watchRoutes } from '../tracker/http-errors.js'
import { API_MAX_PARAM_LENGTH } from './limits.js'

/** An error answered with its own status, code and (for a few) extra fields and headers. */
export class ApiError extends P2PError {
  readonly statusCode: number
  readonly headers: Readonly<Record<string, string | string[]>>

  constructor (statusCode: number, code: string, message: string, options: { headers?: Record<string, string | string[]>, cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause })
    this.statusCode = statusCode
    this.headers = options.headers ?? {}
  }
}

/** The body of every failed request. */
export interface ApiErrorBody {
  error: string
  code: string
  /** ERR_DUPLICATE: the id of the torrent already in the session. */
  id?: number
}

/**
 * Statuses of the codes the session throws (src/session/types.ts). A code not listed is a 500 whose message is still
 * shown (a P2PError's message is written for the user); any other error is a 500 that says only that.
 */
export const SESSION_ERROR_STATUS: Readonly<Record<string, number>> = {
  ERR_VALIDATION: 400,
  ERR_INPUT: 400,
  // A .torrent (or magnet) that does not parse, or names paths we refuse to write.
  ERR_METAINFO: 400,
  ERR_BENCODE: 400,
  // A catalogue file only GET_CHUNK peers share: the node cannot fetch it.
  ERR_NOT_SUPPORTED: 422,
  ERR_OUTPUT_EXISTS: 409,
  ERR_NOT_FOUND: 404,
  ERR_DUPLICATE: 409,
  ERR_NOT_READY: 409,
  ERR_OUTPUT: 500,
  // RFC 4918: the server cannot store what the request needs.
  ERR_NO_SPACE: 507
}

/** The existing torrent's id an ERR_DUPLICATE carries as `existing` (its id, or a summary with one). */
function duplicateId (err: P2PError): number | undefined {
  const existing: unknown = (err as P2PError & { existing?: unknown }).existing
  if (typeof existing === 'number') return existing
  if (typeof existing === 'object' && existing !== null && 'id' in existing && typeof existing.id === 'number') return existing.id
  return undefined
}

export interface DescribedError {
  status: number
  body: ApiErrorBody
  headers: Readonly<Record<string, string | string[]>>
}

/** Status, body and headers for an error thrown anywhere in a request's handling. */
export function describeApiError (err: unknown, bodyLimit: number): DescribedError {
  const plain = (status: number, code: string, error: string): DescribedError => ({ status, body: { error, code }, headers: {} })
  if (err instanceof ApiError) return { status: err.statusCode, body: { error: err.message, code: err.code }, headers: err.headers }
  // The tracker's JSON parser (shared) throws its HttpError: always a body that is not JSON.
  if (err instanceof HttpError) return plain(err.statusCode, err.statusCode === 400 ? 'ERR_BAD_JSON' : 'ERR_BAD_REQUEST', err.message)
  if (err instanceof P2PError) {
    // Trackers are the only remote parties an operation waits on (a catalogue lookup): 502, not our fault.
    const status = SESSION_ERROR_STATUS[err.code] ?? (err.code.startsWith('ERR_TRACKER') ? 502 : err.code.startsWith('ERR_PATH_') ? 400 : 500)
    const described = plain(status, err.code, err.message)
    if (err.code === 'ERR_DUPLICATE') {
      const id = duplicateId(err)
      if (id !== undefined) described.body.id = id
    }
    return described
  }
  const fastifyError = err as Partial<FastifyError>
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return plain(413, 'ERR_BODY_TOO_LARGE', `Request body too large (limit ${bodyLimit} bytes)`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return plain(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type: expected application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return plain(400, 'ERR_BAD_JSON', 'Invalid JSON body: empty')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return plain(400, 'ERR_BAD_REQUEST', 'Request body length does not match its Content-Length')
    case 'FST_ERR_VALIDATION':
      return plain(400, 'ERR_VALIDATION', fastifyError.message ?? 'Invalid request')
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof fastifyError.message === 'string') {
    return plain(status, 'ERR_BAD_REQUEST', fastifyError.message)
  }
  return plain(500, 'ERR_INTERNAL', 'Internal server error')
}

/** Sends an error body with its status, through the same serializer in every context (hooks, 404, framework errors). */
export function sendApiError (reply: FastifyReply, status: number, body: ApiErrorBody, headers: Readonly<Record<string, string | string[]>> = {}): FastifyReply {
  for (const [name, value] of Object.entries(headers)) void reply.header(name, value)
  return reply.code(status).type('application/json; charset=utf-8').serializer(serializeJson).send(body)
}

/** Writes a JSON error straight to a socket, for malformed HTTP that never became a request. */
function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  let status = '400 Bad Request'
  let body: ApiErrorBody = { error: 'Bad request: malformed HTTP', code: 'ERR_BAD_REQUEST' }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = '408 Request Timeout'
    body = { error: 'Request timeout', code: 'ERR_REQUEST_TIMEOUT' }
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = '431 Request Header Fields Too Large'
    body = { error: 'Request headers too large', code: 'ERR_HEADERS_TOO_LARGE' }
  }
  const text = serializeJson(body)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
  }
  socket.destroy(err)
}

/** Fastify options that route framework-level errors into the JSON shape. */
export const apiErrorServerOptions = {
  clientErrorHandler,
  // Before routing, so before the security hook: these answers serve nothing whatever the Host.
  frameworkErrors (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      sendApiError(reply, 400, { error: `A path parameter is longer than ${API_MAX_PARAM_LENGTH} characters (a torrent ref is an id or a 40-hex info hash)`, code: 'ERR_VALIDATION' })
      return
    }
    sendApiError(reply, 400, { error: 'Bad request: malformed URL', code: 'ERR_BAD_REQUEST' })
  },
  // fastify's own 503-while-closing body has its own shape; requests arriving during close are served instead.
  return503OnClosing: false
}

/**
 * Installs the JSON body parser, the error handler, the 404/405 handler and the reply serializer. Call it before any
 * route is added: it watches routes being added to tell 405 from 404.
 */
export function installApiErrors (app: FastifyInstance, bodyLimit: number): void {
  const methodsFor = watchRoutes(app)

  app.removeAllContentTypeParsers()
  // An empty JSON body is `{}`: POST /pause needs the JSON content type (the CSRF rule) and has nothing to say; a
  // route that needs fields then names the first one missing.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer
    if (bytes.length === 0) {
      done(null, {})
      return
    }
    try {
      done(null, parseJsonBody(bytes))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  app.setReplySerializer(serializeJson)

  app.setErrorHandler((err, request, reply) => {
    const { status, body, headers } = describeApiError(err, bodyLimit)
    if (status >= 500) request.log.error({ err }, 'request failed')
    sendApiError(reply, status, body, headers)
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0] ?? ''
    const allowed = methodsFor(path)
    if (allowed.size > 0) {
      sendApiError(reply, 405, { error: `Method ${request.method} not allowed here (allowed: ${[...allowed].sort().join(', ')})`, code: 'ERR_METHOD_NOT_ALLOWED' }, { allow: [...allowed].sort().join(', ') })
      return
    }
    sendApiError(reply, 404, { error: `No such route: ${request.method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`, code: 'ERR_NO_ROUTE' })
  })
}
