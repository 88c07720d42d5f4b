/**
 * Peer exchange (BEP 11) with libtorrent (python3-libtorrent 2.0, PEX on for these torrents only; DHT, LSD, UPnP,
 * NAT-PMP and uTP off), on 127.0.0.1. The torrent announces to a closed port: peers learn of each other by PEX alone.
 * Both directions: libtorrent tells our downloader of our other peer, and our seed tells libtorrent of it.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseMetainfo, type Metainfo } from '../../src/content/index.js'
import { RateLimiter } from '../../src/swarm/index.js'
import { peerOfTorrent } from '../helpers/bt-peer.js'
import { tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil } from '../helpers/poll.js'
import { lt, requireLibtorrent } from '../helpers/libtorrent.js'
import { exitReason, runCli } from '../helpers/process.js'

test.before(requireLibtorrent)

async function torrent (t: TestContext): Promise<{ dir: string, meta: Metainfo, file: string, torrentPath: string }> {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'src'))
  const file = join(dir, 'src', 'payload.bin')
  writeFileSync(file, randomBytes(8 * 1024 * 1024))
  const torrentPath = join(dir, 'payload.torrent')
  const made = await runCli(['create', file, '-t', `http://127.0.0.1:${await freePort()}/announce`, '-o', torrentPath], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  return { dir, meta: parseMetainfo(readFileSync(torrentPath)), file, torrentPath }
}

test('libtorrent, the only peer our downloader knows, tells it of our other peer (ut_pex); it connects there', async (t) => {
  const { dir, meta, file, torrentPath } = await torrent(t)
  mkdirSync(join(dir, 'lt'))
  copyFileSync(file, join(dir, 'lt', 'payload.bin'))
  const ltPort = await freePort()
  // Slow (256 KiB/s), so no download is over before the exchange.
  const seed = lt(['seed', torrentPath, join(dir, 'lt'), String(ltPort), '--pex', '--upload-limit', String(256 * 1024), '--max-seconds', '60'], dir, t)
  await seed.waitFor(/READY/)
  const other = await peerOfTorrent(t, meta, join(dir, 'other.bin'), { seed: false })
  other.transfer.addPeers([{ host: '127.0.0.1', port: ltPort }], 'manual')
  await pollUntil('our first peer connected to libtorrent', () => other.transfer.peers.size > 0 ? true : undefined, { timeoutMs: 45_000, intervalMs: 50, giveUpIf: () => exitReason(seed, 'libtorrent') })
  const ours = await peerOfTorrent(t, meta, join(dir, 'ours.bin'), { seed: false })
  ours.transfer.addPeers([{ host: '127.0.0.1', port: ltPort }], 'manual')
  const key = `127.0.0.1:${other.port}`
  await pollUntil('our downloader learned of our other peer from libtorrent and connected', () => {
    return ours.transfer.candidates.get(key)?.sources.has('pex') === true && ours.transfer.peers.has(key) ? true : undefined
  }, { timeoutMs: 70_000, intervalMs: 100, giveUpIf: () => exitReason(seed, 'libtorrent') })
})

test('our seed, the only peer libtorrent knows, tells it of our other peer (ut_pex); libtorrent connects there', async (t) => {
  const { dir, meta, file, torrentPath } = await torrent(t)
  const seed = await peerOfTorrent(t, meta, file, { seed: true, uploadLimit: new RateLimiter(256 * 1024) })
  // Our other peer takes no PEX itself, so it cannot be the one that dials: libtorrent must come to it.
  const other = await peerOfTorrent(t, meta, join(dir, 'other.bin'), { seed: false, pex: false })
  other.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  await pollUntil('our other peer connected to the seed', () => seed.transfer.peers.size === 1 ? true : undefined, { timeoutMs: 10_000, intervalMs: 50 })
  mkdirSync(join(dir, 'lt'))
  const leech = lt(['leech', torrentPath, join(dir, 'lt'), String(await freePort()), '60', '--pex', '--peer', `127.0.0.1:${seed.port}`], dir, t)
  await pollUntil('libtorrent connected to our other peer, which it heard of from our seed only', () => {
    for (const p of other.transfer.peers.values()) if (p.wire.direction === 'in' && p.peerId?.subarray(0, 3).toString() === '-LT') return true
    return undefined
  }, { timeoutMs: 30_000, intervalMs: 100, giveUpIf: () => exitReason(leech, 'libtorrent'), describe: () => [...other.transfer.peers.values()].map(p => `${p.id} ${p.wire.direction} ${p.peerId?.subarray(0, 8).toString() ?? ''}`).join(', ') })
})
