/**
 * `p2pshare search` against a real tracker on 127.0.0.1 port 0 (and a seed-style tracker that ignores the search):
 * the table, `--json` lines, sorting and paging, and the exit codes of its failures.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { announce, SeedTrackerClient } from '../../src/discovery/index.js'
import { tempDir } from '../helpers/files.js'
import { runCli, startTracker } from '../helpers/process.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

/** Registers three files; two name an info hash, and the first of those gets two seeders, one completed download. */
async function catalogue (url: string): Promise<void> {
  const client = new SeedTrackerClient(url)
  const reg = { chunks: [0], chunk_size: 1024 * 1024, ip: '127.0.0.1', port: 6000 }
  await client.register({ ...reg, file_name: 'Movie Night.mkv', file_hash: sha1('movie'), file_size: 3 * 1024 * 1024 * 1024 + 1, chunks: [], info_hash: sha1('movie info') })
  await client.register({ ...reg, file_name: 'notes.txt', file_hash: sha1('notes'), file_size: 512 })
  await client.register({ ...reg, file_name: 'ÄPFEL movie.mp4', file_hash: sha1('äpfel'), file_size: 20 * 1024 * 1024, info_hash: sha1('äpfel info') })
  for (const [port, event] of [[7001, 'completed'], [7002, 'started']] as const) {
    await announce({ url, infoHash: sha1('movie info'), peerId: Buffer.alloc(20, port), port, uploaded: 0, downloaded: 0, left: 0, event })
  }
}

test('search prints a table: human sizes, seeders, leechers, completed, peers, file hash; a footer with the count', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  await catalogue(url)
  const r = await runCli(['search', 'movie', '--tracker', url], { cwd: dir })
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  assert.deepEqual(lines.map((l) => l.split(/\s{2,}/)), [
    ['NAME', 'SIZE', 'SEEDERS', 'LEECHERS', 'COMPLETED', 'PEERS', 'FILE HASH'],
    ['Movie Night.mkv', '3.0 GiB', '2', '0', '1', '3', sha1('movie')],
    ['ÄPFEL movie.mp4', '20.0 MiB', '0', '0', '0', '1', sha1('äpfel')],
    ['2 files match "movie".']
  ])
  // Columns line up: every row's size ends where the header's SIZE does.
  const sizeEnd = (lines[0] ?? '').indexOf('SIZE') + 4
  for (const line of lines.slice(1, 3)) assert.match(line.slice(sizeEnd - 3, sizeEnd), /iB$/)

  const all = await runCli(['search', '--tracker', url, '--sort', 'size', '--order', 'asc', '--limit', '2', '--offset', '1'], { cwd: dir })
  assert.equal(all.code, 0, all.stderr)
  const rows = all.stdout.trimEnd().split('\n')
  assert.deepEqual(rows.slice(1, 3).map((l) => l.split(/\s{2,}/)[0]), ['ÄPFEL movie.mp4', 'Movie Night.mkv'])
  assert.equal(rows[3], '2-3 of 3 files.')
  const paged = await runCli(['search', '--tracker', url, '--limit', '1', '--offset', '1'], { cwd: dir })
  assert.match(paged.stdout, /^2-2 of 3 files \(--offset 2 for more\)\.$/m)
  assert.match(paged.stdout, /^notes\.txt\s+512 B\s+-\s+-\s+0\s+1\s+[0-9a-f]{40}$/m, 'no info hash: no seeders or leechers to show')

  const none = await runCli(['search', 'zzz', '--tracker', url], { cwd: dir })
  assert.equal(none.code, 0)
  assert.equal(none.stdout, 'No files match "zzz".\n')
  const past = await runCli(['search', '--tracker', url, '--offset', '10'], { cwd: dir })
  assert.equal(past.stdout, 'No files past 10 (3 in all).\n')
  const unicode = await runCli(['search', 'äpfel', '--tracker', url], { cwd: dir })
  assert.match(unicode.stdout, /^ÄPFEL movie\.mp4/m)
})

