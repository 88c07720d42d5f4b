/**
 * The checks every request to the node API meets before its route, in this order (one `onRequest` hook):
 *
 * 1. **Host** (DNS rebinding): a page on `evil.example` whose name the attacker re-points at 127.0.0.1 makes the
 *    browser send `Host: evil.example`. Only the loopback names (127.0.0.1, localhost, [::1], with or without the API
 *    port) and the names the operator allowed (`--api-host NAME`) are served; anything else is 403.
 * 2. **Authentication**, when configured: `Authorization: Basic` with the user and password, or `Bearer <token>`
 *    (and `?token=` on the event stream only, since EventSource sends no headers). Compared in constant time, as
 *    SHA-256 digests of equal length. Failed attempts (wrong credentials, not missing ones: a page cannot lock the
 *    user out by making the browser fetch without any) are counted per address; past the limit the address gets 429.
 * 3. **CSRF**: a browser sends a cross-site form or `fetch(no-cors)` without asking, with the user's cached Basic
 *    credentials. Every method other than GET, HEAD and OPTIONS must carry no `Origin` or one whose host is the Host
 *    header (403), and `Content-Type: application/json` (415), which no form can send and which a cross-origin
 *    `fetch` may send only after a CORS preflight that this API never approves (it sends no CORS headers at all).
 *    DELETE is exempt from the content type (it carries no body, and is no simple method: a cross-origin DELETE is
 *    preflighted anyway) but not from the Origin check. Route prefixes registered as exempt (the Transmission RPC,
 *    which does its own X-Transmission-Session-Id handshake) skip this step only.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ValidationError } from '../errors.js'
import { ApiError } from './errors.js'
import { AUTH_FAILURE_WINDOW_MS, AUTH_LOCKOUT_MS, AUTH_MAX_FAILURES, AUTH_MAX_TRACKED_ADDRESSES } from './limits.js'

/** The routes of the REST API; no CSRF-exempt prefix may cover them. */
export const API_PREFIX = '/api/v1'

/** The names a loopback API always answers to. */
const LOOPBACK_NAMES: readonly string[] = ['127.0.0.1', 'localhost', '::1']

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export const REALM = 'p2pshare'

export interface HostName {
  /** Lower case; an IPv6 literal without its brackets. */
  name: string
  port: number | undefined
}

/**
 * A Host header (or an `--api-host` value) as name and port: `name`, `name:port`, `[v6]`, `[v6]:port`, or a bare IPv6
 * literal (`::1`, which has no room for a port). Undefined when it is none of these.
 */
