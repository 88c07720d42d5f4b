/**
 * The node API's request checks (src/api/security.ts), in their order: the Host check against DNS rebinding, Basic and
 * Bearer authentication with its per-address rate limit (clock passed in), and the CSRF rule (no foreign Origin, a
 * JSON content type) with its exempt prefixes for a plugin such as the Transmission RPC. No CORS header, ever.
 */
import { describe, test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildNodeApp, parseHost, redactToken, type NodeAppOptions, type NodeAppPlugin } from '../../src/api/index.js'
import { AuthFailures, originMatchesHost } from '../../src/api/security.js'
import { FakeSession } from '../helpers/fake-session.js'

const HOST = '127.0.0.1:9091'
const HASH = 'c'.repeat(40)
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
const ADMIN = basic('admin', 'correct horse')

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

interface Reply {
  status: number
  json: Json
  raw: string
  headers: Record<string, unknown>
}

let session: FakeSession
let app: FastifyInstance | undefined
let clock = 1_700_000_000_000

async function build (options: Partial<NodeAppOptions> = {}): Promise<FastifyInstance> {
  session = new FakeSession()
  app = await buildNodeApp({ session, port: 9091, now: () => clock, ...options })
  return app
}

afterEach(async () => {
  await app?.close()
  app = undefined
})

/** A raw request: only the headers given (Host 127.0.0.1:9091 unless given). */
async function send (method: InjectOptions['method'], url: string, headers: Record<string, string | undefined> = {}, payload?: string, remoteAddress?: string): Promise<Reply> {
  assert.ok(app !== undefined)
  const all: Record<string, string> = {}
  for (const [name, value] of Object.entries({ host: HOST, ...headers })) if (value !== undefined) all[name] = value
  const init: InjectOptions = { method: method ?? 'GET', url, headers: all }
  if (payload !== undefined) init.payload = payload
  if (remoteAddress !== undefined) init.remoteAddress = remoteAddress
  const res = await app.inject(init)
  if (res.body !== '') assert.match(String(res.headers['content-type']), /^application\/json/, res.body)
  for (const name of Object.keys(res.headers)) assert.ok(!name.startsWith('access-control-'), `no CORS header (${name})`)
  return { status: res.statusCode, json: res.body === '' ? undefined : JSON.parse(res.body), raw: res.body, headers: res.headers }
}

const json = { 'content-type': 'application/json' }
const addMagnet = (headers: Record<string, string | undefined> = {}, remoteAddress?: string): Promise<Reply> =>
  send('POST', '/api/v1/torrents', { ...json, ...headers }, JSON.stringify({ magnet: HASH }), remoteAddress)

function expectError (r: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.raw)
  assert.equal(r.json.code, code, r.raw)
  if (message !== undefined) assert.match(r.json.error, message)
}

