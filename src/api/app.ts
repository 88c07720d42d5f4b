/**
 * The node's HTTP API as a fastify app, built apart from listening (the caller calls `listen`; tests use
 * `app.inject()`): the JSON error shape first, then the security hook (security.ts), then the REST routes, the event
 * stream, the OpenAPI document, and last the plugins (the Transmission RPC), which every check but CSRF covers too.
 */
import { fastify, type FastifyInstance, type FastifyRequest } from 'fastify'
import { ValidationError } from '../errors.js'
import type { SessionApi } from '../session/types.js'
import { apiErrorServerOptions, installApiErrors } from './errors.js'
import { DEFAULT_EVENT_STREAM_LIMITS, EVENTS_ROUTE, registerEventRoutes, type EventStreamLimits } from './events.js'
import {
  API_BODY_LIMIT_BYTES,
  API_MAX_CONNECTIONS,
  API_MAX_HEADER_BYTES,
  API_MAX_PARAM_LENGTH,
  API_REQUEST_TIMEOUT_MS
} from './limits.js'
import { buildOpenApi, RouteCatalog } from './openapi.js'
import { registerRestRoutes } from './rest.js'
import {
  AuthFailures,
  checkCsrfExemptPrefixes,
  Credentials,
  DEFAULT_AUTH_LIMITS,
  HostPolicy,
  registerSecurity,
  type AuthLimits
} from './security.js'
import { AJV_OPTIONS, formatSchemaErrors } from './validation.js'
import { lazySerializers, precompiledValidators, type BuildSerializer, type BuildValidator } from './validators.js'

/**
 * A plugin of the node app (the Transmission RPC): registered in its own encapsulated context after the security
 * hook, so it can add its own content-type parsers and error handler without touching the REST routes'.
 */
export type NodeAppPlugin = (app: FastifyInstance) => Promise<void> | void

export interface NodeAppOptions {
  session: SessionApi
  /** The port the API listens on: Host headers must name it (or none). 0: the port the server gets bound to. */
  port: number
  /** Basic authentication (`--api-auth USER:PASS`). With neither this nor `token`, the API is open to whoever passes the Host check. */
  auth?: { user: string, pass: string } | undefined
  /** A Bearer token, accepted beside (or instead of) `auth`; on the event stream also as `?token=`. */
  token?: string | undefined
  /** More names the Host header may carry (`--api-host NAME`, or `NAME:PORT` behind a proxy on another port). */
  allowedHosts?: readonly string[] | undefined
  /** fastify's pino logger on stdout (with `?token=` redacted); default false (silent). */
  logger?: boolean | undefined
  /** Registered after the security hook, each in its own context, in this order. */
  plugins?: readonly NodeAppPlugin[] | undefined
  /**
   * Route prefixes (`/transmission/rpc`) that do their own CSRF defence: the Origin and content-type rule is skipped
   * for routes registered under them (the Host check and authentication are not). None may cover /api/v1.
   */
  csrfExemptPrefixes?: readonly string[] | undefined
  /** Clock of the authentication rate limit, ms; default Date.now. For tests. */
  now?: (() => number) | undefined
  /** Limits of the failed-authentication counting (default: limits.ts). For tests. */
  authLimits?: Partial<AuthLimits> | undefined
  /** Limits of the event stream (default: limits.ts). For tests. */
  eventStream?: Partial<EventStreamLimits> | undefined
  /**
   * fastify's schema compilers (default: the precompiled validators of validators.ts, fast-json-stringify loaded only
   * for a response schema). For the validator generator (validator-codegen.ts) and tests.
   */
  schemaCompilers?: { buildValidator?: BuildValidator | undefined, buildSerializer?: BuildSerializer | undefined } | undefined
}

/** The token in a logged request target replaced: request logs must not hold a credential. */
export function redactToken (url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]')
}

function checkOptions (options: NodeAppOptions): void {
  if (!(Number.isSafeInteger(options.port) && options.port >= 0 && options.port <= 65_535)) {
    throw new ValidationError(`Invalid API port: ${options.port} (0 to 65535)`)
  }
}

export async function buildNodeApp (options: NodeAppOptions): Promise<FastifyInstance> {
  checkOptions(options)
  const credentials = options.auth === undefined && options.token === undefined
    ? undefined
    : new Credentials({ auth: options.auth, token: options.token })
  const csrfExemptPrefixes = checkCsrfExemptPrefixes(options.csrfExemptPrefixes ?? [])
  const app = fastify({
    logger: options.logger === true
      ? { serializers: { req: (request: FastifyRequest) => ({ method: request.method, url: redactToken(request.url), remoteAddress: request.ip }) } }
      : false,
    bodyLimit: API_BODY_LIMIT_BYTES,
    http: { maxHeaderSize: API_MAX_HEADER_BYTES },
    requestTimeout: API_REQUEST_TIMEOUT_MS,
    routerOptions: { maxParamLength: API_MAX_PARAM_LENGTH },
    ajv: { customOptions: AJV_OPTIONS },
    schemaController: {
      compilersFactory: {
        buildValidator: options.schemaCompilers?.buildValidator ?? precompiledValidators(),
        buildSerializer: options.schemaCompilers?.buildSerializer ?? lazySerializers()
      }
    },
    schemaErrorFormatter: formatSchemaErrors,
    ...apiErrorServerOptions
  })
  app.server.maxConnections = API_MAX_CONNECTIONS
  const boundPort = (): number | undefined => {
    const address = app.server.address()
    return typeof address === 'object' && address !== null ? address.port : undefined
  }
  const hosts = new HostPolicy({ port: options.port, allowedHosts: options.allowedHosts, boundPort })

  installApiErrors(app, API_BODY_LIMIT_BYTES)
  const catalog = new RouteCatalog()
  catalog.install(app)
  registerSecurity(app, {
    hosts,
    credentials,
    failures: new AuthFailures({ ...DEFAULT_AUTH_LIMITS, ...options.authLimits }, options.now ?? Date.now),
    queryTokenRoutes: [EVENTS_ROUTE],
    csrfExemptPrefixes
  })
  registerRestRoutes(app, options.session)
  registerEventRoutes(app, options.session, { ...DEFAULT_EVENT_STREAM_LIMITS, ...options.eventStream })

  let document: Record<string, unknown> | undefined
  app.get('/api/v1/openapi.json', {
    config: {
      docs: {
        operationId: 'getOpenApi',
        summary: 'This document',
        tags: ['meta'],
        responses: { 200: { description: 'The OpenAPI 3.1 document', schema: { type: 'object' } } }
      }
    }
  }, async () => {
    // Built once, at the first request: every route (the plugins' too) is registered by then.
    document ??= buildOpenApi(catalog, { version: options.session.version, basic: credentials?.basic === true, bearer: credentials?.bearer === true })
    return document
  })

  for (const plugin of options.plugins ?? []) {
    await app.register(async (child) => { await plugin(child) })
  }
  try {
    await app.ready()
  } catch (err) {
    await app.close()
    throw err
  }
  return app
}
