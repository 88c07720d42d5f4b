/**
 * A real `p2pshare node` (with --api-auth) driven the way people drive transmission-daemon: the real
 * transmission-remote adds a torrent that downloads from another node, lists it, stops, starts, verifies and removes
 * it; a script sends what Sonarr and Radarr send (session-get, torrent-add with download-dir and paused, torrent-get
 * with their fields, torrent-set, torrent-remove with delete-local-data). The API refuses a wrong Host, a missing
 * session id, wrong credentials, and hostile REST input, with nothing lost.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import type { SessionStats, TorrentSummary } from '../../src/session/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { startNode } from '../helpers/node.js'
import { pollUntil, waitForSwarm } from '../helpers/poll.js'
import { startTracker } from '../helpers/process.js'

const AUTH = 'sonarr:s3cret'

async function remote (address: string, ...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile('transmission-remote', [address, '-n', AUTH, ...args], { timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

async function missingRemote (): Promise<string | false> {
  return await new Promise((resolve) => {
    execFile('transmission-remote', ['--version'], (err) => { resolve(err === null ? false : 'transmission-remote is not installed (Debian package transmission-cli)') })
  })
}

/** A raw HTTP exchange (so Host and headers are exactly as given). */
async function raw (port: number, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, timeout: 10_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject).on('timeout', () => { req.destroy(new Error('no reply')) })
    req.end(body)
  })
}

