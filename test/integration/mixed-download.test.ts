/**
 * One download by name from BitTorrent peers (ours) and legacy GET_CHUNK peers (the seed's Python peers) at once;
 * a legacy peer that serves corrupt chunks is banned; a name download resumes; rate limits hold on GET_CHUNK too.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { cli, python, runCli, runToEnd, startSharer, startTracker, type Proc } from '../helpers/process.js'

const MIB = 1024 * 1024

function events (stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
}

async function pythonSharer (dir: string, file: string, trackerUrl: string, t: TestContext): Promise<Proc> {
  const proc = python('hybrid_peer.py', ['--share', file, '--port', '0', '--tracker', trackerUrl, '--library', join(dir, 'py-lib')], { cwd: dir, t })
  await proc.waitFor(/Peer is now online/)
  return proc
}

/** A GET_CHUNK server that answers every request with the right length of wrong bytes (published dialect). */
async function lyingLegacyPeer (t: TestContext): Promise<{ port: number, served: () => number }> {
  let served = 0
  const server: Server = createServer((socket) => {
    socket.once('data', (request) => {
      const id = Number(request.toString().trim().split(' ')[2])
      if (!Number.isInteger(id)) { socket.destroy(); return }
      served++
      const out = Buffer.alloc(4 + MIB, 0x5a)
      out.writeUInt32BE(MIB, 0)
      socket.end(out)
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { port: address.port, served: () => served }
}

async function register (trackerUrl: string, body: Record<string, unknown>): Promise<void> {
  const reply = await fetch(`${trackerUrl}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  assert.equal(reply.status, 200, await reply.text())
}

test('a name download takes pieces from BitTorrent peers and from Python GET_CHUNK peers together', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'mixed.bin', 6 * MIB + 12_345)
  // Our sharer is slowed to 1 MiB/s so the download surely needs both kinds of peer.
  await startSharer(dir, file.path, url, t, ['-u', '1024'])
  await pythonSharer(dir, file.path, url, t)

  const result = await runCli(['download', 'mixed.bin', '--tracker', url, '--out', join(dir, 'got'), '--host', '127.0.0.1', '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(result.code, 0, result.stderr)
  const all = events(result.stdout)
  const start = all.find(e => e.event === 'start')
  assert.equal(start?.protocol, 'bittorrent', JSON.stringify(start))
  assert.equal(start?.legacy_peers, 1, 'the Python peer is fetched with GET_CHUNK')
  const done = all.find(e => e.event === 'done')
  assert.ok(typeof done?.bittorrent_bytes === 'number' && done.bittorrent_bytes > 0, `bytes over BitTorrent: ${JSON.stringify(done)}`)
  assert.ok(typeof done.get_chunk_bytes === 'number' && done.get_chunk_bytes > 0, 'bytes with GET_CHUNK')
  assert.ok(done.bittorrent_bytes + done.get_chunk_bytes >= file.sha1.length, 'both counted')
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1, 'stored by hash, as the seed does')
})

test('a legacy peer that serves corrupt chunks is banned, and the download completes from the honest peer', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'liar.bin', 8 * MIB)
  const honest = await startSharer(dir, file.path, url, t, ['-u', '4096'])
  const liar = await lyingLegacyPeer(t)
  await register(url, { file_name: 'liar.bin', file_hash: file.sha1, file_size: 8 * MIB, chunks: [...Array(8).keys()], ip: '127.0.0.1', port: liar.port })

  const result = await runCli(['download', file.sha1, '--tracker', url, '--out', join(dir, 'got'), '--host', '127.0.0.1', '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(result.code, 0, result.stderr)
  const banned = events(result.stdout).filter(e => e.event === 'peer-banned')
  assert.equal(banned.length, 1, JSON.stringify(banned))
  assert.match(String(banned[0]?.peer), new RegExp(`127\\.0\\.0\\.1:${liar.port} \\(GET_CHUNK\\)`))
  assert.match(String(banned[0]?.reason), /failed their SHA-1 check/)
  assert.ok(liar.served() >= 1)
  assert.notEqual(honest.port, liar.port)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

test('an interrupted name download resumes from <hash>.part, keeping its verified pieces', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'resume-name.bin', 8 * MIB)
  const slow = await startSharer(dir, file.path, url, t, ['-u', '1024'])
  const out = join(dir, 'got')
  const first = cli(['download', 'resume-name.bin', '--tracker', url, '--out', out, '--host', '127.0.0.1', '--json'], { cwd: dir, t })
  await first.waitFor(/"event":"progress","downloaded":[1-9]/, 30_000)
  first.kill('SIGINT')
  assert.equal((await first.exited).code, 130)
  assert.ok(existsSync(join(out, `${file.sha1}.part`)), 'the partial download is kept')
  slow.proc.kill('SIGKILL')
  await slow.proc.exited

  await startSharer(dir, file.path, url, t)
  const second = await runCli(['download', 'resume-name.bin', '--tracker', url, '--out', out, '--host', '127.0.0.1', '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(second.code, 0, second.stderr)
  const resume = events(second.stdout).find(e => e.event === 'resume')
  assert.ok(typeof resume?.verified === 'number' && resume.verified > 0 && resume.verified < (resume.pieces as number), JSON.stringify(resume))
  assert.equal(sha1Of(join(out, file.sha1)), file.sha1)
  assert.ok(!existsSync(join(out, `${file.sha1}.part`)))
})

test('-d limits a GET_CHUNK-only download', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'limited.bin', 2 * MIB)
  // A Python peer registers no info hash: the download is GET_CHUNK only.
  await pythonSharer(dir, file.path, url, t)
  const limited = await runCli(['download', 'limited.bin', '--tracker', url, '--out', join(dir, 'got'), '-d', '512', '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(limited.code, 0, limited.stderr)
  assert.equal(events(limited.stdout).find(e => e.event === 'start')?.protocol, 'legacy')
  const done = events(limited.stdout).find(e => e.event === 'done')
  // 2 MiB at 512 KiB/s, less the bucket's first quarter-second burst, is at least 3.75 s (unlimited: ~0.05 s).
  assert.ok(typeof done?.elapsed_ms === 'number' && done.elapsed_ms >= 3_500, `took ${String(done?.elapsed_ms)} ms under -d 512`)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

test('share -u limits its GET_CHUNK replies too', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'limited-up.bin', 2 * MIB)
  await startSharer(dir, file.path, url, t, ['-u', '512'])
  // The Python downloader speaks GET_CHUNK only, and this sharer is its only peer.
  const started = performance.now()
  const py = await runToEnd(python('hybrid_peer.py', ['--download', 'limited-up.bin', '--tracker', url, '--library', join(dir, 'py-got')], { cwd: dir }), 60_000)
  const elapsed = performance.now() - started
  assert.equal(py.code, 0, py.stdout)
  assert.equal(sha1Of(join(dir, 'py-got', file.sha1)), file.sha1)
  assert.ok(elapsed >= 3_500, `took ${Math.round(elapsed)} ms from a sharer at -u 512`)
})

/** A tracker that answers every /lookup with `reply` (and 404 otherwise). */
async function fakeTracker (t: TestContext, reply: () => unknown): Promise<string> {
  const server = createHttpServer((req, res) => {
    if (req.url?.startsWith('/lookup') !== true) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"File not found"}'); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

test('hostile BitTorrent hints in a lookup (bad info hash, bad peers, peers without metadata) fall back to GET_CHUNK', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'hints.bin', 3 * MIB)
  // A legacy peer that really has the file (registered elsewhere; the fake tracker lists it by hand).
  const py = await pythonSharer(dir, file.path, url, t)
  const port = Number(py.stdout().match(/Listening for chunk requests on [^:]+:(\d+)/)?.[1])
  const deadPort = await freePort()
  const legacy = { file_hash: file.sha1, file_name: 'hints.bin', file_size: 3 * MIB, peers: [{ ip: '127.0.0.1', port, chunks: [0, 1, 2] }] }
  const replies = [
    { ...legacy, info_hash: 'zz', bt_peers: [{ ip: 'not-an-ip', port: 99999 }, 'x', null] },
    { ...legacy, info_hash: '11'.repeat(20), bt_peers: [{ ip: '127.0.0.1', port: deadPort }] }
  ]
  for (const [i, reply] of replies.entries()) {
    const tracker = await fakeTracker(t, () => reply)
    const result = await runCli(['download', 'hints.bin', '--tracker', tracker, '--out', join(dir, `got${i}`), '--host', '127.0.0.1', '--json', '-v'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(events(result.stdout).find(e => e.event === 'start')?.protocol, 'legacy', `reply ${i}: GET_CHUNK only`)
    assert.equal(sha1Of(join(dir, `got${i}`, file.sha1)), file.sha1)
  }
})

test('bad values of the new download and tracker options are usage errors (exit 2) with one line', async (t) => {
  const dir = tempDir(t)
  for (const [args, message] of [
    [['download', 'x', '--protocol', 'carrier-pigeon'], /protocol/],
    [['download', 'x', '-d', '1e3'], /download limit must be a number of KiB\/s/],
    [['share', 'x', '-u', '-5'], /upload limit must be a number of KiB\/s/],
    [['tracker', '--announce-interval', '0'], /announce interval must be a whole number from 1 to 86400/]
  ] as const) {
    const result = await runCli([...args], { cwd: dir })
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
    assert.match(result.stderr, message)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
  }
})

test('a catalogue entry whose torrent is other content: refused after its metadata (exit 3), or after its whole-file SHA-1 (exit 7); nothing kept', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const wanted = await randomFile(dir, 'wanted.bin', 2 * MIB)
  const other = await randomFile(dir, 'other.bin', 2 * MIB)
  const bigger = await randomFile(dir, 'bigger.bin', 3 * MIB)
  const sharers = { other: await startSharer(dir, other.path, url, t), bigger: await startSharer(dir, bigger.path, url, t) }
  const infoHash = (s: { proc: Proc }): string => s.proc.stdout().match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? ''
  // A tracker that lists the wanted file's hash and size with the info hash of another torrent, and only its seed.
  const lying = (s: { port: number, proc: Proc }) => ({
    file_hash: wanted.sha1, file_name: 'wanted.bin', file_size: 2 * MIB, peers: [{ ip: '127.0.0.1', port: s.port, chunks: [0, 1] }], info_hash: infoHash(s), bt_peers: [{ ip: '127.0.0.1', port: s.port }]
  })
  const cases = [
    { sharer: sharers.bigger, code: 3, error: /Tracker catalogue mismatch: the torrent of info hash [0-9a-f]{40} is not this file \(1 files, 3145728 bytes\)/ },
    { sharer: sharers.other, code: 7, error: /Hash mismatch! Expected [0-9a-f]{40}, got [0-9a-f]{40} \(the torrent registered for this file holds other content\)/ }
  ]
  for (const [i, c] of cases.entries()) {
    const tracker = await fakeTracker(t, () => lying(c.sharer))
    const out = join(dir, `got${i}`)
    // The sharer is in both lists (one port, both protocols): BitTorrent is used with it, so there is no GET_CHUNK to fall back to.
    const result = await runCli(['download', wanted.sha1, '--tracker', tracker, '--out', out, '--host', '127.0.0.1', '--stall-timeout', '20'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(result.code, c.code, result.stderr)
    assert.match(result.stderr, c.error)
    assert.equal(existsSync(join(out, wanted.sha1)), false, 'nothing under the final name')
    assert.equal(existsSync(join(out, `${wanted.sha1}.part`)), false, 'no partial file of the wrong content')
  }
})
