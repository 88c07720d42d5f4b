/**
 * UDP trackers through the CLI: `tracker` serves BEP 15 on its port number; `share` announces over HTTP; `download`
 * of a .torrent or magnet link whose only tracker is `udp://` finds the sharer through the same swarm.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { UdpTrackerClient } from '../../src/discovery/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { cli, runCli, startSharer, startTracker } from '../helpers/process.js'

function events (stdout: string): Array<Record<string, unknown>> {
  return stdout.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
}

test('download a .torrent whose only tracker is udp:// from a peer that announced over HTTP', async (t) => {
  const dir = tempDir(t)
  const { url, proc } = await startTracker(dir, t)
  const udpUrl = (await proc.waitFor(/UDP tracker \(BEP 15\) on (udp:\/\/[\d.]+:\d+)/))[1] ?? ''
  assert.equal(udpUrl, url.replace('http://', 'udp://'), 'the same port number')
  const file = await randomFile(dir, 'over-udp.bin', 3 * 1024 * 1024 + 11)
  const sharer = await startSharer(dir, file.path, url, t)
  const infoHash = sharer.proc.stdout().match(/Info hash: ([0-9a-f]{40})/)?.[1]
  const torrent = join(dir, 'over-udp.torrent')
  const created = await runCli(['create', file.path, '--tracker', udpUrl, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  assert.match(created.stdout, new RegExp(`Info hash: ${infoHash ?? 'missing'}`))

  const out = join(dir, 'got')
  const result = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', out, '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(result.code, 0, result.stderr)
  const done = events(result.stdout).find(e => e.event === 'done')
  assert.equal(done?.protocol, 'bittorrent')
  assert.equal(done?.info_hash, infoHash)
  assert.equal(sha1Of(join(out, 'over-udp.bin')), file.sha1)
})

test('download a magnet link whose only tracker is udp://: metadata and pieces from the sharer', async (t) => {
  const dir = tempDir(t)
  const { url, proc } = await startTracker(dir, t)
  const udpUrl = (await proc.waitFor(/UDP tracker \(BEP 15\) on (udp:\/\/[\d.]+:\d+)/))[1] ?? ''
  const file = await randomFile(dir, 'clip.bin', 1024 * 1024 + 3)
  const sharer = await startSharer(dir, file.path, url, t)
  const infoHash = sharer.proc.stdout().match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? ''
  const magnet = `magnet:?xt=urn:btih:${infoHash}&dn=clip.bin&tr=${encodeURIComponent(udpUrl)}`
  const out = join(dir, 'got')
  const result = await runCli(['download', magnet, '--host', '127.0.0.1', '--out', out, '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(events(result.stdout).find(e => e.event === 'metadata')?.name, 'clip.bin')
  assert.equal(sha1Of(join(out, 'clip.bin')), file.sha1)
})

test('tracker --no-udp serves HTTP only', async (t) => {
  const dir = tempDir(t)
  const { url, proc } = await startTracker(dir, t, ['--no-udp'])
  assert.doesNotMatch(proc.stdout(), /UDP tracker/)
  const client = new UdpTrackerClient({ retransmitMs: 200 })
  t.after(() => { client.close() })
  await assert.rejects(client.announce({
    url: url.replace('http://', 'udp://'), infoHash: 'ab'.repeat(20), peerId: Buffer.alloc(20, 1), port: 1, uploaded: 0, downloaded: 0, left: 1, timeoutMs: 2_000
  }), { code: 'ERR_TRACKER_UNREACHABLE' })
  // Bad usage is refused as usage.
  const bad = cli(['tracker', '--no-udp=yes'], { cwd: dir, t })
  const { code } = await bad.exited
  assert.equal(code, 2)
})
