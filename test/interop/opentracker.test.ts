/**
 * Our peers with opentracker (Debian's build, 0.0~git20210823) as their only tracker, on 127.0.0.1: a BitTorrent
 * tracker that knows nothing of the seed's /register and /lookup API.
 *
 * Debian's opentracker is built whitelist-only (WANT_ACCESSLIST_WHITE): an info hash missing from the whitelist gets
 * "Requested download is not authorized". Run as root, it chroots to `tracker.rootdir` before it reads the
 * whitelist, so the whitelist's path in the config is taken inside that root; and it will not keep root privileges,
 * hence `-u nobody` (the root folder must then be readable by nobody).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { announce } from '../../src/discovery/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil, waitForSwarm } from '../helpers/poll.js'
import { cli, exitReason, runCli, start, startSharer, stopProcess } from '../helpers/process.js'

// Debian's interpreter: python3-libtorrent installs for it, not for other pythons on PATH.
const PYTHON = '/usr/bin/python3'
const LT_CLIENT = join(import.meta.dirname ?? '', '..', '..', '..', 'test', 'fixtures', 'clients', 'lt_client.py')
const TEST_TIMEOUT_MS = 240_000

test.before(() => {
  try {
    execFileSync('opentracker', ['-h'], { stdio: 'pipe' })
  } catch {
    throw new Error('opentracker is missing: apt-get install opentracker (.ci/run does)')
  }
})

interface Setup {
  dir: string
  announceUrl: string
  file: { path: string, sha1: string }
  torrent: string
  infoHash: string
}

/** A random file, its torrent naming an opentracker on a free port, and that opentracker running with the torrent whitelisted. */
async function setup (t: TestContext): Promise<Setup> {
  const dir = tempDir(t)
  const port = await freePort()
  const announceUrl = `http://127.0.0.1:${port}/announce`
  const file = await randomFile(dir, 'payload.bin', 4 * 1024 * 1024 + 12_345)
  const torrent = join(dir, 'payload.torrent')
  const created = await runCli(['create', file.path, '--tracker', announceUrl, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  assert.match(created.stdout, new RegExp(`Magnet: .*tr=${encodeURIComponent(announceUrl).replace(/\./g, '\\.')}`))
  const infoHash = created.stdout.match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? ''

  // opentracker's root, where it reads the whitelist as nobody. A relative path is right both ways: as root it
  // chroots here first (so an absolute path would be looked up inside the root), otherwise it only changes into it.
  const root = tempDir(t, 'p2p-ot-')
  chmodSync(root, 0o755)
  writeFileSync(join(root, 'whitelist.txt'), `${infoHash}\n`, { mode: 0o644 })
  const conf = join(root, 'opentracker.conf')
  writeFileSync(conf, `tracker.rootdir ${root}\naccess.whitelist whitelist.txt\n`, { mode: 0o644 })
  const tracker = start('opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-f', conf, '-u', 'nobody'], { cwd: dir, t })
  t.after(async () => { await stopProcess(tracker) })
  // Up, with the whitelist read: a `stopped` announce of the torrent (which adds no peer) is authorized.
  await pollUntil('opentracker to authorize the torrent', async () => {
    await announce({ url: announceUrl, infoHash, peerId: randomBytes(20), port: 1, uploaded: 0, downloaded: 0, left: 0, event: 'stopped', numwant: 0, timeoutMs: 2_000 })
    return true
  }, { timeoutMs: 20_000, giveUpIf: () => exitReason(tracker, 'opentracker'), describe: () => tracker.stderr() })
  return { dir, announceUrl, file, torrent, infoHash }
}

test('our share seeds through opentracker and our downloader completes from it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, announceUrl, file, torrent, infoHash } = await setup(t)
  // `share --tracker` takes an announce URL too. share also registers with the seed's API (POST /register), which a
  // BitTorrent-only tracker does not have: that must not stop it seeding over BitTorrent.
  await startSharer(dir, file.path, announceUrl, t, ['--verbose'])
  await waitForSwarm(announceUrl, infoHash, { complete: 1 })
  const result = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'got'), '--json', '--verbose'], { cwd: dir, timeoutMs: 120_000 })
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
  assert.equal(sha1Of(join(dir, 'got', 'payload.bin')), file.sha1)
})

test('through opentracker, our downloader completes from libtorrent, seeds on (--seed), and a second downloader of ours completes from it alone', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, announceUrl, file, torrent, infoHash } = await setup(t)
  mkdirSync(join(dir, 'ltseed'))
  copyFileSync(file.path, join(dir, 'ltseed', 'payload.bin'))
  const ltSeed = start(PYTHON, ['-u', LT_CLIENT, 'seed', torrent, join(dir, 'ltseed'), String(await freePort())], { cwd: dir, t })
  await ltSeed.waitFor(/READY/)
  await waitForSwarm(announceUrl, infoHash, { complete: 1 })

  // The first downloader: leecher, then seed; both announced to opentracker.
  const first = cli(['download', torrent, '--seed', '--host', '127.0.0.1', '--out', join(dir, 'a'), '--json', '--verbose'], { cwd: dir, t })
  await first.waitFor(/"event":"seeding"/, 120_000)
  assert.equal(sha1Of(join(dir, 'a', 'payload.bin')), file.sha1)
  // Its `completed` announce counted it as a seed, beside libtorrent.
  await waitForSwarm(announceUrl, infoHash, { complete: 2 }, 10_000)
  await stopProcess(ltSeed)

  // Only ours is left to seed (opentracker may still list libtorrent's address; nothing answers there now).
  const second = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'b'), '--json', '--verbose'], { cwd: dir, timeoutMs: 120_000 })
  assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}\nfirst downloader: ${first.stderr().slice(-2000)}`)
  assert.equal(sha1Of(join(dir, 'b', 'payload.bin')), file.sha1)
  await stopProcess(first)
})
