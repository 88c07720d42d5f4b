/**
 * The seed's whole system through our CLI, as separate processes on 127.0.0.1: a tracker, sharing peers and
 * downloaders, real files, real kills, and every failure of the seed's Troubleshooting section.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { cli, runCli, startSharer, startTracker } from '../helpers/process.js'
import { throttleProxy } from '../helpers/throttle-proxy.js'

const MIB = 1024 * 1024

async function register (trackerUrl: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${trackerUrl}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  assert.equal(res.status, 200, await res.text())
}

function lastJson (stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n').filter(l => l.startsWith('{'))
  return JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>
}

for (const [label, size] of [['empty', 0], ['1 byte', 1], ['exactly one chunk', MIB], ['one chunk + 1 byte', MIB + 1], ['100 MiB', 100 * MIB]] as const) {
  test(`share and download a file: ${label}`, async (t) => {
    const dir = tempDir(t)
    const { url } = await startTracker(dir, t)
    const file = await randomFile(dir, `file-${size}.bin`, size)
    const sharer = await startSharer(dir, file.path, url, t)
    assert.equal(sharer.hash, file.sha1)
    assert.match(sharer.proc.stdout(), new RegExp(`File size: ${size} bytes`))
    assert.ok(existsSync(join(dir, 'downloads', 'p2p_share', file.sha1)), 'the sharer keeps a copy by hash')

    const out = join(dir, 'got')
    const result = await runCli(['download', `file-${size}.bin`, '--host', '127.0.0.1', '--tracker', url, '--out', out], { cwd: dir, timeoutMs: 120_000 })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Starting download — \d+ chunks from 1 peer\(s\)/)
    assert.match(result.stdout, new RegExp(`File integrity verified: ${file.sha1}`))
    assert.equal(sha1Of(join(out, file.sha1)), file.sha1)
    assert.deepEqual(readdirSync(out), [file.sha1], 'no partial file left behind')
  })
}

test('download by file hash, from three peers at once; a second download fetches nothing', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'movie.mp4', 24 * MIB + 7)
  const sharers = []
  for (let i = 0; i < 3; i++) sharers.push(await startSharer(dir, file.path, url, t))
  const out = join(dir, 'got')
  const result = await runCli(['download', file.sha1, '--host', '127.0.0.1', '--tracker', url, '--out', out, '--json'], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /"peers":3/)
  assert.equal(sha1Of(join(out, file.sha1)), file.sha1)
  for (const s of sharers) s.proc.kill('SIGINT')
  for (const s of sharers) {
    await s.proc.exited
    // Our sharers announce the file over BitTorrent too, so the download takes it from them that way.
    const stats = s.proc.stdout().match(/Stopped sharing \((\d+) chunk\(s\) served, (.+?) uploaded over BitTorrent\)/)
    assert.ok(stats !== null && (Number(stats[1]) > 0 || stats[2] !== '0 B'), `every peer served part of the file: ${stats?.[0] ?? s.proc.stdout()}`)
  }
  const again = await runCli(['download', 'movie.mp4', '--tracker', url, '--out', out, '--json'], { cwd: dir })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(lastJson(again.stdout).already_present, true)
})

test('the seed\'s spelling: --share FILE --port P and --download NAME --port P', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  writeFileSync(join(dir, 'testfile.txt'), 'Hello from Peer 1!\n')
  const sharer = cli(['--share', 'testfile.txt', '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t })
  await sharer.waitFor(/Peer is now online/)
  // Another folder, as another machine: the sharer's own library already holds the file.
  const elsewhere = tempDir(t)
  const result = await runCli(['--download', 'testfile.txt', '--port', '6001', '--host', '127.0.0.1', '--tracker', url], { cwd: elsewhere })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(sha1Of(join(elsewhere, 'downloads', 'p2p_share', sha1Of(join(dir, 'testfile.txt')))), sha1Of(join(dir, 'testfile.txt')))
  const hash = sha1Of(join(dir, 'testfile.txt'))
  assert.match(result.stdout, new RegExp(`Saved to: downloads/p2p_share/${hash}`))
  assert.match(result.stdout, /Download complete!/)
})

test('a peer killed mid-download: its chunks move to the other peer and the file completes', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'big.bin', 16 * MIB)
  const victim = await startSharer(dir, file.path, url, t)
  await startSharer(dir, file.path, url, t)
  // The victim is listed behind a slow proxy, so one of its chunks is in flight when it dies.
  const proxy = await throttleProxy(t, victim.port)
  await register(url, { file_name: 'big.bin', file_hash: file.sha1, file_size: 16 * MIB, chunks: Array.from({ length: 16 }, (_, i) => i), ip: '127.0.0.1', port: proxy.port })
  const out = join(dir, 'got')
  const download = cli(['download', 'big.bin', '--host', '127.0.0.1', '--tracker', url, '--out', out, '--json'], { cwd: dir, t })
  await proxy.firstBytes
  victim.proc.kill('SIGKILL')
  const { code } = await download.exited
  assert.equal(code, 0, download.stderr())
  assert.equal(sha1Of(join(out, file.sha1)), file.sha1)
})

test('a peer serving corrupt bytes: hash mismatch, exit 7, nothing kept under the final name', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'doc.pdf', 3 * MIB)
  await startSharer(dir, file.path, url, t)
  // The sharer serves the original path: change it underneath so it sends other bytes of the same size.
  await randomFile(dir, 'doc.pdf', 3 * MIB)
  const out = join(dir, 'got')
  // GET_CHUNK, as the seed: the whole-file check fails.
  const result = await runCli(['download', 'doc.pdf', '--tracker', url, '--out', out, '--protocol', 'get-chunk'], { cwd: dir })
  assert.equal(result.code, 7)
  assert.match(result.stderr, new RegExp(`Hash mismatch! Expected ${file.sha1}, got [0-9a-f]{40}`))
  assert.equal(result.stderr.includes('    at '), false, 'no stack trace')
  assert.deepEqual(readdirSync(out), [], 'the corrupt file is deleted')
  // BitTorrent (the default with our sharers): every piece fails its check, the sharer is banned, and with nobody
  // left the download fails at once, keeping nothing.
  const bt = await runCli(['download', 'doc.pdf', '--tracker', url, '--out', out, '--host', '127.0.0.1'], { cwd: dir })
  assert.equal(bt.code, 7, bt.stderr)
  assert.match(bt.stderr, /Banned peer 127\.0\.0\.1:\d+: 3 pieces failed their SHA-1 check/)
  assert.match(bt.stderr, /Error: Hash mismatch: every peer sent pieces that failed their SHA-1 check, and was banned/)
  assert.deepEqual(readdirSync(out), [], 'no partial file either: it held no verified piece')
})

test('unreachable and silent peers: skipped when an honest one exists, exit 6 when none', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t, ['--probe-interval', '0'])
  const file = await randomFile(dir, 'a.bin', 4 * MIB)
  const silent = createServer(() => { /* accepts, never answers */ })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => { silent.close() })
  const silentPort = (silent.address() as { port: number }).port
  const chunks = [0, 1, 2, 3]
  await register(url, { file_name: 'a.bin', file_hash: file.sha1, file_size: 4 * MIB, chunks, ip: '127.0.0.1', port: await freePort() })
  await register(url, { file_name: 'a.bin', file_hash: file.sha1, file_size: 4 * MIB, chunks, ip: '127.0.0.1', port: silentPort })

  const failed = await runCli(['download', 'a.bin', '--tracker', url, '--out', join(dir, 'none')], { cwd: dir })
  assert.equal(failed.code, 6, failed.stderr)
  assert.match(failed.stderr, /^Error: Download incomplete: 4 of 4 chunks could not be fetched; peers unreachable or too slow/m)
  assert.deepEqual(readdirSync(join(dir, 'none')), [])

  await startSharer(dir, file.path, url, t)
  const ok = await runCli(['download', 'a.bin', '--host', '127.0.0.1', '--tracker', url, '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

test('Ctrl+C during a download: exit 130, no file under the final name, no partial left', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t, ['--probe-interval', '0'])
  // The sharer registers with another tracker; ours lists it only behind a slow proxy.
  const other = await startTracker(tempDir(t), t)
  const file = await randomFile(dir, 'slow.bin', 4 * MIB)
  const sharer = await startSharer(dir, file.path, other.url, t)
  const proxy = await throttleProxy(t, sharer.port)
  await register(url, { file_name: 'slow.bin', file_hash: file.sha1, file_size: 4 * MIB, chunks: [0, 1, 2, 3], ip: '127.0.0.1', port: proxy.port })
  const out = join(dir, 'got')
  const download = cli(['download', 'slow.bin', '--tracker', url, '--out', out], { cwd: dir, t })
  await proxy.firstBytes
  download.kill('SIGINT')
  const { code } = await download.exited
  assert.equal(code, 130, download.stderr())
  assert.deepEqual(readdirSync(out), [], 'neither the final file nor a partial one')
})

