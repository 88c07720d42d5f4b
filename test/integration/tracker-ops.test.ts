/**
 * Operating a tracker, in process over real sockets on 127.0.0.1: `/metrics` counts what happened (requests by
 * route and result, rejected ones, latency, swarms, catalogue, UDP packets), the request log has one line per request
 * and keeps query strings out, and the web page is served with its content types, CSP and revalidation.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { createTracker, TrackerLog, TrackerMetrics, type Tracker } from '../../src/tracker/index.js'
import { LATENCY_BUCKETS_S, registrationResult, rejectReason } from '../../src/tracker/metrics.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

function binaryParam (hex: string): string {
  return Buffer.from(hex, 'hex').toString('binary').split('').map(c => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
}

async function started (t: import('node:test').TestContext, log?: TrackerLog): Promise<{ tracker: Tracker, base: string, port: number }> {
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, ...(log === undefined ? {} : { logger: log }) })
  t.after(() => tracker.close())
  const address = await tracker.listen({ host: '127.0.0.1', port: 0 })
  return { tracker, base: `http://127.0.0.1:${address.port}`, port: address.port }
}

async function post (url: string, body: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  await res.arrayBuffer()
  return res.status
}

/** The samples of an exposition: `name{labels}` → value. Also checks every line is well formed. */
function parseExposition (text: string): Map<string, number> {
  assert.ok(text.endsWith('\n'), 'ends with a line feed')
  const samples = new Map<string, number>()
  const typed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line)
    if (type !== null) {
      assert.ok(!typed.has(type[1] ?? ''), `one TYPE line for ${type[1]}`)
      typed.add(type[1] ?? '')
      continue
    }
    if (line.startsWith('# HELP ')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|\+Inf)$/.exec(line)
    assert.ok(m !== null, `malformed line: ${line}`)
    samples.set(m[1] ?? '', Number(m[2]))
  }
  return samples
}

async function scrapeMetrics (base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  return parseExposition(await res.text())
}

test('/metrics counts registrations by result, rejected requests, latency per route, swarms, catalogue and UDP packets', async (t) => {
  const { base, port } = await started(t)
  const file = { file_name: 'a.txt', file_hash: sha1('a'), file_size: 18, chunks: [0], ip: '127.0.0.1', port: 6000 }
  assert.equal(await post(`${base}/register`, JSON.stringify(file)), 200)
  assert.equal(await post(`${base}/register`, JSON.stringify({ ...file, port: 6001 })), 200)
  assert.equal(await post(`${base}/register`, JSON.stringify({ ...file, file_hash: 'nothex' })), 400)
  assert.equal(await post(`${base}/register`, '{"not json'), 400)
  assert.equal((await fetch(`${base}/no/such/route`)).status, 404)
  assert.equal((await fetch(`${base}/lookup?file_name=missing`)).status, 404)
  assert.equal((await fetch(`${base}/register`)).status, 405)
  assert.equal((await fetch(`${base}/files`)).status, 200)
  const infoHash = sha1('swarm')
  const announce = await fetch(`${base}/announce?info_hash=${binaryParam(infoHash)}&peer_id=${binaryParam(sha1('peer'))}&port=7000&uploaded=0&downloaded=0&left=0&compact=1`)
  assert.equal(announce.status, 200)
  await announce.arrayBuffer()
  // One UDP connect (BEP 15): protocol id, action 0, transaction id.
  const socket = createSocket('udp4')
  t.after(() => { socket.close() })
  const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve))
  const connect = Buffer.alloc(16)
  connect.writeBigUInt64BE(0x41727101980n, 0)
  connect.writeUInt32BE(0, 8)
  connect.writeUInt32BE(1234, 12)
  socket.send(connect, port, '127.0.0.1')
  assert.equal((await reply).length, 16)

  const m = await scrapeMetrics(base)
  assert.equal(m.get('p2pshare_tracker_registrations_total{result="ok"}'), 2)
  assert.equal(m.get('p2pshare_tracker_registrations_total{result="invalid"}'), 2)
  assert.equal(m.get('p2pshare_tracker_registrations_total{result="full"}'), 0)
  assert.equal(m.get('p2pshare_tracker_rejected_requests_total{reason="not_found"}'), 2)
  assert.equal(m.get('p2pshare_tracker_rejected_requests_total{reason="method_not_allowed"}'), 1)
  assert.equal(m.get('p2pshare_tracker_rejected_requests_total{reason="bad_request"}'), 2)
  assert.equal(m.get('p2pshare_tracker_http_requests_total{route="/register",code="2xx"}'), 2)
  assert.equal(m.get('p2pshare_tracker_http_requests_total{route="/register",code="4xx"}'), 2)
  assert.equal(m.get('p2pshare_tracker_http_requests_total{route="unmatched",code="4xx"}'), 2, 'the 404 and the 405 match no route')
  // The histogram of /files: one request, cumulative buckets ending at the count.
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_count{route="/files"}'), 1)
  let previous = 0
  for (const le of LATENCY_BUCKETS_S) {
    const n = m.get(`p2pshare_tracker_request_duration_seconds_bucket{route="/files",le="${le}"}`)
    assert.ok(n !== undefined && n >= previous, `bucket ${le}`)
    previous = n
  }
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_bucket{route="/files",le="+Inf"}'), 1)
  assert.ok((m.get('p2pshare_tracker_request_duration_seconds_sum{route="/files"}') ?? -1) > 0)
  // Gauges read at scrape time.
  assert.equal(m.get('p2pshare_tracker_swarms'), 1)
  assert.equal(m.get('p2pshare_tracker_catalogue_files'), 1)
  assert.equal(m.get('p2pshare_tracker_udp_packets_total{kind="connect"}'), 1)
  assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 1024 * 1024)
  const peers = m.get('p2pshare_tracker_peers') ?? m.get('p2pshare_tracker_peers{state="seeder"}')
  assert.equal(peers, 1)

  // A second scrape sees the first one counted.
  const again = await scrapeMetrics(base)
  assert.equal(again.get('p2pshare_tracker_request_duration_seconds_count{route="/metrics"}'), 1)
})

