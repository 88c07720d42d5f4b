/**
 * `p2pshare tracker` as an operator runs it: HTTPS with `--cert/--key` (certificates made by the openssl CLI; our
 * clients trust one through NODE_EXTRA_CA_CERTS), and a graceful shutdown on SIGTERM that answers the requests in
 * flight, within its bound, and leaves a consistent catalogue holding every registration that was answered 200.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { randomFile, tempDir } from '../helpers/files.js'
import { cli, runCli, type Proc } from '../helpers/process.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

/** A self-signed certificate for 127.0.0.1 and localhost, and its key (EC P-256: made in milliseconds). */
function makeCertificate (dir: string, name: string): { cert: string, key: string } {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { cert, key }
}

async function httpsGet (url: string, ca: string | undefined): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ...(ca === undefined ? {} : { ca: readFileSync(ca) }), timeout: 5_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.end()
  })
}

async function startHttpsTracker (dir: string, t: TestContext, extra: string[]): Promise<{ url: string, proc: Proc }> {
  const proc = cli(['tracker', '--port', '0', '--db', join(dir, 'tracker.db'), ...extra], { cwd: dir, t })
  const m = await proc.waitFor(/running on (https:\/\/[\d.]+:\d+)/)
  // The banner's last line: the lines before it may arrive in a later read than the first one (a CI run saw that).
  await proc.waitFor(/Press Ctrl\+C to stop/)
  return { url: m[1] ?? '', proc }
}