export function parseHost (value: string): HostName | undefined {
  const text = value.toLowerCase()
  let name: string
  let portText: string | undefined
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end === -1) return undefined
    name = text.slice(1, end)
    const rest = text.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined
      portText = rest.slice(1)
    }
    if (!name.includes(':')) return undefined
  } else {
    const colon = text.indexOf(':')
    if (colon !== -1 && text.indexOf(':', colon + 1) !== -1) {
      name = text
    } else if (colon !== -1) {
      name = text.slice(0, colon)
      portText = text.slice(colon + 1)
    } else {
      name = text
    }
  }
  if (name === '' || /[\s/?#@\\]/.test(name)) return undefined
  if (portText === undefined) return { name, port: undefined }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  return port <= 65_535 ? { name, port } : undefined
}

/** A host name as it is written in a Host header (IPv6 in brackets). */
function formatHost (host: HostName): string {
  const name = host.name.includes(':') ? `[${host.name}]` : host.name
  return host.port === undefined ? name : `${name}:${host.port}`
}

/**
 * Which Host headers are served. An entry without a port allows the name alone and the name with the API's port; one
 * with a port (`mynode.lan:8443`, for a proxy on another port) allows exactly that.
 */
export class HostPolicy {
  readonly #entries: HostName[]
  readonly #port: number
  readonly #boundPort: () => number | undefined

  /** `port` 0: the port the server is bound to, once it is (`boundPort`). */
  constructor (options: { port: number, allowedHosts?: readonly string[] | undefined, boundPort?: () => number | undefined }) {
    this.#port = options.port
    this.#boundPort = options.boundPort ?? (() => undefined)
    this.#entries = LOOPBACK_NAMES.map((name) => ({ name, port: undefined }))
    for (const entry of options.allowedHosts ?? []) {
      const host = parseHost(entry.trim())
      if (host === undefined) throw new ValidationError(`Invalid --api-host ${JSON.stringify(entry)}: expected a host name, optionally with :port`)
      this.#entries.push(host)
    }
  }

  #isApiPort (port: number): boolean {
    return port === this.#port || (this.#port === 0 && port === this.#boundPort())
  }

  allows (header: string | undefined): boolean {
    const host = header === undefined ? undefined : parseHost(header)
    if (host === undefined) return false
    return this.#entries.some((entry) => entry.name === host.name &&
      (entry.port === undefined ? host.port === undefined || this.#isApiPort(host.port) : host.port === entry.port))
  }

  /** Why `header` is refused, and how to allow it. */
  refusal (header: string | undefined): string {
    if (header === undefined || header === '') return 'Missing Host header'
    const host = parseHost(header)
    const shown = JSON.stringify(header.length > 100 ? `${header.slice(0, 100)}...` : header)
    if (host === undefined) return `Refused malformed Host header ${shown}`
    // The name alone allows it with the API's port; another port (a proxy's) must be named with it.
    const allow = formatHost(host.port === undefined || this.#isApiPort(host.port) ? { name: host.name, port: undefined } : host)
    const port = this.#port === 0 ? this.#boundPort() ?? 0 : this.#port
    return `Refused Host header ${shown}: this API answers only to 127.0.0.1, localhost and [::1] on port ${port} ` +
      `and to the names given with --api-host (a guard against DNS rebinding); to reach it by this name, start the node with --api-host ${allow}`
  }
}

export interface AuthLimits {
  /** Failures within `windowMs` that lock an address out. */
  maxFailures: number
  windowMs: number
  lockoutMs: number
  /** Addresses remembered at once. */
  maxAddresses: number
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  maxFailures: AUTH_MAX_FAILURES,
  windowMs: AUTH_FAILURE_WINDOW_MS,
  lockoutMs: AUTH_LOCKOUT_MS,
  maxAddresses: AUTH_MAX_TRACKED_ADDRESSES
}

interface FailureEntry {
  count: number
  since: number
  lockedUntil: number
}

/**
 * Failed authentications per address, bounded. A success does not reset the count: every local client shares
 * 127.0.0.1, and a web UI's polling must not give a local guesser a fresh budget.
 */
export class AuthFailures {
  // Insertion order is the order windows started in: the first entry is the stalest, evicted first.
  readonly #entries = new Map<string, FailureEntry>()
  readonly #limits: AuthLimits
  readonly #now: () => number

  constructor (limits: AuthLimits, now: () => number) {
    this.#limits = limits
    this.#now = now
  }

  get size (): number {
    return this.#entries.size
  }

  /** Milliseconds `address` stays locked out; 0: it is not. */
  lockedFor (address: string): number {
    const entry = this.#entries.get(address)
    if (entry === undefined) return 0
    const now = this.#now()
    if (entry.lockedUntil > now) return entry.lockedUntil - now
    if (now - entry.since >= this.#limits.windowMs) this.#entries.delete(address)
    return 0
  }

  /** Counts a failure; true when it locked the address out. */
  fail (address: string): boolean {
    const now = this.#now()
    let entry = this.#entries.get(address)
    if (entry === undefined || (now - entry.since >= this.#limits.windowMs && entry.lockedUntil <= now)) {
      entry = { count: 0, since: now, lockedUntil: 0 }
      this.#renew(address, entry)
    }
    entry.count++
    if (entry.count < this.#limits.maxFailures) return false
    // Locked: after the lockout the count starts again.
    this.#renew(address, { count: 0, since: now, lockedUntil: now + this.#limits.lockoutMs })
    return true
  }

  #renew (address: string, entry: FailureEntry): void {
    this.#entries.delete(address)
    if (this.#entries.size >= this.#limits.maxAddresses) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(address, entry)
  }
}

/** Credentials as a request presents them. */
export type Presented = { scheme: 'basic' | 'bearer', value: string } | { scheme: 'other' }

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/** The configured credentials, kept as digests; `accepts` compares in constant time. */
export class Credentials {
  readonly #basic: Buffer | undefined
  readonly #bearer: Buffer | undefined

  constructor (options: { auth?: { user: string, pass: string } | undefined, token?: string | undefined }) {
    if (options.auth !== undefined) {
      const { user, pass } = options.auth
      // RFC 7617: the user-id cannot contain a colon; neither may carry control characters.
      // eslint-disable-next-line no-control-regex
      if (user === '' || user.includes(':') || /[\u0000-\u001f\u007f]/.test(user)) throw new ValidationError('Invalid --api-auth user: non-empty, no colon, no control characters')
      // eslint-disable-next-line no-control-regex
      if (pass === '' || /[\u0000-\u001f\u007f]/.test(pass)) throw new ValidationError('Invalid --api-auth password: non-empty, no control characters')
      this.#basic = sha256(`${user}:${pass}`)
    }
    if (options.token !== undefined) {
      // RFC 6750: a bearer token is token68 characters.
      if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(options.token) || options.token.length > 1024) throw new ValidationError('Invalid --api-token: 1 to 1024 characters of A-Z a-z 0-9 - . _ ~ + / (then =)')
      this.#bearer = sha256(options.token)
    }
  }

  get basic (): boolean {
    return this.#basic !== undefined
  }

  get bearer (): boolean {
    return this.#bearer !== undefined
  }

  accepts (presented: Presented): boolean {
    if (presented.scheme === 'other') return false
    const expected = presented.scheme === 'basic' ? this.#basic : this.#bearer
    if (expected === undefined) return false
    return timingSafeEqual(sha256(presented.value), expected)
  }

  /** The WWW-Authenticate challenges of a 401: one header per scheme. */
  challenges (): string | string[] {
    const challenges: string[] = []
    if (this.basic) challenges.push(`Basic realm="${REALM}"`)
    if (this.bearer) challenges.push(`Bearer realm="${REALM}"`)
    return challenges.length === 1 ? challenges[0] ?? '' : challenges
  }
}

/** What an `Authorization` header presents; undefined without one. */
export function presentedByHeader (header: string | undefined): Presented | undefined {
  if (header === undefined) return undefined
  const text = header.trim()
  const space = text.search(/\s/)
  const scheme = (space === -1 ? text : text.slice(0, space)).toLowerCase()
  const value = space === -1 ? '' : text.slice(space + 1).trim()
  if (scheme === 'bearer') return { scheme: 'bearer', value }
  if (scheme === 'basic') return { scheme: 'basic', value: Buffer.from(value, 'base64').toString('utf8') }
  return { scheme: 'other' }
}

/** True for `application/json`, with or without parameters (`; charset=utf-8`). */
export function isJsonContentType (header: string | undefined): boolean {
  if (header === undefined) return false
  return (header.split(';', 1)[0] ?? '').trim().toLowerCase() === 'application/json'
}

/** True when `origin` (an Origin header) names the host of `host` (the Host header), port included. */
export function originMatchesHost (origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  try {
    // Both through the URL parser with the Origin's scheme: a default port reads the same written or not.
    return new URL(`${url.protocol}//${host}`).host === url.host
  } catch {
    return false
  }
}

/** Normalized CSRF-exempt prefixes; none may be `/` or cover the REST API. */
export function checkCsrfExemptPrefixes (prefixes: readonly string[]): string[] {
  return prefixes.map((raw) => {
    const prefix = raw.replace(/\/+$/, '')
    const within = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`)
    if (!prefix.startsWith('/') || within(API_PREFIX, prefix) || within(prefix, API_PREFIX)) {
      throw new ValidationError(`Invalid CSRF-exempt prefix ${JSON.stringify(raw)}: a path such as /transmission/rpc, outside ${API_PREFIX}`)
    }
    return prefix
  })
}

export interface SecurityOptions {
  hosts: HostPolicy
  /** Undefined: no authentication configured (the API is open to whoever passes the Host check). */
  credentials: Credentials | undefined
  failures: AuthFailures
  /** Routes (as registered) that take the token as `?token=` too. */
  queryTokenRoutes: readonly string[]
  /** From checkCsrfExemptPrefixes. */
  csrfExemptPrefixes: readonly string[]
}

function presentedBy (request: FastifyRequest, queryTokenRoutes: readonly string[]): Presented | undefined {
  const byHeader = presentedByHeader(request.headers.authorization)
  if (byHeader !== undefined) return byHeader
  const route = request.routeOptions.url
  if (request.method !== 'GET' || route === undefined || !queryTokenRoutes.includes(route)) return undefined
  const token = (request.query as Record<string, unknown> | undefined)?.token
  if (token === undefined) return undefined
  return typeof token === 'string' ? { scheme: 'bearer', value: token } : { scheme: 'other' }
}

function checkAuth (request: FastifyRequest, options: SecurityOptions, credentials: Credentials): void {
  const address = request.ip
  const locked = options.failures.lockedFor(address)
  if (locked > 0) {
    const seconds = Math.ceil(locked / 1000)
    throw new ApiError(429, 'ERR_TOO_MANY_AUTH_FAILURES', `Too many failed authentications from ${address}: try again in ${seconds} s`, { headers: { 'retry-after': String(seconds) } })
  }
  const presented = presentedBy(request, options.queryTokenRoutes)
  const challenge = { 'www-authenticate': credentials.challenges() }
  if (presented === undefined) {
    const ways = [credentials.basic ? 'Basic with the user and password of --api-auth' : '', credentials.bearer ? 'a Bearer token' : ''].filter((way) => way !== '')
    throw new ApiError(401, 'ERR_UNAUTHORIZED', `Authentication required: ${ways.join(' or ')}`, { headers: challenge })
  }
  if (!credentials.accepts(presented)) {
    const locked = options.failures.fail(address)
    request.log.warn({ address, locked }, 'API authentication failed')
    throw new ApiError(401, 'ERR_UNAUTHORIZED', 'Wrong credentials', { headers: challenge })
  }
}

function checkCsrf (request: FastifyRequest, exemptPrefixes: readonly string[]): void {
  if (SAFE_METHODS.has(request.method)) return
  // The route as registered, not the raw URL: only routes that live under a prefix are exempt.
  const route = request.routeOptions.url
  if (route !== undefined && exemptPrefixes.some((prefix) => route === prefix || route.startsWith(`${prefix}/`))) return
  const origin = request.headers.origin
  if (origin !== undefined && !originMatchesHost(origin, request.headers.host)) {
    const shown = JSON.stringify(origin.length > 100 ? `${origin.slice(0, 100)}...` : origin)
    throw new ApiError(403, 'ERR_CROSS_ORIGIN', `Refused cross-origin ${request.method} from Origin ${shown}: this API serves only its own origin`)
  }
  if (request.method === 'DELETE') return
  if (!isJsonContentType(request.headers['content-type'])) {
    throw new ApiError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `${request.method} needs Content-Type: application/json (also without a body), which a browser form cannot send`)
  }
}

/** Adds the checks as the app's first `onRequest` hook: call it before any route or plugin is registered. */
export function registerSecurity (app: FastifyInstance, options: SecurityOptions): void {
  app.addHook('onRequest', async (request) => {
    if (!options.hosts.allows(request.headers.host)) throw new ApiError(403, 'ERR_HOST_NOT_ALLOWED', options.hosts.refusal(request.headers.host))
    if (options.credentials !== undefined) checkAuth(request, options, options.credentials)
    checkCsrf(request, options.csrfExemptPrefixes)
  })
}