describe('Host check (DNS rebinding)', () => {
  test('the loopback names are served, with the API port or none, in any case', async () => {
    await build()
    for (const host of ['127.0.0.1', '127.0.0.1:9091', 'localhost', 'localhost:9091', 'LocalHost:9091', '[::1]', '[::1]:9091', '::1']) {
      assert.equal((await send('GET', '/api/v1/torrents', { host })).status, 200, host)
    }
  })

  test('any other Host is 403, naming it and the option that allows it', async () => {
    await build()
    const refused: Array<[string, string]> = [
      ['evil.example', '--api-host evil.example'],
      ['evil.example:9091', '--api-host evil.example'],
      ['127.0.0.1.evil.example', '--api-host 127.0.0.1.evil.example'],
      ['localhost.evil.example:9091', '--api-host localhost.evil.example'],
      ['127.0.0.1:8080', '--api-host 127.0.0.1:8080'],
      ['localhost:80', '--api-host localhost:80'],
      ['[::1]:8080', '--api-host [::1]:8080'],
      ['127.0.0.2', '--api-host 127.0.0.2'],
      ['0.0.0.0:9091', '--api-host 0.0.0.0'],
      ['localhost.', '--api-host localhost.']
    ]
    for (const [host, allow] of refused) {
      const r = await send('GET', '/api/v1/torrents', { host })
      expectError(r, 403, 'ERR_HOST_NOT_ALLOWED')
      assert.ok(r.json.error.includes(JSON.stringify(host)), r.json.error)
      assert.ok(r.json.error.endsWith(allow), `${host}: ${r.json.error}`)
    }
    for (const host of ['localhost:9091@evil.example', 'evil.example/x', '[::1', '[::1]x', '127.0.0.1:', '127.0.0.1:99999', 'a b']) {
      expectError(await send('GET', '/api/v1/torrents', { host }), 403, 'ERR_HOST_NOT_ALLOWED', /^Refused malformed Host header/)
    }
    assert.deepEqual(session.calls, [])
  })

  test('it comes before everything: credentials, unknown routes, writes, plugins', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' }, plugins: [rpcPlugin], csrfExemptPrefixes: ['/transmission/'] })
    const evil = { host: 'evil.example' }
    expectError(await send('GET', '/api/v1/torrents', { ...evil, authorization: ADMIN }), 403, 'ERR_HOST_NOT_ALLOWED')
    expectError(await send('GET', '/api/v1/unknown', evil), 403, 'ERR_HOST_NOT_ALLOWED')
    expectError(await addMagnet({ ...evil, authorization: ADMIN }), 403, 'ERR_HOST_NOT_ALLOWED')
    expectError(await send('POST', '/transmission/rpc', { ...evil, authorization: ADMIN }, '{}'), 403, 'ERR_HOST_NOT_ALLOWED')
    assert.equal(rpcCalls, 0)
    assert.deepEqual(session.calls, [])
  })

  test('--api-host names: the name alone allows it with the API port, NAME:PORT exactly that', async () => {
    await build({ allowedHosts: ['mynode.lan', 'Proxy.Example:8443', '192.168.1.5'] })
    for (const host of ['mynode.lan', 'mynode.lan:9091', 'MYNODE.LAN', 'proxy.example:8443', '192.168.1.5:9091', '127.0.0.1']) {
      assert.equal((await send('GET', '/api/v1/torrents', { host })).status, 200, host)
    }
    for (const host of ['mynode.lan:1234', 'proxy.example', 'proxy.example:9091', 'sub.mynode.lan', '192.168.1.6:9091']) {
      assert.equal((await send('GET', '/api/v1/torrents', { host })).status, 403, host)
    }
  })

  test('an --api-host that is no host name is refused when the app is built', async () => {
    for (const entry of ['', 'a/b', 'user@host', 'host:port', '[::1']) {
      await assert.rejects(buildNodeApp({ session: new FakeSession(), port: 9091, allowedHosts: [entry] }), { code: 'ERR_VALIDATION' }, entry)
    }
  })

  test('parseHost reads names, ports and IPv6 literals', () => {
    assert.deepEqual(parseHost('LocalHost:9091'), { name: 'localhost', port: 9091 })
    assert.deepEqual(parseHost('[::1]:80'), { name: '::1', port: 80 })
    assert.deepEqual(parseHost('::1'), { name: '::1', port: undefined })
    assert.deepEqual(parseHost('example.org'), { name: 'example.org', port: undefined })
    assert.equal(parseHost('[example.org]'), undefined)
    assert.equal(parseHost(':9091'), undefined)
    assert.equal(parseHost('h:-1'), undefined)
  })
})