test('the seed\'s Troubleshooting cases each give one line and their own exit code', async (t) => {
  const dir = tempDir(t)
  const dead = `http://127.0.0.1:${await freePort()}`
  const unreachable = await runCli(['download', 'x', '--tracker', dead], { cwd: dir })
  assert.equal(unreachable.code, 3)
  assert.match(unreachable.stderr, /^Error: Failed to connect to tracker at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/)

  const { url } = await startTracker(dir, t, ['--probe-interval', '1'])
  const missing = await runCli(['download', 'nope.txt', '--tracker', url], { cwd: dir })
  assert.equal(missing.code, 4)
  assert.equal(missing.stderr, 'Error: File not found on tracker: nope.txt\n')

  // A file whose only peer stopped answering: the tracker prunes the peer, the download says there are none.
  const file = await randomFile(dir, 'gone.txt', 100)
  await register(url, { file_name: 'gone.txt', file_hash: file.sha1, file_size: 100, chunks: [0], ip: '127.0.0.1', port: await freePort() })
  let peers = 1
  for (let i = 0; i < 100 && peers > 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    const body = await (await fetch(`${url}/lookup?file_name=gone.txt`)).json() as { peers: unknown[] }
    peers = body.peers.length
  }
  assert.equal(peers, 0, 'the dead peer was pruned')
  const none = await runCli(['download', 'gone.txt', '--tracker', url], { cwd: dir })
  assert.equal(none.code, 5)
  assert.equal(none.stderr, 'Error: No peers found for this file\n')

  const sharer = await startSharer(dir, file.path, url, t)
  const inUse = await runCli(['share', file.path, '--port', String(sharer.port), '--host', '127.0.0.1', '--tracker', url], { cwd: dir })
  assert.equal(inUse.code, 8)
  assert.match(inUse.stderr, new RegExp(`^Error: Port ${sharer.port} is already in use \\(Address already in use\\)`))

  const trackerInUse = await runCli(['tracker', '--port', new URL(url).port, '--db', join(dir, 'other.db')], { cwd: dir })
  assert.equal(trackerInUse.code, 8)
  assert.match(trackerInUse.stderr, /^Error: Port \d+ is already in use/)

  const noFile = await runCli(['share', join(dir, 'does-not-exist'), '--port', '0', '--tracker', url], { cwd: dir })
  assert.equal(noFile.code, 9)
  assert.match(noFile.stderr, /^Error: Cannot read .*does-not-exist: no such file\n$/)

  const badPort = await runCli(['share', file.path, '--port', 'abc'], { cwd: dir })
  assert.equal(badPort.code, 2)
  assert.match(badPort.stderr, /port must be a whole number from 0 to 65535/)

  for (const r of [unreachable, missing, none, inUse, trackerInUse, noFile, badPort]) assert.equal(r.stderr.includes('    at '), false, 'no stack trace')
})

test('a restarted tracker still knows the files and the peers registered before', async (t) => {
  const dir = tempDir(t)
  const first = await startTracker(dir, t)
  const file = await randomFile(dir, 'keep.bin', 2 * MIB)
  await startSharer(dir, file.path, first.url, t)
  first.proc.kill('SIGINT')
  await first.proc.exited
  const second = await startTracker(dir, t)
  const files = await (await fetch(`${second.url}/files`)).json() as { files: Array<{ file_name: string, peers_count: number }> }
  assert.deepEqual(files.files.map(f => [f.file_name, f.peers_count]), [['keep.bin', 1]])
  const result = await runCli(['download', 'keep.bin', '--host', '127.0.0.1', '--tracker', second.url, '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
})