test('transmission-remote and a Sonarr-style client drive a real node', { skip: await missingRemote() }, async (t) => {
  const dir = tempDir(t)
  const tracker = await startTracker(dir, t)
  const file = await randomFile(dir, 'episode.mkv', 6 * 1024 * 1024)
  const other = await randomFile(dir, 'film.mkv', 2 * 1024 * 1024)
  const seed = await startNode(t, dir, join(dir, 'seed'), ['--tracker', tracker.url])
  const shared = (await seed.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { path: file.path })).body.torrent
  const sharedOther = (await seed.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { path: other.path })).body.torrent
  await waitForSwarm(`${tracker.url}/announce`, shared.infoHash, { complete: 1 })
  await waitForSwarm(`${tracker.url}/announce`, sharedOther.infoHash, { complete: 1 })
  const torrentFile = join(dir, 'episode.torrent')
  writeFileSync(torrentFile, readFileSync(join(dir, 'seed', 'torrents', `${shared.infoHash}.torrent`)))

  const node = await startNode(t, dir, join(dir, 'node'), ['--api-auth', AUTH, '--download-dir', join(dir, 'tv')], { auth: AUTH })
  const address = `127.0.0.1:${node.apiPort}`

  // transmission-remote: add, list, stop, start, verify, remove.
  const added = await remote(address, '-a', torrentFile)
  assert.match(added.stdout, /responded: "success"/, added.stdout + added.stderr)
  let seen = ''
  await pollUntil('100% in -l', async () => {
    seen = (await remote(address, '-l')).stdout
    return /^\s+1\s+100%.*(Seeding|Idle)\s+episode\.mkv$/m.test(seen) ? seen : undefined
  }, { timeoutMs: 60_000, describe: () => seen + JSON.stringify(node.proc.stderr().slice(-2000)) })
  assert.equal(sha1Of(join(dir, 'tv', 'episode.mkv')), file.sha1)
  assert.match((await remote(address, '-t', '1', '-S')).stdout, /success/)
  assert.match((await remote(address, '-l')).stdout, /^\s+1\s+100%.*Stopped\s+episode\.mkv$/m)
  assert.match((await remote(address, '-t', '1', '-v')).stdout, /success/)
  await pollUntil('the check', async () => (await node.api<SessionStats>('GET', '/api/v1/stats')).body.current.piecesChecked > 0 ? true : undefined)
  assert.match((await remote(address, '-t', '1', '-s')).stdout, /success/)
  await pollUntil('seeding again', async () => /^\s+1\s+100%.*(Seeding|Idle)\s+episode\.mkv$/m.test((await remote(address, '-l')).stdout) ? true : undefined)
  const info = (await remote(address, '-t', shared.infoHash, '-i')).stdout
  assert.match(info, new RegExp(`Hash: ${shared.infoHash}`))
  assert.match(info, /Percent Done: 100%/)
  assert.match((await remote(address, '-t', '1', '-r')).stdout, /success/)
  assert.doesNotMatch((await remote(address, '-l')).stdout, /episode\.mkv/)
  assert.ok(existsSync(join(dir, 'tv', 'episode.mkv')), '-r keeps the data')

  // What Sonarr sends: the 409 handshake, session-get, torrent-add (download-dir, paused), torrent-get, torrent-set,
  // torrent-start, torrent-remove with delete-local-data.
  const basic = `Basic ${Buffer.from(AUTH).toString('base64')}`
  let sessionId = ''
  const rpc = async (method: string, args: Record<string, unknown>): Promise<{ result: string, arguments: Record<string, unknown> }> => {
    const body = JSON.stringify({ method, arguments: args, tag: 7 })
    let reply = await raw(node.apiPort, 'POST', '/transmission/rpc', { host: address, authorization: basic, 'content-type': 'application/json', 'x-transmission-session-id': sessionId }, body)
    if (reply.status === 409) {
      sessionId = String(reply.headers['x-transmission-session-id'])
      reply = await raw(node.apiPort, 'POST', '/transmission/rpc', { host: address, authorization: basic, 'content-type': 'application/json', 'x-transmission-session-id': sessionId }, body)
    }
    assert.equal(reply.status, 200, reply.body)
    return JSON.parse(reply.body) as { result: string, arguments: Record<string, unknown> }
  }
  const version = await rpc('session-get', { fields: ['version', 'rpc-version', 'download-dir'] })
  assert.match(String(version.arguments.version), /^3\.00/)
  const sonarrDir = join(dir, 'sonarr')
  const add = await rpc('torrent-add', { filename: sharedOther.magnet, 'download-dir': sonarrDir, paused: true })
  assert.equal(add.result, 'success')
  const addedTorrent = add.arguments['torrent-added'] as { id: number, hashString: string, name: string }
  assert.equal(addedTorrent.hashString, sharedOther.infoHash)
  const fields = ['id', 'hashString', 'name', 'downloadDir', 'totalSize', 'leftUntilDone', 'isFinished', 'eta', 'status', 'secondsDownloading', 'secondsSeeding',
    'errorString', 'uploadedEver', 'downloadedEver', 'seedRatioLimit', 'seedRatioMode', 'seedIdleLimit', 'seedIdleMode', 'fileCount', 'labels']
  const get = async (): Promise<Record<string, unknown>> => {
    const r = await rpc('torrent-get', { fields, ids: [addedTorrent.id] })
    const list = r.arguments.torrents as Array<Record<string, unknown>>
    assert.equal(list.length, 1)
    return list[0] as Record<string, unknown>
  }
  const paused = await get()
  assert.equal(paused.status, 0, 'added paused: stopped')
  assert.equal(paused.downloadDir, sonarrDir)
  for (const f of ['id', 'hashString', 'name', 'downloadDir', 'leftUntilDone', 'eta', 'status', 'errorString', 'uploadedEver', 'downloadedEver', 'seedRatioLimit', 'seedRatioMode', 'seedIdleLimit', 'seedIdleMode']) {
    assert.ok(f in paused, `torrent-get returns ${f}`)
  }
  assert.equal((await rpc('torrent-set', { ids: [addedTorrent.id], seedRatioLimit: 1.5, seedRatioMode: 1 })).result, 'success')
  assert.equal((await rpc('torrent-start', { ids: [addedTorrent.id] })).result, 'success')
  const done = await pollUntil('Sonarr sees it done', async () => {
    const g = await get()
    return g.leftUntilDone === 0 && g.totalSize === 2 * 1024 * 1024 && g.status === 6 ? g : undefined
  }, { timeoutMs: 60_000 })
  assert.equal(done.seedRatioLimit, 1.5)
  assert.equal(done.seedRatioMode, 1)
  assert.equal(done.fileCount, 1)
  assert.equal(sha1Of(join(sonarrDir, 'film.mkv')), other.sha1)
  assert.equal((await rpc('torrent-remove', { ids: [addedTorrent.id], 'delete-local-data': true })).result, 'success')
  await pollUntil('data deleted', () => existsSync(join(sonarrDir, 'film.mkv')) ? undefined : true)

  // Refusals: a wrong Host (DNS rebinding), wrong credentials, no session id.
  const wrongHost = await raw(node.apiPort, 'GET', '/api/v1/torrents', { host: 'evil.example', authorization: basic })
  assert.equal(wrongHost.status, 403)
  assert.match(JSON.parse(wrongHost.body).error, /evil\.example/)
  const wrongAuth = await raw(node.apiPort, 'GET', '/api/v1/torrents', { host: address, authorization: `Basic ${Buffer.from('sonarr:nope').toString('base64')}` })
  assert.equal(wrongAuth.status, 401)
  assert.match(String(wrongAuth.headers['www-authenticate']), /Basic realm="p2pshare"/)
  assert.equal((await raw(node.apiPort, 'GET', '/api/v1/torrents', { host: address })).status, 401)
  const noId = await raw(node.apiPort, 'POST', '/transmission/rpc', { host: address, authorization: basic, 'content-type': 'application/json' }, '{"method":"torrent-get","arguments":{"fields":["id"]}}')
  assert.equal(noId.status, 409)
  assert.equal(transmissionRemoteRefused(await remote(address.replace(String(node.apiPort), String(node.apiPort)), '-n', 'sonarr:wrong', '-l')), true)
})