describe('authentication', () => {
  test('without credentials configured the API is open (to the Host check)', async () => {
    await build()
    assert.equal((await send('GET', '/api/v1/torrents')).status, 200)
  })

  test('Basic: the right user and password are served; anything else is 401 with a Basic challenge', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' } })
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN.replace('Basic', 'basic') })).status, 200)
    const missing = await send('GET', '/api/v1/torrents')
    expectError(missing, 401, 'ERR_UNAUTHORIZED', /^Authentication required: Basic/)
    assert.equal(missing.headers['www-authenticate'], 'Basic realm="p2pshare"')
    for (const authorization of [
      basic('admin', 'wrong'), basic('admin', 'correct horse!'), basic('root', 'correct horse'), basic('admin', ''),
      basic('admin', 'x'.repeat(5000)), 'Basic', 'Basic !!!!', 'Bearer correct horse', 'Digest username="admin"', ''
    ]) {
      const r = await send('GET', '/api/v1/torrents', { authorization })
      expectError(r, 401, 'ERR_UNAUTHORIZED')
      assert.equal(r.headers['www-authenticate'], 'Basic realm="p2pshare"')
    }
  })

  test('Bearer: the token alone, or beside Basic', async () => {
    await build({ token: 'tok3n-abc' })
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: 'Bearer tok3n-abc' })).status, 200)
    const wrong = await send('GET', '/api/v1/torrents', { authorization: 'Bearer tok3n-abd' })
    expectError(wrong, 401, 'ERR_UNAUTHORIZED', /^Wrong credentials$/)
    assert.equal(wrong.headers['www-authenticate'], 'Bearer realm="p2pshare"')
    // No Basic configured: no password opens it.
    expectError(await send('GET', '/api/v1/torrents', { authorization: basic('admin', 'tok3n-abc') }), 401, 'ERR_UNAUTHORIZED')
    await app?.close()
    await build({ auth: { user: 'admin', pass: 'correct horse' }, token: 'tok3n-abc' })
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: 'Bearer tok3n-abc' })).status, 200)
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
    assert.deepEqual((await send('GET', '/api/v1/torrents')).headers['www-authenticate'], ['Basic realm="p2pshare"', 'Bearer realm="p2pshare"'])
  })

  test('?token= counts on the event stream only', async () => {
    await build({ token: 'tok3n-abc' })
    expectError(await send('GET', '/api/v1/torrents?token=tok3n-abc'), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('GET', '/api/v1/events?token=wrong'), 401, 'ERR_UNAUTHORIZED', /Wrong credentials/)
    expectError(await send('GET', '/api/v1/events?token=a&token=b'), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('GET', '/api/v1/events'), 401, 'ERR_UNAUTHORIZED', /required/)
    // (A right ?token= opens the stream: api-rest.test.ts, on a real socket.)
  })

  test('every route needs it: writes, unknown routes (nothing is told of them), the OpenAPI document, plugins', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' }, plugins: [rpcPlugin], csrfExemptPrefixes: ['/transmission/rpc'] })
    expectError(await addMagnet(), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('GET', '/api/v1/nowhere'), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('GET', '/api/v1/openapi.json'), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('POST', '/transmission/rpc', {}, '{}'), 401, 'ERR_UNAUTHORIZED')
    assert.equal(rpcCalls, 0)
    assert.equal((await send('POST', '/transmission/rpc', { authorization: ADMIN }, '{}')).status, 200)
    assert.equal(rpcCalls, 1)
    assert.deepEqual(session.calls, [])
  })

  test('request logs never hold the token of ?token=', () => {
    assert.equal(redactToken('/api/v1/events?token=s3cret'), '/api/v1/events?token=[redacted]')
    assert.equal(redactToken('/api/v1/events?a=1&TOKEN=s3cret&b=2'), '/api/v1/events?a=1&TOKEN=[redacted]&b=2')
    assert.equal(redactToken('/api/v1/torrents?state=paused'), '/api/v1/torrents?state=paused')
  })

  test('credentials that could not work are refused when the app is built', async () => {
    const bad: Array<Partial<NodeAppOptions>> = [
      { auth: { user: 'ad:min', pass: 'x' } }, { auth: { user: '', pass: 'x' } }, { auth: { user: 'admin', pass: '' } },
      { auth: { user: 'admin', pass: 'a\nb' } }, { token: '' }, { token: 'has space' }, { token: 'x'.repeat(1025) }, { port: 70_000 }
    ]
    for (const options of bad) {
      await assert.rejects(buildNodeApp({ session: new FakeSession(), port: 9091, ...options }), { code: 'ERR_VALIDATION' }, JSON.stringify(options))
    }
  })
})

