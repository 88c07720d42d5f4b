/**
 * `p2pshare node` as a process: killed with SIGKILL mid-download and started again, it hashes no piece and fetches
 * none it had verified (counted), and the file ends correct; the remote commands drive it; Ctrl+C stops it at once,
 * having told its tracker and written its state.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Bitfield } from '../../src/content/index.js'
import { scrape } from '../../src/discovery/index.js'
import type { SessionStats, TorrentDetail, TorrentSummary } from '../../src/session/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { startNode } from '../helpers/node.js'
import { pollUntil, waitForSwarm } from '../helpers/poll.js'
import { runCli, startTracker } from '../helpers/process.js'

const SIZE = 40 * 1024 * 1024

/** Verified pieces recorded in a node's state for a torrent: what a restart must trust. */
function recordedPieces (dataDir: string, infoHash: string): { have: Bitfield | undefined } {
  // Not read-only: the WAL the killed node left is replayed, as the restarted node will.
  const db = new Database(join(dataDir, 'node.db'))
  try {
    const row = db.prepare('SELECT have, info FROM torrents WHERE info_hash = ?').get(infoHash) as { have: Buffer | null } | undefined
    if (row?.have === undefined || row.have === null) return { have: undefined }
    return { have: new Bitfield(row.have.length * 8, row.have) }
  } finally {
    db.close()
  }
}

test('a node killed with SIGKILL mid-download continues after a restart without hashing or fetching a verified piece again', async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t)
  const file = await randomFile(dir, 'film.bin', SIZE)
  // The seed sends at 8 MiB/s, so the kill lands mid-way.
  const seed = await startNode(t, dir, join(dir, 'seed'), ['--tracker', tracker.url, '-u', '8192'])
  const shared = await seed.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { path: file.path })
  assert.equal(shared.status, 201, JSON.stringify(shared.body))
  const infoHash = shared.body.torrent.infoHash
  await waitForSwarm(`${tracker.url}/announce`, infoHash, { complete: 1 })

  const leechData = join(dir, 'leech')
  const leech = await startNode(t, dir, leechData, ['--download-dir', join(dir, 'out')])
  const added = await leech.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { magnet: shared.body.torrent.magnet })
  assert.equal(added.status, 201, JSON.stringify(added.body))
  const id = added.body.torrent.id
  await pollUntil('a third of the file verified', async () => {
    const { body } = await leech.api<{ torrent: TorrentSummary }>('GET', `/api/v1/torrents/${id}`)
    return body.torrent.progress > 0.33 ? true : undefined
  }, { timeoutMs: 60_000, intervalMs: 100 })
  leech.proc.kill('SIGKILL')
  await leech.proc.exited

  const { have } = recordedPieces(leechData, infoHash)
  assert.ok(have !== undefined && have.count > 0, 'verified pieces were recorded before the kill')
  const again = await startNode(t, dir, leechData)
  const first = await again.api<{ torrent: TorrentDetail }>('GET', `/api/v1/torrents/${id}`)
  const pieceLength = first.body.torrent.pieceLength
  const pieceCount = first.body.torrent.pieceCount
  const lastSize = SIZE - (pieceCount - 1) * pieceLength
  const recorded = [...Array(pieceCount).keys()].filter(i => have.has(i))
  const recordedBytes = recorded.reduce((sum, i) => sum + (i === pieceCount - 1 ? lastSize : pieceLength), 0)
  await pollUntil('seeding after the restart', async () => {
    const { body } = await again.api<{ torrent: TorrentSummary }>('GET', `/api/v1/torrents/${id}`)
    return body.torrent.state === 'seeding' ? true : undefined
  }, { timeoutMs: 90_000, intervalMs: 200 })
  const { body: stats } = await again.api<SessionStats>('GET', '/api/v1/stats')
  assert.equal(stats.current.piecesChecked, 0, 'no piece was hashed again')
  assert.equal(stats.current.downloaded, SIZE - recordedBytes, 'exactly the pieces not recorded were fetched')
  assert.equal(sha1Of(join(dir, 'out', 'film.bin')), file.sha1)
})

