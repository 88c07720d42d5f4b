/**
 * Interoperation with the seed's published Python peers and tracker, through stand-ins written from
 * ORIGINAL-PYTHON.md (test/fixtures/seed): both chunk dialects, in both directions, and our peers against the
 * seed's own tracker.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { python, runCli, runToEnd, startSharer, startTracker, type Proc } from '../helpers/process.js'

const MIB = 1024 * 1024

async function pythonSharer (dir: string, file: string, trackerUrl: string, t: TestContext, dialect: 'published' | 'readme' = 'published'): Promise<Proc> {
  const proc = python('hybrid_peer.py', ['--share', file, '--port', '0', '--tracker', trackerUrl, '--library', join(dir, 'py-lib'), '--dialect', dialect], { cwd: dir, t })
  await proc.waitFor(/Peer is now online/)
  return proc
}

async function pythonDownload (dir: string, name: string, trackerUrl: string, dialect: 'published' | 'readme' = 'published'): Promise<{ code: number | null, stdout: string }> {
  const { code, stdout } = await runToEnd(python('hybrid_peer.py', ['--download', name, '--tracker', trackerUrl, '--library', join(dir, 'py-got'), '--dialect', dialect], { cwd: dir }))
  return { code, stdout }
}

test('our downloader fetches from a Python peer, published dialect (1 MiB, length-prefixed)', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'py-pub.bin', 3 * MIB + 5)
  await pythonSharer(dir, file.path, url, t)
  const result = await runCli(['download', 'py-pub.bin', '--tracker', url, '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

test('our downloader fetches from a Python peer, README dialect (1 KiB, base64)', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'py-readme.bin', 20 * 1024 + 3)
  await pythonSharer(dir, file.path, url, t, 'readme')
  const result = await runCli(['download', 'py-readme.bin', '--tracker', url, '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /Starting download — 21 chunks/)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

test('a Python downloader fetches from our peer in each dialect', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const big = await randomFile(dir, 'ours-pub.bin', 2 * MIB + 1)
  const small = await randomFile(dir, 'ours-readme.bin', 5000)
  await startSharer(dir, big.path, url, t)
  await startSharer(dir, small.path, url, t, ['--dialect', 'readme'])
  const pub = await pythonDownload(dir, 'ours-pub.bin', url)
  assert.equal(pub.code, 0, pub.stdout)
  assert.match(pub.stdout, new RegExp(`File integrity verified: ${big.sha1}`))
  assert.equal(sha1Of(join(dir, 'py-got', big.sha1)), big.sha1)
  const readme = await pythonDownload(dir, 'ours-readme.bin', url, 'readme')
  assert.equal(readme.code, 0, readme.stdout)
  assert.equal(sha1Of(join(dir, 'py-got', small.sha1)), small.sha1)
})

test('one download from a Python published-dialect peer and our README-dialect peer together', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'mixed.bin', 3 * MIB)
  await pythonSharer(dir, file.path, url, t)
  const ours = await startSharer(dir, file.path, url, t, ['--dialect', 'readme'])
  // GET_CHUNK only: this is about the two dialects in one download (with BitTorrent, our peer would serve that way).
  const result = await runCli(['download', 'mixed.bin', '--tracker', url, '--out', join(dir, 'got'), '--workers', '3', '--protocol', 'get-chunk'], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
  ours.proc.kill('SIGINT')
  await ours.proc.exited
  const served = Number(ours.proc.stdout().match(/Stopped sharing \((\d+) chunk/)?.[1] ?? 0)
  assert.ok(served > 0, 'our README-dialect peer served part of the download')
})

test('our peers work with the seed\'s own tracker: share, download by name and by file hash', async (t) => {
  const dir = tempDir(t)
  const tracker = python('server.py', ['--port', '0'], { cwd: dir, t })
  const url = (await tracker.waitFor(/running on (http:\/\/[\d.]+:\d+)/))[1] ?? ''
  const file = await randomFile(dir, 'seed-tracker.bin', MIB + 100)
  await startSharer(dir, file.path, url, t)
  const byName = await runCli(['download', 'seed-tracker.bin', '--tracker', url, '--out', join(dir, 'a')], { cwd: dir })
  assert.equal(byName.code, 0, byName.stderr)
  assert.equal(sha1Of(join(dir, 'a', file.sha1)), file.sha1)
  const byHash = await runCli(['download', file.sha1, '--tracker', url, '--out', join(dir, 'b')], { cwd: dir })
  assert.equal(byHash.code, 0, byHash.stderr)
  assert.equal(sha1Of(join(dir, 'b', file.sha1)), file.sha1)
  const missing = await runCli(['download', 'nothing-here', '--tracker', url], { cwd: dir })
  assert.equal(missing.code, 4)
})
