/**
 * Our peers with aria2 1.36 (Debian's aria2), on 127.0.0.1 with DHT, LPD and PEX off. Our tracker introduces them.
 * Guards, among others, that a bitfield sent after have-none (aria2 does) is taken, not treated as an attack, and that
 * aria2 can start from the magnet link `share` prints (it announces left=0 while it fetches the metadata).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { runCli, runToEnd, start, startSharer, startTracker, type Proc } from '../helpers/process.js'

const LOOPBACK_ONLY = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--interface=127.0.0.1', '--disable-ipv6=true', '--summary-interval=0', '--console-log-level=warn']

function aria2 (args: string[], dir: string, t: TestContext): Proc {
  return start('aria2c', [...LOOPBACK_ONLY, ...args], { cwd: dir, t })
}

async function setup (t: TestContext): Promise<{ dir: string, url: string, file: { path: string, sha1: string }, torrent: string }> {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'payload.bin', 5 * 1024 * 1024 + 99)
  const torrent = join(dir, 'payload.torrent')
  const created = await runCli(['create', file.path, '--tracker', url, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  return { dir, url, file, torrent }
}

test('aria2 downloads a file that only our peer seeds', async (t) => {
  const { dir, url, file, torrent } = await setup(t)
  await startSharer(dir, file.path, url, t)
  const leech = aria2([`--listen-port=${await freePort()}`, '--seed-time=0', `--dir=${join(dir, 'aria')}`, torrent], dir, t)
  const { code, stdout, stderr } = await runToEnd(leech)
  assert.equal(code, 0, stdout + stderr)
  assert.equal(sha1Of(join(dir, 'aria', 'payload.bin')), file.sha1)
})

test('our downloader fetches a file that only aria2 seeds', async (t) => {
  const { dir, file, torrent } = await setup(t)
  mkdirSync(join(dir, 'seed'))
  copyFileSync(file.path, join(dir, 'seed', 'payload.bin'))
  aria2([`--listen-port=${await freePort()}`, '--seed-ratio=0.0', '--check-integrity=true', `--dir=${join(dir, 'seed')}`, torrent], dir, t)
  // aria2 announces once its check is done; our downloader re-announces until it finds it.
  const result = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'got'), '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(sha1Of(join(dir, 'got', 'payload.bin')), file.sha1)
})

test('aria2 downloads from the magnet link `share` prints: metadata (BEP 9) and content from our seed alone', async (t) => {
  // aria2 fetching a magnet's metadata announces event=started, left=0, downloaded=0: a seeder, to a tracker. Our
  // tracker gave seeders leechers only, so aria2 never met the seed (issue 9); now a seeder gets seeders too when the
  // leechers do not fill its reply.
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'payload.bin', 3 * 1024 * 1024 + 7)
  const sharer = await startSharer(dir, file.path, url, t)
  const magnet = sharer.proc.stdout().match(/^Magnet: (magnet:\?\S+)$/m)?.[1] ?? assert.fail(`share printed no magnet link:\n${sharer.proc.stdout()}`)
  assert.ok(magnet.includes(encodeURIComponent(`${url}/announce`)), `the magnet names our tracker: ${magnet}`)
  const leech = aria2([`--listen-port=${await freePort()}`, '--seed-time=0', '--bt-save-metadata=false', `--dir=${join(dir, 'aria')}`, magnet], dir, t)
  const { code, stdout, stderr } = await runToEnd(leech, 60_000)
  assert.equal(code, 0, stdout + stderr)
  assert.equal(sha1Of(join(dir, 'aria', 'payload.bin')), file.sha1)
})
