/**
 * The catalogue through real processes on 127.0.0.1: `share` uploads its .torrent and `/torrent/<info hash>` serves it
 * (the info hash `create` names); a .torrent written by `create` and registered comes back byte for byte; `tracker
 * remove` takes a file out while the tracker runs, and a restart keeps it out.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { parseMetainfo } from '../../src/content/index.js'
import { SeedTrackerClient } from '../../src/discovery/index.js'
import { httpRequest } from '../../src/discovery/http.js'
import { randomFile, tempDir } from '../helpers/files.js'
import { runCli, startSharer, startTracker, stopProcess } from '../helpers/process.js'

async function get (url: string): Promise<{ status: number, body: Buffer, type: string }> {
  const reply = await httpRequest(url, { timeoutMs: 5_000, maxBytes: 8 * 1024 * 1024 })
  return { status: reply.status, body: reply.body, type: String(reply.headers['content-type']) }
}

async function json (url: string): Promise<Record<string, unknown>> {
  return JSON.parse((await get(url)).body.toString('utf8')) as Record<string, unknown>
}

test('share uploads its .torrent: the tracker serves it, with the info hash create names for the file', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'shared clip.bin', 600_000)
  const torrent = join(dir, 'clip.torrent')
  const created = await runCli(['create', file.path, '--tracker', url, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const infoHash = created.stdout.match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? assert.fail(created.stdout)

  await startSharer(dir, file.path, url, t)
  const served = await get(`${url}/torrent/${infoHash}`)
  assert.equal(served.status, 200)
  assert.equal(served.type, 'application/x-bittorrent')
  const uploaded = parseMetainfo(served.body)
  const written = parseMetainfo(readFileSync(torrent))
  assert.equal(uploaded.infoHash, infoHash)
  assert.ok(uploaded.info.raw.equals(written.info.raw), 'the same info dictionary, byte for byte')
  assert.deepEqual(uploaded.trackers, [`${url}/announce`])

  const listed = (await json(`${url}/files?q=clip`)).files as Array<Record<string, unknown>>
  assert.equal(listed.length, 1)
  assert.equal(listed[0]?.torrent_url, `${url}/torrent/${infoHash}`)
  assert.equal(listed[0]?.file_hash, file.sha1)
})

test('a .torrent written by create, registered with its metainfo, comes back byte for byte', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'report.pdf', 70_000)
  const torrent = join(dir, 'report.torrent')
  const created = await runCli(['create', file.path, '--tracker', url, '--comment', 'quarterly', '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const bytes = readFileSync(torrent)
  const infoHash = parseMetainfo(bytes).infoHash

  const result = await new SeedTrackerClient(url).register({
    file_name: 'report.pdf', file_hash: file.sha1, file_size: 70_000, chunks: [0], chunk_size: 1024 * 1024, ip: '127.0.0.1', port: 6000,
    info_hash: infoHash, metainfo: bytes.toString('base64')
  })
  assert.equal(result.torrent_url, `${url}/torrent/${infoHash}`)
  const served = await get(result.torrent_url)
  assert.ok(served.body.equals(bytes), 'the bytes create wrote')
  assert.equal(parseMetainfo(served.body).comment, 'quarterly')
})

test('tracker remove takes a file and its peers out while the tracker runs; a restart keeps it out', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'tracker.db')
  const first = await startTracker(dir, t)
  const client = new SeedTrackerClient(first.url)
  const gone = await randomFile(dir, 'gone.bin', 5_000)
  const kept = await randomFile(dir, 'kept.bin', 5_000)
  for (const port of [6000, 6001]) {
    await client.register({ file_name: 'gone.bin', file_hash: gone.sha1, file_size: 5_000, chunks: [0], chunk_size: 1024 * 1024, ip: '127.0.0.1', port })
  }
  await client.register({ file_name: 'kept.bin', file_hash: kept.sha1, file_size: 5_000, chunks: [0], chunk_size: 1024 * 1024, ip: '127.0.0.1', port: 6000 })

  const removed = await runCli(['tracker', 'remove', gone.sha1.toUpperCase(), '--db', db], { cwd: dir })
  assert.equal(removed.code, 0, removed.stderr)
  assert.equal(removed.stdout.trim(), `Removed gone.bin (file hash ${gone.sha1}) and its 2 registered peers from ${db}.`)
  const check = async (url: string): Promise<void> => {
    const files = await json(`${url}/files`)
    assert.deepEqual((files.files as Array<Record<string, unknown>>).map((f) => f.file_name), ['kept.bin'])
    assert.equal(files.total, 1)
    assert.equal((await get(`${url}/lookup?file_hash=${gone.sha1}`)).status, 404)
    assert.equal(await new SeedTrackerClient(url).lookupByName('gone.bin'), undefined)
  }
  await check(first.url)

  // Again: not found (exit 4); a malformed hash: usage (exit 2); no such database: exit 9, and none is made.
  const again = await runCli(['tracker', 'remove', gone.sha1, '--db', db], { cwd: dir })
  assert.equal(again.code, 4)
  assert.match(again.stderr, new RegExp(`Error: No file with hash ${gone.sha1} in `))
  const bad = await runCli(['tracker', 'remove', 'xyz', '--db', db], { cwd: dir })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /Not a file hash or info hash: xyz/)
  const missing = await runCli(['tracker', 'remove', gone.sha1, '--db', join(dir, 'nope.db')], { cwd: dir })
  assert.equal(missing.code, 9)
  assert.match(missing.stderr, /No tracker database at .*nope\.db/)
  assert.throws(() => readFileSync(join(dir, 'nope.db')), /ENOENT/)

  await stopProcess(first.proc)
  const second = await startTracker(dir, t)
  await check(second.url)
})

test('tracker remove prints a stored name inert: an ESC sequence in a name from an older database does nothing', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'tracker.db')
  const { url, proc } = await startTracker(dir, t)
  const file = await randomFile(dir, 'plain.bin', 5_000)
  await new SeedTrackerClient(url).register({ file_name: 'plain.bin', file_hash: file.sha1, file_size: 5_000, chunks: [0], chunk_size: 1024 * 1024, ip: '127.0.0.1', port: 6000 })
  await stopProcess(proc)
  // Today's tracker refuses control characters in names; a database written before it did may hold them.
  const sqlite = new Database(db)
  sqlite.prepare('UPDATE files SET file_name = ? WHERE file_hash = ?').run('evil\x1b[2Jname.bin', file.sha1)
  sqlite.close()
  const removed = await runCli(['tracker', 'remove', file.sha1, '--db', db], { cwd: dir })
  assert.equal(removed.code, 0, removed.stderr)
  assert.ok(!removed.stdout.includes('\x1b'), JSON.stringify(removed.stdout))
  assert.match(removed.stdout, /^Removed evil.\[2Jname\.bin \(file hash /)
})