test('tracker --cert/--key serves HTTPS (UDP unchanged); a sharer trusts it through NODE_EXTRA_CA_CERTS', async (t) => {
  const dir = tempDir(t)
  const { cert, key } = makeCertificate(dir, 'tracker')
  const { url, proc } = await startHttpsTracker(dir, t, ['--cert', cert, '--key', key])
  assert.match(proc.stdout(), new RegExp(`UDP tracker \\(BEP 15\\) on udp://127\\.0\\.0\\.1:${url.split(':')[2] ?? ''}`))
  assert.ok(proc.stdout().includes(`Web page: ${url}/  Metrics: ${url}/metrics`), proc.stdout())

  assert.deepEqual(await httpsGet(`${url}/healthz`, cert), { status: 200, body: '{"status":"ok"}\n' })
  // Without our CA the certificate is refused; plain HTTP on that port is not served.
  await assert.rejects(httpsGet(`${url}/healthz`, undefined), /self-signed certificate/)
  await assert.rejects(new Promise((resolve, reject) => {
    httpRequest(url.replace('https:', 'http:') + '/healthz', { timeout: 5_000 }, resolve).on('error', reject).end()
  }))

  // UDP (BEP 15) still answers a connect on the same port number.
  const socket = createSocket('udp4')
  t.after(() => { socket.close() })
  const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve))
  const packet = Buffer.alloc(16)
  packet.writeBigUInt64BE(0x41727101980n, 0)
  packet.writeUInt32BE(7, 12)
  socket.send(packet, Number(url.split(':')[2]), '127.0.0.1')
  assert.equal((await reply).readUInt32BE(4), 7)

  // Our client over HTTPS: refused without the CA, registered with it.
  const file = await randomFile(dir, 'secure.bin', 100_000)
  const untrusted = await runCli(['share', file.path, '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, timeoutMs: 30_000 })
  assert.notEqual(untrusted.code, 0)
  assert.match(untrusted.stderr, /TLS certificate not accepted: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\); .*set NODE_EXTRA_CA_CERTS/)
  const sharer = cli(['share', file.path, '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t, env: { NODE_EXTRA_CA_CERTS: cert } })
  await sharer.waitFor(/Peer is now online/)
  const files = JSON.parse((await httpsGet(`${url}/files`, cert)).body) as { files: Array<{ file_name: string, file_hash: string }> }
  assert.deepEqual(files.files.map(f => [f.file_name, f.file_hash]), [['secure.bin', file.sha1]])
})

test('tracker --cert/--key: both or neither, readable, and a matching pair; each refused with one clear line', async (t) => {
  const dir = tempDir(t)
  const a = makeCertificate(dir, 'a')
  const b = makeCertificate(dir, 'b')
  const db = join(dir, 't.db')
  const only = await runCli(['tracker', '--port', '0', '--db', db, '--cert', a.cert], { cwd: dir })
  assert.equal(only.code, 2)
  assert.match(only.stderr, /^Error: HTTPS needs both --cert FILE and --key FILE\n$/)
  const missing = await runCli(['tracker', '--port', '0', '--db', db, '--cert', join(dir, 'nope.crt'), '--key', a.key], { cwd: dir })
  assert.equal(missing.code, 9)
  assert.match(missing.stderr, /^Error: Cannot read --cert .*nope\.crt: ENOENT/)
  const mismatched = await runCli(['tracker', '--port', '0', '--db', db, '--cert', a.cert, '--key', b.key], { cwd: dir })
  assert.equal(mismatched.code, 2)
  assert.match(mismatched.stderr, /^Error: TLS: the private key \(--key\) does not belong to the certificate \(--cert\)\n$/)
  writeFileSync(join(dir, 'garbage.crt'), 'not a certificate\n')
  const garbage = await runCli(['tracker', '--port', '0', '--db', db, '--cert', join(dir, 'garbage.crt'), '--key', a.key], { cwd: dir })
  assert.equal(garbage.code, 2)
  assert.match(garbage.stderr, /^Error: TLS: cannot use the certificate or key: /)
  const badLog = await runCli(['tracker', '--port', '0', '--db', db, '--log', 'xml'], { cwd: dir })
  assert.equal(badLog.code, 2)
  assert.match(badLog.stderr, /log format must be one of: text, json, off/)
  for (const value of ['-1', 'soon', '1e9']) {
    const badTimeout = await runCli(['tracker', '--port', '0', '--db', db, '--shutdown-timeout', value], { cwd: dir })
    assert.equal(badTimeout.code, 2, `--shutdown-timeout ${value}: ${badTimeout.stderr}`)
    assert.match(badTimeout.stderr, /shutdown timeout/)
  }
})

interface Outcome { hash: string, status?: number, error?: string }

test('SIGTERM while /register requests are in flight: exit 0 within the bound, every 200 is in the catalogue, integrity ok', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'tracker.db')
  const proc = cli(['tracker', '--port', '0', '--db', db, '--no-udp', '--log', 'json', '--rate-limit', 'off'], { cwd: dir, t })
  const url = (await proc.waitFor(/running on (http:\/\/[\d.]+:\d+)/))[1] ?? ''
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  t.after(() => { agent.destroy() })

  const TOTAL = 600
  let answered = 0
  let onAnswered: (() => void) | undefined
  const register = async (i: number): Promise<Outcome> => {
    const hash = sha1(`file ${i}`)
    const body = JSON.stringify({ file_name: `f-${i}.bin`, file_hash: hash, file_size: 1000 + i, chunks: [0], ip: '127.0.0.1', port: 6000 })
    return await new Promise((resolve) => {
      const req = httpRequest(`${url}/register`, { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 15_000 }, (res) => {
        res.resume().on('end', () => {
          answered++
          onAnswered?.()
          resolve({ hash, status: res.statusCode ?? 0 })
        })
      })
      req.on('error', (err) => { resolve({ hash, error: err.message }) })
      req.on('timeout', () => { req.destroy(new Error('timeout')) })
      req.end(body)
    })
  }
  const all = Promise.all(Array.from({ length: TOTAL }, (_, i) => register(i)))
  await new Promise<void>((resolve) => { onAnswered = () => { if (answered >= 50) resolve() } })
  const stoppedAt = Date.now()
  proc.kill('SIGTERM')
  const timer = setTimeout(() => { proc.kill('SIGKILL') }, 20_000)
  const { code, signal } = await proc.exited
  clearTimeout(timer)
  const took = Date.now() - stoppedAt
  assert.equal(signal, null, `exited by itself, not killed: ${proc.stderr()}`)
  assert.equal(code, 0, proc.stderr())
  assert.ok(took < 10_000 + 2_000, `stopped within the 10 s bound (took ${took} ms)`)
  const outcomes = await all

  const ok = outcomes.filter(o => o.status === 200)
  t.diagnostic(`answered 200: ${ok.length} of ${TOTAL}; not answered: ${outcomes.filter(o => o.error !== undefined).length}; shutdown took ${took} ms`)
  const other = outcomes.filter(o => o.status !== undefined && o.status !== 200)
  assert.ok(ok.length >= 50, `at least the 50 answered before SIGTERM: ${ok.length}`)
  assert.deepEqual(other, [], 'no request answered with an error')
  // The log tells the shutdown.
  const events = proc.stderr().trim().split('\n').map(l => (JSON.parse(l) as { msg: string }).msg)
  assert.ok(events.includes('shutting down: finishing requests in flight'))
  assert.equal(events.at(-1), 'stopped')

  const sqlite = new Database(db, { readonly: true })
  try {
    assert.equal(sqlite.pragma('integrity_check', { simple: true }), 'ok')
    const stored = new Set(sqlite.prepare('SELECT file_hash FROM files').pluck().all() as string[])
    const lost = ok.filter(o => !stored.has(o.hash))
    assert.deepEqual(lost, [], 'every registration answered 200 is stored')
  } finally {
    sqlite.close()
  }
})

test('shutdown is bounded: a request that never completes is cut after --shutdown-timeout, and the exit is still 0', async (t) => {
  const dir = tempDir(t)
  const proc = cli(['tracker', '--port', '0', '--db', join(dir, 't.db'), '--no-udp', '--shutdown-timeout', '1', '--log', 'off'], { cwd: dir, t })
  const url = new URL((await proc.waitFor(/running on (http:\/\/[\d.]+:\d+)/))[1] ?? '')
  // Headers and part of the body of a /register, then nothing.
  const socket = connect(Number(url.port), '127.0.0.1')
  t.after(() => { socket.destroy() })
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const closed = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  socket.on('error', () => {})
  socket.write('POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"file_name"')
  await new Promise((resolve) => setTimeout(resolve, 200))

  const stoppedAt = Date.now()
  proc.kill('SIGTERM')
  const timer = setTimeout(() => { proc.kill('SIGKILL') }, 15_000)
  const { code, signal } = await proc.exited
  clearTimeout(timer)
  const took = Date.now() - stoppedAt
  assert.equal(signal, null, 'exited by itself')
  assert.equal(code, 0, proc.stderr())
  assert.ok(took >= 900, `waited for the request first (${took} ms)`)
  assert.ok(took < 5_000, `then closed it: the 1 s bound, not the 300 s request timeout (${took} ms)`)
  await closed
})
