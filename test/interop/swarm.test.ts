/**
 * A mixed swarm on 127.0.0.1: one seed of ours and, at once, three downloaders of three kinds (ours, libtorrent
 * 2.0, aria2 1.36), introduced by our tracker, with DHT, LPD, PEX, UPnP, NAT-PMP and uTP off everywhere. The seed's
 * upload is capped so that the downloaders have to trade pieces among themselves; that they did is read from the
 * `uploaded` counts they report to the tracker (the seed never downloads, so a downloader's upload went to another
 * downloader): each of the three, ours included, must have served the others.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil } from '../helpers/poll.js'
import { cli, runCli, runToEnd, start, startSharer, startTracker, type Proc } from '../helpers/process.js'

// Debian's interpreter: python3-libtorrent installs for it, not for other pythons on PATH.
const PYTHON = '/usr/bin/python3'
const LT_CLIENT = join(import.meta.dirname ?? '', '..', '..', '..', 'test', 'fixtures', 'clients', 'lt_client.py')
// As in aria2.test.ts.
const ARIA2_LOOPBACK_ONLY = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--interface=127.0.0.1', '--disable-ipv6=true', '--summary-interval=0', '--console-log-level=warn']
/** The seed's upload cap, KiB/s: alone it would need 3 × 12 MiB / 2 MiB/s = 18 s to serve everyone. */
const SEED_UPLOAD_KIBPS = 2048
const SIZE = 12 * 1024 * 1024 + 4_321
const DOWNLOAD_TIMEOUT_MS = 150_000

test.before(() => {
  try {
    execFileSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'pipe' })
    execFileSync('aria2c', ['--version'], { stdio: 'pipe' })
  } catch {
    throw new Error('libtorrent or aria2 is missing: apt-get install python3-libtorrent aria2 (.ci/run does)')
  }
})

function aria2 (args: string[], dir: string, t: TestContext): Proc {
  return start('aria2c', [...ARIA2_LOOPBACK_ONLY, ...args], { cwd: dir, t })
}

interface Announced { peerId: string, uploaded: number, everLeft: boolean, events: string[] }

/**
 * Every peer's announces, from our tracker's debug log (`--verbose --log json`: one `announce` line per announce): by
 * peer id (hex), the largest `uploaded` it reported, whether it ever had bytes left (a downloader) or not (a seed), and
 * its events.
 */
function announcesFromLog (log: string): Map<string, Announced> {
  const peers = new Map<string, Announced>()
  for (const line of log.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"msg":"announce"')) continue
    const entry = JSON.parse(line) as { peer_id: string, uploaded: number, left: number, event: string }
    const peer = peers.get(entry.peer_id) ?? { peerId: entry.peer_id, uploaded: 0, everLeft: false, events: [] }
    peer.uploaded = Math.max(peer.uploaded, entry.uploaded)
    peer.everLeft ||= entry.left > 0
    peer.events.push(entry.event === '' ? '-' : entry.event)
    peers.set(entry.peer_id, peer)
  }
  return peers
}

/** The client prefix of a peer id in hex (`-PS0010-`, `-LT2080-`, `A2-1-36-0-`), for messages. */
function clientOf (peerId: string): string {
  return Buffer.from(peerId, 'hex').toString('latin1').slice(0, 10).replace(/[^\x20-\x7e]/g, '?')
}

test('a mixed swarm: our seed, and our downloader, libtorrent and aria2 downloading at once, all complete and trade pieces', { timeout: 240_000 }, async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t, ['--verbose', '--log', 'json'])
  const file = await randomFile(dir, 'payload.bin', SIZE)
  const torrent = join(dir, 'payload.torrent')
  const created = await runCli(['create', file.path, '--tracker', tracker.url, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const seed = await startSharer(dir, file.path, tracker.url, t, ['--upload-limit', String(SEED_UPLOAD_KIBPS)])

  mkdirSync(join(dir, 'lt'))
  const started = Date.now()
  const [ours, lt, aria] = await Promise.all([
    runToEnd(cli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'ours'), '--json'], { cwd: dir, t }), DOWNLOAD_TIMEOUT_MS),
    runToEnd(start(PYTHON, ['-u', LT_CLIENT, 'leech', torrent, join(dir, 'lt'), String(await freePort()), String(DOWNLOAD_TIMEOUT_MS / 1000)], { cwd: dir, t }), DOWNLOAD_TIMEOUT_MS + 10_000),
    // --bt-tracker-interval: aria2 re-announces often, so it also learns of the downloaders that started after it.
    runToEnd(aria2([`--listen-port=${await freePort()}`, '--seed-time=0', '--bt-tracker-interval=5', `--dir=${join(dir, 'aria')}`, torrent], dir, t), DOWNLOAD_TIMEOUT_MS)
  ])
  t.diagnostic(`all three done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const seedLog = `our seed: ${seed.proc.stderr().slice(-2000)}`
  assert.equal(ours.code, 0, `our downloader: ${ours.stdout}\n${ours.stderr}\n${seedLog}`)
  assert.equal(lt.code, 0, `libtorrent: ${lt.stdout}\n${lt.stderr}\n${seedLog}`)
  assert.match(lt.stdout, /DONE/)
  assert.equal(aria.code, 0, `aria2: ${aria.stdout}\n${aria.stderr}\n${seedLog}`)
  assert.equal(sha1Of(join(dir, 'ours', 'payload.bin')), file.sha1, 'our downloader\'s copy')
  assert.equal(sha1Of(join(dir, 'lt', 'payload.bin')), file.sha1, 'libtorrent\'s copy')
  assert.equal(sha1Of(join(dir, 'aria', 'payload.bin')), file.sha1, 'aria2\'s copy')

  // Each downloader's last announce (completed or stopped) carries what it uploaded: to the other downloaders only.
  const log = (): Announced[] => [...announcesFromLog(tracker.proc.stdout() + tracker.proc.stderr()).values()]
  const downloaders = await pollUntil('a final announce (completed or stopped) from each of the three downloaders', () => {
    const found = log().filter(p => p.everLeft && p.events.some(e => e === 'completed' || e === 'stopped'))
    return found.length >= 3 ? found : undefined
  }, { timeoutMs: 10_000, describe: () => JSON.stringify(log()) })
  t.diagnostic(`uploaded by downloaders: ${downloaders.map(p => `${clientOf(p.peerId)} ${p.uploaded} B`).join(', ')}`)
  assert.equal(downloaders.length, 3, JSON.stringify(log()))
  for (const p of downloaders) assert.ok(p.uploaded > 0, `${clientOf(p.peerId)} uploaded nothing to the other downloaders: ${JSON.stringify(log())}`)
})
