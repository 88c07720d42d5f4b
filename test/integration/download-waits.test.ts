/**
 * No download waits in silence: a .torrent or magnet download says what it waits for, and ends with the real cause
 * after --stall-timeout (no peers: exit 5; peers that never answer: exit 6; a tracker that refuses: exit 3 at once;
 * one that cannot be reached: exit 3), keeping what it verified. A full disk is "No space left on …", exit 9, and no
 * peer is blamed for it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { tempDir } from '../helpers/files.js'
import { cli, runCli, startTracker } from '../helpers/process.js'
import { freePort } from '../helpers/net.js'
import { scrape } from '../../src/discovery/index.js'

async function torrentOf (dir: string, name: string, size: number, tracker: string): Promise<{ torrent: string, infoHash: string, data: Buffer }> {
  const data = randomBytes(size)
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, name), data)
  const torrent = join(dir, `${name}.torrent`)
  const made = await runCli(['create', join(src, name), '-t', tracker, '-o', torrent], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  return { torrent, infoHash: /Info hash: ([0-9a-f]{40})/.exec(made.stdout)?.[1] ?? '', data }
}

function download (dir: string, target: string, extra: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return runCli(['download', target, '--out', join(dir, 'out'), '--host', '127.0.0.1', ...extra], { cwd: dir, timeoutMs: 40_000 })
}

test('a torrent nobody seeds says it waits for peers, then fails with exit 5 after --stall-timeout', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const { url } = await startTracker(dir, t)
  const { torrent } = await torrentOf(dir, 'lonely.bin', 40_000, url)
  const r = await download(dir, torrent, ['--stall-timeout', '2'])
  assert.equal(r.code, 5, r.stderr)
  assert.match(r.stdout, /Waiting: no peers yet/)
  assert.match(r.stderr, /No peers found for this torrent in 2 s/)
})

test('a tracker that refuses the announce is the cause given, at once: exit 3 with its reason', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const { url } = await startTracker(dir, t, ['--private'])
  const { torrent } = await torrentOf(dir, 'private.bin', 40_000, `${url}/announce?passkey=${'0'.repeat(32)}`)
  // Without the immediate check this would wait the whole (long) stall timeout and say something else.
  const r = await download(dir, torrent, ['--stall-timeout', '600', '--json'])
  assert.equal(r.code, 3, r.stderr)
  assert.match(r.stderr, /refused: Unknown passkey/)
})

test('a tracker that cannot be reached is the cause given after --stall-timeout: exit 3', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const closed = await freePort()
  const { torrent } = await torrentOf(dir, 'unreachable.bin', 40_000, `http://127.0.0.1:${closed}/announce`)
  const r = await download(dir, torrent, ['--stall-timeout', '2'])
  assert.equal(r.code, 3, r.stderr)
  assert.match(r.stdout, /Waiting: tracker unreachable/)
  assert.match(r.stderr, /Failed to reach tracker.*no peers for 2 s/)
})

test('a magnet whose tracker refuses fails with the tracker\'s reason, exit 3, not "no peers"', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const { url } = await startTracker(dir, t, ['--private'])
  const magnet = `magnet:?xt=urn:btih:${'ab'.repeat(20)}&tr=${encodeURIComponent(`${url}/announce?passkey=${'0'.repeat(32)}`)}`
  const r = await download(dir, magnet, [])
  assert.equal(r.code, 3, r.stderr)
  assert.match(r.stderr, /refused: Unknown passkey/)
  assert.equal(existsSync(join(dir, 'out')), false, 'the output folder of a failed download is not created')
})

test('a magnet whose metadata never comes waits like a download, fails after --stall-timeout, and tells its tracker it stopped', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const { url } = await startTracker(dir, t)
  const infoHash = 'cd'.repeat(20)
  const r = await download(dir, `magnet:?xt=urn:btih:${infoHash}&tr=${encodeURIComponent(`${url}/announce`)}`, ['--stall-timeout', '2'])
  assert.equal(r.code, 5, r.stderr)
  assert.match(r.stdout, /Waiting: no peers yet/)
  assert.match(r.stderr, /No peers found for this torrent in 2 s/)
  assert.equal(existsSync(join(dir, 'out')), false, 'nothing is written before the metadata')
  // The lookup announced `started` (a leecher); `stopped` took it off again. A tracker forgets an empty swarm's
  // hash or reports it with zeros: either way no leecher is left.
  const stats = (await scrape(`${url}/announce`, [infoHash])).get(infoHash)
  assert.equal(stats?.incomplete ?? 0, 0, JSON.stringify(stats))
})

test('a torrent whose only peer never answers fails with exit 6 after --stall-timeout, not in silence', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const { url } = await startTracker(dir, t)
  const { torrent, infoHash } = await torrentOf(dir, 'silent.bin', 40_000, url)
  // A peer that accepts, reads and never says a word; the tracker lists it.
  const held = new Set<Socket>()
  const silent = createServer((s) => { held.add(s); s.on('data', () => {}); s.on('error', () => {}) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => { for (const s of held) s.destroy(); silent.close() })
  const port = (silent.address() as { port: number }).port
  const announced = await fetch(`${url}/announce?info_hash=${infoHash.replace(/../g, '%$&')}&peer_id=-XX0001-silentsilent&port=${port}&uploaded=0&downloaded=0&left=0&event=started&compact=1`)
  assert.equal(announced.status, 200)
  const r = await download(dir, torrent, ['--stall-timeout', '3'])
  assert.equal(r.code, 6, r.stderr)
  assert.match(r.stdout, /Waiting: (connecting to|1 peer\(s\) connected)/)
  assert.match(r.stderr, /No peer answered|Download stalled/)
})

/** A tmpfs of `size` bytes mounted for the test, or undefined where mounting is not allowed (not root, a container). */
function mountSmallDisk (dir: string, size: number): string | undefined {
  const mount = join(dir, 'small-disk')
  mkdirSync(mount)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount], { stdio: 'ignore' })
    return mount
  } catch {
    return undefined
  }
}

test('a full disk is "No space left on …" with the path, exit 9; no peer is blamed and the seed is not banned', async (t) => {
  const dir = tempDir(t, 'p2p-waits-')
  const disk = mountSmallDisk(dir, 256 * 1024)
  if (disk === undefined) { t.skip('cannot mount a tmpfs here (needs root)'); return }
  try {
    const { url } = await startTracker(dir, t)
    const { torrent } = await torrentOf(dir, 'big.bin', 2 * 1024 * 1024, url)
    const seed = cli(['download', torrent, '--out', join(dir, 'src'), '--seed', '--host', '127.0.0.1'], { cwd: dir, t })
    await seed.waitFor(/eeding/)
    const r = await runCli(['download', torrent, '--out', join(disk, 'out'), '--host', '127.0.0.1', '--stall-timeout', '20'], { cwd: dir, timeoutMs: 40_000 })
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /No space left on the disk holding .*big\.bin\.part/)
    assert.doesNotMatch(r.stderr, /Banned|Dropped peer/)
  } finally {
    execFileSync('umount', ['-l', disk], { stdio: 'ignore' })
    rmdirSync(disk)
  }
})