test('the remote commands add, list, show, pause, resume, verify and remove torrents of a running node', async (t) => {
  const dir = tempDir(t)
  const file = await randomFile(dir, 'notes.bin', 300_000)
  const node = await startNode(t, dir, join(dir, 'data'), [], {})
  const at = ['--node', node.url]
  const added = await runCli(['add', file.path, ...at, '--json'], { cwd: dir })
  assert.equal(added.code, 0, added.stderr)
  const torrent = JSON.parse(added.stdout) as TorrentSummary
  assert.equal(torrent.name, 'notes.bin')
  await pollUntil('seeding', async () => (await node.api<{ torrent: TorrentSummary }>('GET', `/api/v1/torrents/${torrent.id}`)).body.torrent.state === 'seeding' ? true : undefined)

  const list = await runCli(['list', ...at], { cwd: dir })
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, /ID\s+Done/)
  assert.match(list.stdout, new RegExp(`^${torrent.id}\\s+100%.*seeding\\s+notes\\.bin$`, 'm'))

  const show = await runCli(['show', String(torrent.id), ...at], { cwd: dir })
  assert.match(show.stdout, new RegExp(`Hash: ${torrent.infoHash}`))
  assert.match(show.stdout, /0: notes\.bin \(.*100%\)/)

  const paused = await runCli(['pause', String(torrent.id), ...at], { cwd: dir })
  assert.match(paused.stdout, /notes\.bin: paused/)
  const verified = await runCli(['verify', torrent.infoHash, ...at], { cwd: dir })
  assert.equal(verified.code, 0, verified.stderr)
  await pollUntil('checked', async () => {
    const s = (await node.api<SessionStats>('GET', '/api/v1/stats')).body
    return s.current.piecesChecked > 0 ? true : undefined
  })
  const resumed = await runCli(['resume', 'all', ...at], { cwd: dir })
  assert.match(resumed.stdout, /notes\.bin: (queued|seeding|checking)/)

  const magnet = await runCli(['add', 'magnet:?xt=urn:btih:' + 'ab'.repeat(20) + '&dn=later', ...at, '--paused'], { cwd: dir })
  assert.match(magnet.stdout, /Added #\d+ later .*paused/)
  const duplicate = await runCli(['add', 'ab'.repeat(20), ...at], { cwd: dir })
  assert.notEqual(duplicate.code, 0)
  assert.match(duplicate.stderr, /already in this node/)

  const removed = await runCli(['remove', 'all', ...at], { cwd: dir })
  assert.equal(removed.code, 0, removed.stderr)
  assert.equal((await node.api<{ torrents: TorrentSummary[] }>('GET', '/api/v1/torrents')).body.torrents.length, 0)
  assert.equal(sha1Of(file.path), file.sha1, 'removing without --delete-data keeps the shared file')

  const unreachable = await runCli(['list', '--node', 'http://127.0.0.1:9'], { cwd: dir })
  assert.equal(unreachable.code, 10)
  assert.match(unreachable.stderr, /Cannot reach the node at http:\/\/127\.0\.0\.1:9/)
})

test('Ctrl+C stops a node at once: the tracker hears stopped, and the torrents come back after a restart', async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t)
  const file = await randomFile(dir, 'song.bin', 500_000)
  const node = await startNode(t, dir, join(dir, 'data'), ['--tracker', tracker.url])
  const { body } = await node.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { path: file.path })
  await waitForSwarm(`${tracker.url}/announce`, body.torrent.infoHash, { complete: 1 })
  const started = Date.now()
  node.proc.kill('SIGINT')
  const { code } = await node.proc.exited
  assert.equal(code, 0, node.proc.stderr())
  assert.ok(Date.now() - started < 5_000, 'stopped within seconds')
  assert.match(node.proc.stdout(), /Node stopped\./)
  // The stopped announce came before the exit: the tracker no longer lists the seed.
  const after = (await scrape(`${tracker.url}/announce`, [body.torrent.infoHash], { timeoutMs: 5_000 })).get(body.torrent.infoHash)
  assert.equal(after?.complete ?? 0, 0)

  const again = await startNode(t, dir, join(dir, 'data'), ['--tracker', tracker.url])
  assert.match(again.proc.stdout(), /1 torrent\b/)
  const list = (await again.api<{ torrents: TorrentSummary[] }>('GET', '/api/v1/torrents')).body.torrents
  assert.equal(list[0]?.infoHash, body.torrent.infoHash)
  await pollUntil('seeding again', async () => (await again.api<{ torrent: TorrentSummary }>('GET', `/api/v1/torrents/${body.torrent.id}`)).body.torrent.state === 'seeding' ? true : undefined)
  assert.equal((await again.api<SessionStats>('GET', '/api/v1/stats')).body.current.piecesChecked, 0, 'a clean stop needs no check')
})

test('bad command lines for the node and the remote commands are one-line errors with exit 2, and start nothing', async (t) => {
  const dir = tempDir(t)
  const cases: Array<[string[], RegExp]> = [
    [['node', '--api-auth', 'nocolon', '--data-dir', join(dir, 'a'), '--port', '0', '--api-port', '0'], /--api-auth takes USER:PASS/],
    [['node', '--api-bind', '0.0.0.0', '--data-dir', join(dir, 'b'), '--port', '0', '--api-port', '0'], /reachable from the network .* no password/],
    [['node', '--api-port', '70000'], /port/],
    [['node', '--max-active-downloads', '-1'], /max active downloads/],
    [['list', '--node', 'not a url'], /is not a URL/],
    [['list', '--node', 'ftp://127.0.0.1:9091'], /http or https only/],
    [['show', '../etc', '--node', 'http://127.0.0.1:9'], /not a torrent id or info hash/],
    [['pause', 'abc', '--node', 'http://127.0.0.1:9'], /not a torrent id or info hash/]
  ]
  for (const [args, pattern] of cases) {
    const r = await runCli(args, { cwd: dir, timeoutMs: 15_000 })
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, pattern)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  }
})
