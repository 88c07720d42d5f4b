/**
 * `share FOLDER` shares a folder as a multi-file torrent; and whatever the peers do (silent peers that accept and
 * never answer, listed by the tracker so that we dial them), `share` ends within 2 s of its first Ctrl+C or SIGTERM
 * and `download` within 2 s of its work.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { tempDir } from '../helpers/files.js'
import { cli, runCli, startTracker, type Proc } from '../helpers/process.js'

/** `count` peers on 127.0.0.1 that accept, read and never send a byte; closed when the test ends. */
async function silentPeers (t: TestContext, count: number): Promise<number[]> {
  const held = new Set<Socket>()
  const servers: Server[] = []
  const ports: number[] = []
  for (let i = 0; i < count; i++) {
    const server = createServer((s) => { held.add(s); s.on('data', () => {}); s.on('error', () => {}) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
    ports.push((server.address() as { port: number }).port)
  }
  t.after(() => { for (const s of held) s.destroy(); for (const s of servers) s.close() })
  return ports
}

/** Announce each port to the tracker as a leecher of `infoHash`, so that seeds and downloaders dial it. */
async function announceSilent (url: string, infoHash: string, ports: number[]): Promise<void> {
  for (const [i, port] of ports.entries()) {
    const peerId = `-XX0001-${String(i).padStart(12, '0')}`
    const r = await fetch(`${url}/announce?info_hash=${infoHash.replace(/../g, '%$&')}&peer_id=${peerId}&port=${port}&uploaded=0&downloaded=0&left=1000&event=started&compact=1`)
    assert.equal(r.status, 200)
  }
}

/** Resolves with how the process ended, or fails if it is still running `ms` after the call (then it is killed). */
async function exitsWithin (proc: Proc, ms: number, what: string): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${what}: still running ${ms} ms later\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`)) }, ms) })
  try {
    return await Promise.race([proc.exited, late])
  } finally {
    clearTimeout(timer)
  }
}

test('share FOLDER seeds a multi-file torrent that a magnet download fetches whole', async (t) => {
  const dir = tempDir(t, 'p2p-share-folder-')
  const { url } = await startTracker(dir, t)
  const folder = join(dir, 'album')
  mkdirSync(join(folder, 'disc 2'), { recursive: true })
  const files = { 'one.flac': randomBytes(90_000), 'disc 2/two.flac': randomBytes(30_000) }
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data)
  const sharer = cli(['share', folder, '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t })
  const magnet = (await sharer.waitFor(/Magnet: (magnet:\S+)/))[1] ?? ''
  await sharer.waitFor(/Press Ctrl\+C/)
  assert.match(sharer.stdout(), /Files: 2/)
  assert.match(sharer.stdout(), /Over BitTorrent only/)
  const got = await runCli(['download', magnet, '--out', join(dir, 'out'), '--host', '127.0.0.1'], { cwd: dir, timeoutMs: 40_000 })
  assert.equal(got.code, 0, got.stderr)
  for (const [name, data] of Object.entries(files)) assert.ok(readFileSync(join(dir, 'out', 'album', name)).equals(data), name)
  sharer.kill('SIGINT')
  assert.equal((await exitsWithin(sharer, 2_000, 'share FOLDER after Ctrl+C')).code, 0)
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`share ends within 2 s of its first ${signal}, with silent peers dialed and connected`, async (t) => {
    const dir = tempDir(t, 'p2p-share-exit-')
    const { url } = await startTracker(dir, t)
    writeFileSync(join(dir, 'f.bin'), randomBytes(100_000))
    // `create` names the info hash `share` will announce: the silent peers are listed before the sharer starts, so
    // its `started` announce hands them to it and it dials them.
    const made = await runCli(['create', join(dir, 'f.bin'), '-t', url, '-o', join(dir, 'f.torrent')], { cwd: dir })
    const infoHash = /Info hash: ([0-9a-f]{40})/.exec(made.stdout)?.[1] ?? ''
    await announceSilent(url, infoHash, await silentPeers(t, 10))
    const sharer = cli(['share', join(dir, 'f.bin'), '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t })
    assert.equal((await sharer.waitFor(/Info hash: ([0-9a-f]{40})/))[1], infoHash)
    const port = Number((await sharer.waitFor(/Listening for chunk requests on [\d.]+:(\d+)/))[1])
    await sharer.waitFor(/Press Ctrl\+C/)
    // Half handshakes held open towards the sharer, too.
    const held: Socket[] = []
    for (let i = 0; i < 5; i++) {
      const s = connect({ host: '127.0.0.1', port })
      s.on('error', () => {})
      s.write(Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(8), Buffer.from(infoHash, 'hex')]))
      held.push(s)
    }
    t.after(() => { for (const s of held) s.destroy() })
    await new Promise((resolve) => setTimeout(resolve, 500))
    sharer.kill(signal)
    const ended = await exitsWithin(sharer, 2_000, `share after ${signal}`)
    assert.equal(ended.code, 0, sharer.stderr())
    assert.match(sharer.stdout(), /Stopped sharing/)
  })
}

test('download ends within 2 s of "Download complete!" with silent peers in the swarm', async (t) => {
  const dir = tempDir(t, 'p2p-download-exit-')
  const { url } = await startTracker(dir, t)
  writeFileSync(join(dir, 'f.bin'), randomBytes(300_000))
  const sharer = cli(['share', join(dir, 'f.bin'), '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t })
  const infoHash = (await sharer.waitFor(/Info hash: ([0-9a-f]{40})/))[1] ?? ''
  await sharer.waitFor(/Press Ctrl\+C/)
  await announceSilent(url, infoHash, await silentPeers(t, 30))
  const made = await runCli(['create', join(dir, 'f.bin'), '-t', url, '-o', join(dir, 'f.torrent')], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  const downloader = cli(['download', join(dir, 'f.torrent'), '--out', join(dir, 'out'), '--host', '127.0.0.1'], { cwd: dir, t })
  await downloader.waitFor(/Download complete!/, 30_000)
  const ended = await exitsWithin(downloader, 2_000, 'download after its work')
  assert.equal(ended.code, 0, downloader.stderr())
})

test('a sharer stopped with Ctrl+C leaves the catalogue\'s peers_count at once; /unregister never removes a live peer', async (t) => {
  const dir = tempDir(t, 'p2p-unregister-')
  const { url } = await startTracker(dir, t)
  const peersCount = async (): Promise<number> => {
    const files = (await (await fetch(`${url}/files`)).json()) as { files: Array<{ peers_count: number }> }
    return files.files[0]?.peers_count ?? -1
  }
  writeFileSync(join(dir, 'kept.bin'), randomBytes(10_000))
  const sharer = cli(['share', join(dir, 'kept.bin'), '--port', '0', '--host', '127.0.0.1', '--tracker', url], { cwd: dir, t })
  const port = Number((await sharer.waitFor(/Listening for chunk requests on [\d.]+:(\d+)/))[1])
  await sharer.waitFor(/Press Ctrl\+C/)
  assert.equal(await peersCount(), 1)
  // Anyone may ask; a peer that still accepts connections is kept. Malformed bodies are a 400 with a reason.
  const live = await fetch(`${url}/unregister`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ip: '127.0.0.1', port }) })
  assert.deepEqual(await live.json(), { message: 'Peer still accepts connections: kept', removed: 0 })
  for (const body of ['{"ip":"127.0.0.1"}', '{"ip":"no","port":1}', '[1]', '{"ip":"127.0.0.1","port":70000}']) {
    const bad = await fetch(`${url}/unregister`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    assert.equal(bad.status, 400, body)
    assert.ok(typeof ((await bad.json()) as { error?: unknown }).error === 'string', body)
  }
  assert.equal(await peersCount(), 1)
  sharer.kill('SIGINT')
  assert.equal((await exitsWithin(sharer, 2_000, 'share after Ctrl+C')).code, 0)
  assert.equal(await peersCount(), 0)
})