describe('failed authentications are rate limited per address', () => {
  test('after 10 wrong attempts in a minute the address gets 429, right credentials too, for a minute', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' } })
    const wrong = basic('admin', 'guess')
    for (let i = 0; i < 10; i++) expectError(await send('GET', '/api/v1/torrents', { authorization: wrong }), 401, 'ERR_UNAUTHORIZED')
    const locked = await send('GET', '/api/v1/torrents', { authorization: ADMIN })
    expectError(locked, 429, 'ERR_TOO_MANY_AUTH_FAILURES', /from 127\.0\.0\.1: try again in 60 s/)
    assert.equal(locked.headers['retry-after'], '60')
    // Another address is not locked out.
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN }, undefined, '10.0.0.7')).status, 200)
    clock += 30_000
    expectError(await send('GET', '/api/v1/torrents', { authorization: ADMIN }), 429, 'ERR_TOO_MANY_AUTH_FAILURES', /try again in 30 s/)
    clock += 30_000
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
    // A fresh count after the lockout.
    expectError(await send('GET', '/api/v1/torrents', { authorization: wrong }), 401, 'ERR_UNAUTHORIZED')
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
  })

  test('requests without credentials do not count (a page cannot lock the user out); successes reset nothing', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' } })
    for (let i = 0; i < 30; i++) expectError(await send('GET', '/api/v1/torrents'), 401, 'ERR_UNAUTHORIZED')
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
    for (let i = 0; i < 9; i++) await send('GET', '/api/v1/torrents', { authorization: basic('admin', `guess ${i}`) })
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
    expectError(await send('GET', '/api/v1/torrents', { authorization: basic('admin', 'guess 9') }), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('GET', '/api/v1/torrents', { authorization: ADMIN }), 429, 'ERR_TOO_MANY_AUTH_FAILURES')
  })

  test('failures older than the window are forgotten', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' } })
    for (let i = 0; i < 9; i++) await send('GET', '/api/v1/torrents', { authorization: basic('admin', 'guess') })
    clock += 60_000
    for (let i = 0; i < 9; i++) await send('GET', '/api/v1/torrents', { authorization: basic('admin', 'guess') })
    assert.equal((await send('GET', '/api/v1/torrents', { authorization: ADMIN })).status, 200)
  })

  test('the table of addresses is bounded: the stalest goes first', () => {
    let now = 0
    const failures = new AuthFailures({ maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000, maxAddresses: 3 }, () => now)
    for (let i = 0; i < 100; i++) {
      now += 1
      failures.fail(`10.0.0.${i}`)
      assert.ok(failures.size <= 3)
    }
    assert.equal(failures.size, 3)
    assert.equal(failures.fail('10.0.0.99'), true, 'a remembered address is locked at its second failure')
    assert.ok(failures.lockedFor('10.0.0.99') > 0)
    assert.equal(failures.lockedFor('10.0.0.0'), 0)
  })
})

