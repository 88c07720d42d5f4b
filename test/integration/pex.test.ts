/**
 * Peer exchange (BEP 11) between our peers over real sockets: a downloader that knows only the seed learns of the
 * other downloader from it, tagged `pex`, and connects; a private torrent's peers say nothing of each other.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseMetainfo, type Metainfo } from '../../src/content/index.js'
import { RateLimiter } from '../../src/swarm/index.js'
import { peerOfTorrent } from '../helpers/bt-peer.js'
import { tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil } from '../helpers/poll.js'
import { runCli } from '../helpers/process.js'

/** A 4 MiB file and its torrent, announcing to a closed port: the only way peers learn of each other is PEX. */
async function torrent (t: TestContext, extra: string[] = []): Promise<{ dir: string, meta: Metainfo, src: string }> {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'src'))
  const src = join(dir, 'src', 'payload.bin')
  writeFileSync(src, randomBytes(4 * 1024 * 1024))
  const out = join(dir, 'payload.torrent')
  const made = await runCli(['create', src, '-t', `http://127.0.0.1:${await freePort()}/announce`, '-o', out, ...extra], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  return { dir, meta: parseMetainfo(readFileSync(out)), src }
}

test('a downloader that knows only the seed learns the other downloader from it (ut_pex) and connects to it', async (t) => {
  const { dir, meta, src } = await torrent(t)
  // The seed is slow (256 KiB/s), so neither download is over before the exchange.
  const seed = await peerOfTorrent(t, meta, src, { seed: true, uploadLimit: new RateLimiter(256 * 1024) })
  const first = await peerOfTorrent(t, meta, join(dir, 'first.bin'), { seed: false })
  first.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  await pollUntil('the first downloader connected to the seed', () => seed.transfer.peers.size === 1 ? true : undefined, { timeoutMs: 10_000, intervalMs: 50 })
  const second = await peerOfTorrent(t, meta, join(dir, 'second.bin'), { seed: false })
  second.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  const key = `127.0.0.1:${first.port}`
  await pollUntil('the second downloader connected to the first, learned from the seed', () => {
    const c = second.transfer.candidates.get(key)
    return c?.sources.has('pex') === true && second.transfer.peers.has(key) ? true : undefined
  }, { timeoutMs: 20_000, intervalMs: 100, describe: () => `candidates: ${[...second.transfer.candidates.ready(Infinity)].map(c => `${c.key} ${[...c.sources].join('+')}`).join(', ')}` })
  assert.equal(second.transfer.candidates.get(`127.0.0.1:${seed.port}`)?.sources.has('pex'), false, 'the seed itself was known by hand only')
})

test('a private torrent (BEP 27): the seed tells its downloaders nothing of each other', async (t) => {
  const { dir, meta, src } = await torrent(t, ['--private'])
  assert.equal(meta.info.private, true)
  const seed = await peerOfTorrent(t, meta, src, { seed: true, uploadLimit: new RateLimiter(256 * 1024) })
  const first = await peerOfTorrent(t, meta, join(dir, 'first.bin'), { seed: false })
  const second = await peerOfTorrent(t, meta, join(dir, 'second.bin'), { seed: false })
  first.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  second.transfer.addPeers([{ host: '127.0.0.1', port: seed.port }], 'manual')
  await pollUntil('both connected to the seed', () => seed.transfer.peers.size === 2 ? true : undefined, { timeoutMs: 10_000, intervalMs: 50 })
  // Past the first PEX message's delay (5 s) and then some.
  await new Promise((resolve) => setTimeout(resolve, 7_000))
  assert.equal(second.transfer.candidates.get(`127.0.0.1:${first.port}`), undefined)
  assert.equal(first.transfer.candidates.get(`127.0.0.1:${second.port}`), undefined)
})
