import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Server } from 'node:net'
import { createTracker, tcpProbe } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

async function listen (server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/** A port on 127.0.0.1 that was free a moment ago and has nothing listening on it now. */
async function closedPort (): Promise<number> {
  const server = createServer()
  const port = await listen(server)
  server.close()
  await once(server, 'close')
  return port
}

test('tcpProbe: true for a listening port, false for a closed one or an aborted probe', async (t) => {
  let accepted = 0
  const server = createServer((socket) => {
    accepted++
    socket.on('error', () => {})
  })
  const open = await listen(server)
  t.after(() => server.close())
  assert.equal(await tcpProbe('127.0.0.1', open), true)
  assert.equal(await tcpProbe('127.0.0.1', await closedPort()), false)
  assert.equal(await tcpProbe('127.0.0.1', open, AbortSignal.abort()), false)
  const controller = new AbortController()
  const pending = tcpProbe('127.0.0.1', open, controller.signal)
  controller.abort()
  assert.equal(await pending, false)
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.ok(accepted >= 1, 'the listener saw the probe connect')
})

test('the default probe prunes a peer whose port is closed and keeps one that listens', async (t) => {
  const peer = createServer((socket) => socket.on('error', () => {}))
  const openPort = await listen(peer)
  t.after(() => peer.close())
  const deadPort = await closedPort()

  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, probeFailuresToPrune: 2 })
  t.after(() => tracker.close())
  for (const port of [deadPort, openPort]) {
    const r = await tracker.app.inject({
      method: 'POST', url: '/register', payload: { file_name: 'f.bin', file_hash: sha1('f'), file_size: 1, chunks: [0], ip: '127.0.0.1', port }
    })
    assert.equal(r.statusCode, 200)
  }
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 0, aborted: false })
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 1, aborted: false })
  const lookup = await tracker.app.inject({ method: 'GET', url: '/lookup?file_name=f.bin' })
  assert.deepEqual(lookup.json(), { file_hash: sha1('f'), file_name: 'f.bin', file_size: 1, peers: [{ ip: '127.0.0.1', port: openPort, chunks: [0] }] })
})

test('listen() on 127.0.0.1 port 0 serves the API over HTTP; malformed HTTP gets a JSON 400; close() stops it', async () => {
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0 })
  const { host, port } = await tracker.listen({ host: '127.0.0.1', port: 0 })
  assert.equal(host, '127.0.0.1')
  assert.ok(port > 0)
  const base = `http://127.0.0.1:${port}`
  try {
    const reg = await fetch(`${base}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file_name: 'f.bin', file_hash: sha1('f'), file_size: 1, chunks: [0], ip: '127.0.0.1', port: 6000 })
    })
    assert.equal(reg.status, 200)
    assert.deepEqual(await reg.json(), { file_hash: sha1('f'), message: 'Peer registered successfully', peers_count: 1 })
    const files = await (await fetch(`${base}/files`)).json() as { files: Array<{ added_at: number }> }
    assert.deepEqual(files, { files: [{ added_at: files.files[0]?.added_at, completed: 0, file_hash: sha1('f'), file_name: 'f.bin', file_size: 1, peers_count: 1 }], total: 1 })
    const nulls = await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'null' })
    assert.equal(nulls.status, 400)
    assert.deepEqual(await nulls.json(), { error: 'Request body must be a JSON object' })

    const socket = connect(port, '127.0.0.1')
    socket.write('NOT HTTP AT ALL\r\n\r\n')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    await once(socket, 'close')
    const raw = Buffer.concat(chunks).toString()
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/)
    assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), '{"error":"Bad request: malformed HTTP"}\n')
  } finally {
    await tracker.close()
  }
  await assert.rejects(fetch(`${base}/files`))
  await tracker.close()
})