describe('CSRF', () => {
  test('a write from a foreign Origin is 403, and reaches nothing', async () => {
    await build()
    for (const origin of ['http://evil.example', 'http://127.0.0.1:8080', 'http://localhost:9091', 'null', 'file://', 'not a url', 'http://127.0.0.1.evil.example:9091']) {
      expectError(await addMagnet({ origin }), 403, 'ERR_CROSS_ORIGIN', /^Refused cross-origin POST from Origin/)
    }
    expectError(await send('PATCH', '/api/v1/session', { ...json, origin: 'http://evil.example' }, '{"downloadLimit":1}'), 403, 'ERR_CROSS_ORIGIN')
    expectError(await send('DELETE', '/api/v1/torrents/1', { origin: 'http://evil.example' }), 403, 'ERR_CROSS_ORIGIN')
    assert.deepEqual(session.calls, [])
  })

  test('a write from its own origin, or with no Origin (curl, the CLI), is served', async () => {
    await build()
    assert.equal((await addMagnet({ origin: 'http://127.0.0.1:9091' })).status, 201)
    assert.equal((await send('POST', '/api/v1/torrents/1/pause', { ...json, origin: 'http://127.0.0.1:9091', host: '127.0.0.1:9091' })).status, 200)
    assert.equal((await send('POST', '/api/v1/torrents/1/resume', { ...json, origin: 'http://localhost:9091', host: 'localhost:9091' })).status, 200)
    assert.equal((await send('POST', '/api/v1/torrents/1/reannounce', json)).status, 200)
  })

  test('a write without the JSON content type is 415: what a form can send is refused', async () => {
    await build()
    const body = JSON.stringify({ magnet: HASH })
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/plain; application/json', undefined]) {
      const r = await send('POST', '/api/v1/torrents', { 'content-type': type }, body)
      expectError(r, 415, 'ERR_UNSUPPORTED_MEDIA_TYPE', /^POST needs Content-Type: application\/json/)
    }
    expectError(await send('POST', '/api/v1/torrents/1/pause', {}), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
    expectError(await send('PATCH', '/api/v1/session', { 'content-type': 'text/plain' }, '{"downloadLimit":1}'), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
    assert.deepEqual(session.calls, [])
    assert.equal((await send('POST', '/api/v1/torrents', { 'content-type': 'Application/JSON; charset=UTF-8' }, body)).status, 201)
  })

  test('DELETE needs no content type (no form sends one, and it is preflighted), only its own Origin', async () => {
    await build()
    await addMagnet()
    assert.equal((await send('DELETE', '/api/v1/torrents/1')).status, 204)
  })

  test('reads are served whatever the Origin, and no response carries a CORS header', async () => {
    await build()
    assert.equal((await send('GET', '/api/v1/torrents', { origin: 'http://evil.example' })).status, 200)
    // A preflight gets no approval (send() asserts there is no access-control-* header on any reply).
    const preflight = await send('OPTIONS', '/api/v1/torrents', { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' })
    assert.ok(preflight.status >= 400, preflight.raw)
  })

  test('checks run in order: Host, then authentication, then CSRF', async () => {
    await build({ auth: { user: 'admin', pass: 'correct horse' } })
    expectError(await send('POST', '/api/v1/torrents', { host: 'evil.example', 'content-type': 'text/plain', origin: 'http://evil.example' }, 'x'), 403, 'ERR_HOST_NOT_ALLOWED')
    expectError(await send('POST', '/api/v1/torrents', { 'content-type': 'text/plain', origin: 'http://evil.example' }, 'x'), 401, 'ERR_UNAUTHORIZED')
    expectError(await send('POST', '/api/v1/torrents', { authorization: ADMIN, 'content-type': 'text/plain', origin: 'http://evil.example' }, 'x'), 403, 'ERR_CROSS_ORIGIN')
    expectError(await send('POST', '/api/v1/torrents', { authorization: ADMIN, 'content-type': 'text/plain' }, 'x'), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
  })

  test('an exempt prefix skips only CSRF, only for the routes under it', async () => {
    await build({ plugins: [rpcPlugin], csrfExemptPrefixes: ['/transmission/'] })
    const r = await send('POST', '/transmission/rpc', { 'content-type': 'text/plain', origin: 'http://evil.example' }, '{"method":"session-get"}')
    assert.equal(r.status, 200, r.raw)
    assert.equal(rpcCalls, 1)
    // The same prefix without its slash is another route: not exempt.
    expectError(await send('POST', '/transmissionx', { 'content-type': 'text/plain' }, 'x'), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
    assert.equal(rpcCalls, 1)
  })

  test('no exempt prefix may cover the REST API', async () => {
    for (const prefix of ['/', '', 'transmission', '/api', '/api/', '/api/v1', '/api/v1/torrents']) {
      await assert.rejects(buildNodeApp({ session: new FakeSession(), port: 9091, csrfExemptPrefixes: [prefix] }), { code: 'ERR_VALIDATION' }, prefix)
    }
  })

  test('originMatchesHost: the Origin\'s host and port against the Host header', () => {
    assert.equal(originMatchesHost('http://127.0.0.1:9091', '127.0.0.1:9091'), true)
    assert.equal(originMatchesHost('http://localhost', 'localhost:80'), true)
    assert.equal(originMatchesHost('http://[::1]:9091', '[::1]:9091'), true)
    assert.equal(originMatchesHost('http://127.0.0.1:9092', '127.0.0.1:9091'), false)
    assert.equal(originMatchesHost('ftp://127.0.0.1:9091', '127.0.0.1:9091'), false)
    assert.equal(originMatchesHost('null', '127.0.0.1:9091'), false)
  })
})

let rpcCalls = 0

/** A stand-in for the Transmission RPC: its own routes, its own parser (it takes any content type). */
const rpcPlugin: NodeAppPlugin = (child) => {
  rpcCalls = 0
  child.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
  child.post('/transmission/rpc', async () => {
    rpcCalls++
    return { result: 'success' }
  })
  child.post('/transmissionx', async () => {
    rpcCalls++
    return { result: 'success' }
  })
}