test('the request log: one JSON line per request with method, route, status, latency and client; no query string', async (t) => {
  const lines: string[] = []
  const log = new TrackerLog({ stream: { write: (line: string) => lines.push(line) }, format: 'json' })
  const { base } = await started(t, log)
  assert.equal((await fetch(`${base}/files?q=secret-search&passkey=secret-key`)).status, 200)
  assert.equal(await post(`${base}/register`, '[]'), 400)
  assert.equal((await fetch(`${base}/healthz`)).status, 200)

  const entries = lines.map((line) => {
    assert.ok(line.endsWith('\n'), 'one line each')
    return JSON.parse(line) as Record<string, unknown>
  })
  const requests = entries.filter(e => e.msg === 'request')
  assert.equal(requests.length, 2, 'health checks are logged at debug only')
  assert.deepEqual({ ...requests[0], time: undefined, ms: undefined }, { time: undefined, level: 'info', msg: 'request', method: 'GET', route: '/files', status: 200, ms: undefined, ip: '127.0.0.1' })
  assert.equal(typeof requests[0]?.ms, 'number')
  assert.ok(!Number.isNaN(Date.parse(String(requests[0]?.time))))
  assert.equal(requests[1]?.route, '/register')
  assert.equal(requests[1]?.status, 400)
  assert.doesNotMatch(lines.join(''), /secret/, 'queries (passkeys, searches) stay out of the log')
})

test('the text log is one readable line per event; errors keep their message and code', () => {
  const lines: string[] = []
  const log = new TrackerLog({ stream: { write: (line: string) => lines.push(line) }, format: 'text' })
  log.info({ method: 'GET', route: '/files', status: 200, ms: 1.5, ip: '::1' }, 'request')
  log.error({ err: Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' }) }, 'register failed')
  log.debug('not shown at info')
  assert.equal(lines.length, 2)
  assert.match(lines[0] ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}request method=GET route=\/files status=200 ms=1.5 ip=::1\n$/)
  assert.match(lines[1] ?? '', /^\S+ ERROR register failed error="disk full" code=SQLITE_FULL\n$/)
})

test('the web page: HTML, script and style with their types, a strict CSP, and 304 when unchanged', async (t) => {
  const { base } = await started(t)
  const expected: Array<[string, RegExp]> = [
    ['/', /^text\/html; charset=utf-8$/],
    ['/web/app.js', /^text\/javascript; charset=utf-8$/],
    ['/web/style.css', /^text\/css; charset=utf-8$/]
  ]
  for (const [path, type] of expected) {
    const res = await fetch(`${base}${path}`)
    const body = await res.text()
    assert.equal(res.status, 200, path)
    assert.match(res.headers.get('content-type') ?? '', type, path)
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline script, no other origin')
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer')
    assert.equal(res.headers.get('cache-control'), 'no-cache')
    const etag = res.headers.get('etag') ?? ''
    assert.match(etag, /^"[\w-]+"$/)
    const cached = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } })
    assert.equal(cached.status, 304, path)
    assert.equal(await cached.text(), '')
    const stale = await fetch(`${base}${path}`, { headers: { 'if-none-match': '"old"' } })
    assert.equal(stale.status, 200)
    assert.equal(await stale.text(), body)
    if (path === '/') {
      // Everything the page loads is on this origin.
      assert.doesNotMatch(body, /(src|href)="(https?:)?\/\//)
      assert.match(body, /<script src="\/web\/app\.js" defer><\/script>/)
    }
  }
})