test('search --json prints one JSON object per file and line, with every key the tracker sent', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  await catalogue(url)
  const r = await runCli(['search', 'MOVIE', '--tracker', url, '--json', '--sort', 'seeders'], { cwd: dir })
  assert.equal(r.code, 0, r.stderr)
  const objects = r.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  assert.equal(objects.length, 2)
  const [first, second] = objects
  assert.equal(first?.file_name, 'Movie Night.mkv')
  assert.equal(first?.seeders, 2)
  assert.equal(first?.completed, 1)
  assert.equal(first?.info_hash, sha1('movie info'))
  assert.match(String(first?.magnet), /^magnet:\?xt=urn:btih:/)
  assert.equal(typeof first?.added_at, 'number')
  assert.equal(second?.file_name, 'ÄPFEL movie.mp4')
  const empty = await runCli(['search', 'zzz', '--tracker', url, '--json'], { cwd: dir })
  assert.equal(empty.code, 0)
  assert.equal(empty.stdout, '', 'no match: no lines')
})

test('search against a tracker that ignores the search (the seed\'s /files): filtered, sorted and paged here', async (t) => {
  const dir = tempDir(t)
  const files = [
    { file_hash: sha1('1'), file_name: 'beta.iso', file_size: 30, peers_count: 1 },
    { file_hash: sha1('2'), file_name: 'Alpha.iso', file_size: 10, peers_count: 2 },
    { file_hash: sha1('3'), file_name: 'readme.md', file_size: 20, peers_count: 0 },
    { file_hash: sha1('4'), file_name: 'gamma.ISO', file_size: 10, peers_count: 0 }
  ]
  const server = createServer((req, res) => {
    // server.py: every file, whatever the query.
    res.writeHead(req.url?.startsWith('/files') === true ? 200 : 404, { 'content-type': 'application/json' })
    res.end(JSON.stringify(req.url?.startsWith('/files') === true ? { files } : { error: 'Not found' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const r = await runCli(['search', 'iso', '--tracker', url, '--sort', 'size', '--order', 'asc', '--json'], { cwd: dir })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { file_name: string }).file_name), ['Alpha.iso', 'gamma.ISO', 'beta.iso'])
  const page = await runCli(['search', 'iso', '--tracker', url, '--sort', 'name', '--limit', '1', '--offset', '1'], { cwd: dir })
  assert.match(page.stdout, /^beta\.iso/m)
  assert.match(page.stdout, /^2-2 of 3 files match "iso" \(--offset 2 for more\)\.$/m)
})

test('search failures: unreachable tracker (3), bad options (2), a refused search (1), a tracker that is not one (3)', async (t) => {
  const dir = tempDir(t)
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => { resolve() }))
  const unreachable = await runCli(['search', 'x', '--tracker', `http://127.0.0.1:${port}`], { cwd: dir })
  assert.equal(unreachable.code, 3)
  assert.match(unreachable.stderr, new RegExp(`Error: Failed to connect to tracker at http://127\\.0\\.0\\.1:${port}`))

  for (const args of [['--sort', 'popularity'], ['--order', 'up'], ['--limit', '0'], ['--limit', '10001'], ['--offset', '-1']]) {
    const bad = await runCli(['search', 'x', '--tracker', `http://127.0.0.1:${port}`, ...args], { cwd: dir })
    assert.equal(bad.code, 2, args.join(' '))
    assert.match(bad.stderr, /^Error: /m, args.join(' '))
  }

  const { url } = await startTracker(dir, t)
  const huge = await runCli(['search', 'x'.repeat(300), '--tracker', url], { cwd: dir })
  assert.equal(huge.code, 1)
  assert.equal(huge.stderr, 'Error: Tracker refused GET /files: Invalid parameter: q: must be at most 255 bytes of UTF-8\n')

  const html = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html>hello</html>') })
  await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve))
  t.after(() => { html.close() })
  const notTracker = await runCli(['search', 'x', '--tracker', `http://127.0.0.1:${(html.address() as AddressInfo).port}`], { cwd: dir })
  assert.equal(notTracker.code, 3)
  assert.match(notTracker.stderr, /no JSON: is this a p2pshare tracker\?/)
})