function transmissionRemoteRefused (r: { code: number | null, stdout: string, stderr: string }): boolean {
  return r.code !== 0 && /401|Unauthorized/i.test(r.stdout + r.stderr)
}

test('hostile REST input to a real node: 4xx JSON every time, and nothing is lost', async (t) => {
  const dir = tempDir(t)
  const file = await randomFile(dir, 'keep.bin', 200_000)
  const node = await startNode(t, dir, join(dir, 'node'))
  const kept = (await node.api<{ torrent: TorrentSummary }>('POST', '/api/v1/torrents', { path: file.path })).body.torrent
  const host = `127.0.0.1:${node.apiPort}`
  const json = { host, 'content-type': 'application/json' }
  const hostile: Array<[string, string, Record<string, string>, string]> = [
    ['POST', '/api/v1/torrents', json, '{"magnet":'],
    ['POST', '/api/v1/torrents', json, '{"magnet":"magnet:?xt=urn:btih:zz"}'],
    ['POST', '/api/v1/torrents', json, '{"magnet":"x","path":"/etc"}'],
    ['POST', '/api/v1/torrents', json, '{"torrent":"not base64!"}'],
    ['POST', '/api/v1/torrents', json, JSON.stringify({ torrent: Buffer.from('d4:infoi1ee').toString('base64') })],
    ['POST', '/api/v1/torrents', json, '{"path":"/nonexistent/file"}'],
    ['POST', '/api/v1/torrents', json, '{"magnet":"' + 'a'.repeat(40) + '","limits":{"uploadLimit":-5}}'],
    ['POST', '/api/v1/torrents', json, '{"magnet":"' + 'a'.repeat(40) + '","__proto__":{"x":1}}'],
    ['POST', '/api/v1/torrents', { host, 'content-type': 'text/plain' }, '{"magnet":"' + 'a'.repeat(40) + '"}'],
    ['POST', '/api/v1/torrents', { ...json, origin: 'http://evil.example' }, '{"magnet":"' + 'a'.repeat(40) + '"}'],
    ['GET', '/api/v1/torrents/../../etc/passwd', { host }, ''],
    ['GET', '/api/v1/torrents/99999', { host }, ''],
    ['GET', '/api/v1/torrents?state=nonsense', { host }, ''],
    ['PATCH', `/api/v1/torrents/${kept.id}`, json, '{"limits":{"downloadLimit":"fast"}}'],
    ['PATCH', '/api/v1/session', json, '{"maxActiveDownloads":1e309}'],
    ['PATCH', '/api/v1/session', json, '{"port":1}'],
    ['POST', `/api/v1/torrents/${kept.id}/queue`, json, '{"move":"sideways"}'],
    ['DELETE', `/api/v1/torrents/${kept.id}?deleteData=maybe`, { host }, ''],
    ['GET', '/api/v1/free-space?path=' + 'x'.repeat(10_000), { host }, ''],
    ['POST', '/api/v1/torrents', json, JSON.stringify({ magnet: 'a'.repeat(40), pad: 'x'.repeat(9 * 1024 * 1024) })]
  ]
  for (const [method, path, headers, body] of hostile) {
    let r: Awaited<ReturnType<typeof raw>>
    try {
      r = await raw(node.apiPort, method, path, headers, body)
    } catch (err) {
      // An oversize body may be refused (413) while we still write it: the node then closes, and our write fails.
      const code = (err as NodeJS.ErrnoException).code
      assert.ok(body.length > 8 * 1024 * 1024 && (code === 'EPIPE' || code === 'ECONNRESET'), `${method} ${path}: ${String(err)}`)
      continue
    }
    assert.ok(r.status >= 400 && r.status < 500, `${method} ${path.slice(0, 60)} ${body.slice(0, 60)}: ${r.status} ${r.body.slice(0, 200)}`)
    const parsed = JSON.parse(r.body) as { error?: unknown }
    assert.equal(typeof parsed.error, 'string', r.body.slice(0, 200))
  }
  const list = (await node.api<{ torrents: TorrentSummary[] }>('GET', '/api/v1/torrents')).body.torrents
  assert.deepEqual(list.map(x => x.infoHash), [kept.infoHash], 'the torrent is still there, and nothing was added')
  assert.equal(sha1Of(file.path), file.sha1)
  const settings = (await node.api<{ settings: { maxActiveDownloads: number } }>('GET', '/api/v1/session')).body.settings
  assert.equal(settings.maxActiveDownloads, 5)
})