test('TrackerMetrics: a latency on a bucket bound counts in that bucket; unknown routes, label escaping, UDP and seeders', () => {
  const udp = { connects: 3, announces: 5, scrapes: 2, errors: 1, dropped: 4, limited: 8 }
  const metrics = new TrackerMetrics({
    swarms: () => ({ swarms: 2, peers: 10, seeders: 7 }),
    catalogue: () => ({ files: 4, legacyPeers: 6 }),
    udp: () => udp
  })
  metrics.addRoute('/odd"route\\')
  metrics.request('/announce', 200, 0.0005)
  metrics.request('/announce', 200, 0.00051)
  metrics.request('/announce', 200, 5)
  metrics.request('/no-such-pattern', 404, 0.001)
  metrics.request('/odd"route\\', 429, 0.002)
  metrics.announce('http', 'ok')
  metrics.announce('http', 'failure')
  metrics.announce('udp', 'rate_limited')
  metrics.scrape('http', 'denied')
  const m = parseExposition(metrics.render())
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_bucket{route="/announce",le="0.0005"}'), 1, 'le is "less than or equal"')
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_bucket{route="/announce",le="0.001"}'), 2)
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_bucket{route="/announce",le="1"}'), 2)
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_bucket{route="/announce",le="+Inf"}'), 3, 'above the last bound: only +Inf')
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_count{route="unmatched"}'), 1)
  assert.equal(m.get('p2pshare_tracker_request_duration_seconds_count{route="/odd\\"route\\\\"}'), 1)
  assert.equal(m.get('p2pshare_tracker_rejected_requests_total{reason="rate_limited"}'), 1)
  assert.equal(m.get('p2pshare_tracker_announces_total{protocol="http",result="ok"}'), 1)
  assert.equal(m.get('p2pshare_tracker_announces_total{protocol="http",result="failure"}'), 1)
  assert.equal(m.get('p2pshare_tracker_announces_total{protocol="udp",result="ok"}'), 5, 'UDP announces served, from its counters')
  assert.equal(m.get('p2pshare_tracker_announces_total{protocol="udp",result="rate_limited"}'), 1)
  assert.equal(m.get('p2pshare_tracker_scrapes_total{protocol="udp",result="ok"}'), 2)
  assert.equal(m.get('p2pshare_tracker_scrapes_total{protocol="http",result="denied"}'), 1)
  assert.equal(m.get('p2pshare_tracker_peers{state="seeder"}'), 7)
  assert.equal(m.get('p2pshare_tracker_peers{state="leecher"}'), 3)
  assert.equal(m.get('p2pshare_tracker_legacy_peers'), 6)
  assert.equal(m.get('p2pshare_tracker_udp_packets_total{kind="dropped"}'), 4)
  assert.equal(m.get('p2pshare_tracker_udp_packets_total{kind="rate_limited"}'), 8)

  assert.deepEqual([200, 304, 400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 500, 503].map(rejectReason),
    [undefined, undefined, 'bad_request', 'denied', 'denied', 'not_found', 'method_not_allowed', 'bad_request', 'too_large', 'bad_request', 'rate_limited', 'too_large', undefined, 'unavailable'])
  assert.deepEqual([200, 400, 413, 415, 403, 429, 503].map(registrationResult), ['ok', 'invalid', 'invalid', 'invalid', 'denied', 'rate_limited', 'full'])
})

test('once a shutdown begins, /healthz answers 503 so a load balancer stops sending clients; the shutdown still completes', async (t) => {
  const { tracker, base } = await started(t)
  assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' })
  const closing = tracker.close()
  const during = await tracker.app.inject({ method: 'GET', url: '/healthz' })
  assert.equal(during.statusCode, 503)
  assert.deepEqual(JSON.parse(during.body), { status: 'shutting down' })
  await closing
  await assert.rejects(fetch(`${base}/healthz`), 'no longer listening')
})
