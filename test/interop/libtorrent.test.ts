/**
 * Our peers with libtorrent (rasterbar 2.0, the engine of qBittorrent and Deluge; Debian's python3-libtorrent), on
 * 127.0.0.1 with DHT, LSD, UPnP, NAT-PMP, uTP and PEX off. Our tracker introduces the peers.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { lt, requireLibtorrent } from '../helpers/libtorrent.js'
import { runCli, runToEnd, startSharer, startTracker } from '../helpers/process.js'

test.before(requireLibtorrent)

async function ltLeech (source: string, saveDir: string, dir: string, t: TestContext): Promise<void> {
  mkdirSync(saveDir, { recursive: true })
  const { code, stdout, stderr } = await runToEnd(lt(['leech', source, saveDir, String(await freePort()), '40'], dir, t))
  assert.equal(code, 0, `libtorrent: ${stdout} ${stderr}`)
  assert.match(stdout, /DONE/)
}

async function shareAndTorrent (t: TestContext): Promise<{ dir: string, url: string, file: { path: string, sha1: string }, torrent: string, magnet: string }> {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'payload.bin', 6 * 1024 * 1024 + 4321)
  const torrent = join(dir, 'payload.torrent')
  const created = await runCli(['create', file.path, '--tracker', url, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const magnet = created.stdout.match(/Magnet: (magnet:\S+)/)?.[1] ?? ''
  return { dir, url, file, torrent, magnet }
}

test('libtorrent downloads a file that only our peer seeds', async (t) => {
  const { dir, url, file, torrent } = await shareAndTorrent(t)
  await startSharer(dir, file.path, url, t)
  await ltLeech(torrent, join(dir, 'lt'), dir, t)
  assert.equal(sha1Of(join(dir, 'lt', 'payload.bin')), file.sha1)
})

test('libtorrent fetches the metadata from our peer through a magnet link (BEP 9), then the file', async (t) => {
  const { dir, url, file, magnet } = await shareAndTorrent(t)
  await startSharer(dir, file.path, url, t)
  await ltLeech(magnet, join(dir, 'lt'), dir, t)
  assert.equal(sha1Of(join(dir, 'lt', 'payload.bin')), file.sha1)
})

test('our downloader fetches a file that only libtorrent seeds, from a .torrent and from a magnet link', async (t) => {
  const { dir, file, torrent, magnet } = await shareAndTorrent(t)
  mkdirSync(join(dir, 'ltseed'))
  copyFileSync(file.path, join(dir, 'ltseed', 'payload.bin'))
  const seed = lt(['seed', torrent, join(dir, 'ltseed'), String(await freePort())], dir, t)
  await seed.waitFor(/READY/)
  const viaTorrent = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'a'), '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(viaTorrent.code, 0, viaTorrent.stderr)
  assert.equal(sha1Of(join(dir, 'a', 'payload.bin')), file.sha1)
  const viaMagnet = await runCli(['download', magnet, '--host', '127.0.0.1', '--out', join(dir, 'b'), '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(viaMagnet.code, 0, viaMagnet.stderr)
  assert.match(viaMagnet.stdout, /"event":"metadata"/)
  assert.equal(sha1Of(join(dir, 'b', 'payload.bin')), file.sha1)
})
