/**
 * A private tracker through the CLI, over real sockets on 127.0.0.1: keys issued with `tracker keys add`, share and
 * download by name with passkey URLs, requests without a key or with a revoked one refused (a revocation made with
 * the CLI while the tracker runs), `create --private` keeping the passkey, and no peer exchange offered for a
 * private torrent (BEP 27).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bencode, Bitfield, parseMetainfo } from '../../src/content/index.js'
import { scrape } from '../../src/discovery/index.js'
import { PeerListener } from '../../src/node/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { Transfer } from '../../src/swarm/index.js'
import { decodeExtendedHandshake, decodeHandshake, encodeHandshake, MessageDecoder, type Message } from '../../src/wire/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { pollUntil } from '../helpers/poll.js'
import { metadataProbe } from '../helpers/metadata.js'
import { runCli, startSharer, startTracker } from '../helpers/process.js'

function events (stdout: string): Array<Record<string, unknown>> {
  return stdout.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
}

interface Issued { id: number, label: string, key: string, announce_url: string }

async function addKey (dir: string, db: string, label: string, url: string): Promise<Issued> {
  const r = await runCli(['tracker', 'keys', 'add', label, '--db', db, '--url', url, '--json'], { cwd: dir })
  assert.equal(r.code, 0, r.stderr)
  const issued = JSON.parse(r.stdout) as Issued
  assert.match(issued.key, /^[0-9a-f]{32}$/)
  assert.equal(issued.announce_url, `${url}/announce?passkey=${issued.key}`)
  return issued
}

/** A raw HTTP GET over its own socket (the tracker's real front door, as a BitTorrent client reaches it). */
async function httpGet (url: string): Promise<{ status: number, body: string }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.text() }
}

const announceQuery = (infoHash: string): string =>
  `info_hash=${infoHash.replace(/../g, '%$&')}&peer_id=-XX0001-abcdefghijkl&port=6999&uploaded=0&downloaded=0&left=1&compact=1`

test('share and download by name through a private tracker; no key and a key revoked while it runs are refused', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'tracker.db')
  const { url, proc } = await startTracker(dir, t, ['--private'])
  await proc.waitFor(/Private tracker: every request needs \?passkey=KEY/)
  await proc.waitFor(/Press Ctrl\+C to stop/)
  assert.doesNotMatch(proc.stdout(), /UDP tracker \(BEP 15\) on/, 'no UDP for a private tracker')

  // Keys issued while the tracker runs work at once.
  const alice = await addKey(dir, db, 'alice', url)
  const bob = await addKey(dir, db, 'bob', url)
  const list = await runCli(['tracker', 'keys', 'list', '--db', db], { cwd: dir })
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, /alice/)
  assert.equal(list.stdout.includes(alice.key) || list.stdout.includes(bob.key), false, 'a listing never shows a key')

  // Alice shares with the base URL form, Bob downloads by name with the announce URL form.
  const size = 2 * 1024 * 1024 + 77
  const file = { ...await randomFile(dir, 'members-only.bin', size), size }
  const sharer = await startSharer(dir, file.path, `${url}/?passkey=${alice.key}`, t)
  assert.match(sharer.proc.stdout(), /Registered with tracker/)
  const infoHash = sharer.proc.stdout().match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? ''
  assert.match(infoHash, /^[0-9a-f]{40}$/)
  // Shared through a private tracker, the torrent is private (BEP 27), and the tracker serves it to members only.
  const served = await fetch(`${url}/torrent/${infoHash}?passkey=${alice.key}`)
  assert.equal(served.status, 200)
  assert.equal(parseMetainfo(Buffer.from(await served.arrayBuffer())).info.private, true)
  assert.equal((await fetch(`${url}/torrent/${infoHash}`)).status, 403)

  const out = join(dir, 'bob')
  const got = await runCli(['download', 'members-only.bin', '--tracker', bob.announce_url, '--host', '127.0.0.1', '--out', out, '--json'], { cwd: dir, timeoutMs: 60_000 })
  assert.equal(got.code, 0, got.stderr)
  // BitTorrent: the lookup listed the sharer as an announced peer, so its announce carried Alice's key.
  assert.equal(events(got.stdout).find(e => e.event === 'start')?.protocol, 'bittorrent', got.stdout)
  assert.equal(events(got.stdout).find(e => e.event === 'done')?.bittorrent_bytes, file.size, got.stdout)
  assert.equal(sha1Of(join(out, file.sha1)), file.sha1)
  // Bob's `completed` announce carried his key too: the swarm counts one download.
  const stats = await scrape(alice.announce_url, [infoHash])
  assert.equal(stats.get(infoHash)?.downloaded, 1)

  // Without a key: a clear refusal, nothing downloaded.
  const anonymous = await runCli(['download', 'members-only.bin', '--tracker', url, '--host', '127.0.0.1', '--out', join(dir, 'anon')], { cwd: dir })
  assert.equal(anonymous.code, 1, anonymous.stderr)
  assert.match(anonymous.stderr, /Missing passkey: this tracker is private/)
  const bare = await httpGet(`${url}/announce?${announceQuery(infoHash)}`)
  assert.equal(bare.status, 200)
  assert.match(bare.body, /failure reason40:Missing passkey: this tracker is private/)

  // Bob's key is revoked with the CLI while the tracker runs: refused within the refresh period (1 s), everywhere.
  const revoke = await runCli(['tracker', 'keys', 'revoke', 'bob', '--db', db], { cwd: dir })
  assert.equal(revoke.code, 0, revoke.stderr)
  assert.match(revoke.stdout, /Revoked 1 key of bob/)
  await pollUntil('the revoked key to be refused', async () => {
    const r = await httpGet(`${url}/files?passkey=${bob.key}`)
    return r.status === 403 ? r : undefined
  }, { timeoutMs: 5_000, intervalMs: 100 })
  assert.deepEqual(JSON.parse((await httpGet(`${url}/files?passkey=${bob.key}`)).body), { error: 'Passkey revoked' })
  assert.match((await httpGet(`${url}/announce?passkey=${bob.key}&${announceQuery(infoHash)}`)).body, /failure reason15:Passkey revoked/)
  const again = await runCli(['download', 'members-only.bin', '--tracker', bob.announce_url, '--host', '127.0.0.1', '--out', join(dir, 'bob-again')], { cwd: dir })
  assert.equal(again.code, 1, again.stderr)
  assert.match(again.stderr, /Passkey revoked/)
  // Alice is unaffected.
  assert.equal((await httpGet(`${url}/files?passkey=${alice.key}`)).status, 200)
  const listed = await runCli(['tracker', 'keys', 'list', '--db', db, '--json'], { cwd: dir })
  const rows = JSON.parse(listed.stdout) as Array<{ label: string, revoked: string | null }>
  assert.deepEqual(rows.map(r => [r.label, r.revoked === null]), [['alice', true], ['bob', false]])
})

test('tracker keys: bad labels, unknown ids and a missing database are one-line errors that issue nothing', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'tracker.db')
  const missing = await runCli(['tracker', 'keys', 'list', '--db', db], { cwd: dir })
  assert.equal(missing.code, 9)
  assert.match(missing.stderr, /No tracker database at/)
  const numeric = await runCli(['tracker', 'keys', 'add', '42', '--db', db], { cwd: dir })
  assert.equal(numeric.code, 2)
  assert.match(numeric.stderr, /^Error: Invalid key label: a label cannot be a number/)
  const badUrl = await runCli(['tracker', 'keys', 'add', 'carol', '--db', db, '--url', 'ftp://x'], { cwd: dir })
  assert.equal(badUrl.code, 2)
  assert.match(badUrl.stderr, /Invalid --url/)
  const empty = await runCli(['tracker', 'keys', 'list', '--db', db], { cwd: dir })
  assert.match(empty.stdout, /No keys issued yet/)
  const unknown = await runCli(['tracker', 'keys', 'revoke', '7', '--db', db], { cwd: dir })
  assert.equal(unknown.code, 4)
  assert.match(unknown.stderr, /No key with id 7/)
  const noLabel = await runCli(['tracker', 'keys', 'revoke', 'nobody', '--db', db], { cwd: dir })
  assert.equal(noLabel.code, 4)
  const added = await runCli(['tracker', '--db', db, 'keys', 'add', 'dave'], { cwd: dir })
  assert.equal(added.code, 0, added.stderr)
  assert.match(added.stdout, /Key 1 for dave: [0-9a-f]{32}\n.*shown only this once/)
  assert.match(added.stdout, /Announce URL to give them: http:\/\/127\.0\.0\.1:5000\/announce\?passkey=[0-9a-f]{32}/)
  const revokeById = await runCli(['tracker', 'keys', 'revoke', '1', '--db', db], { cwd: dir })
  assert.match(revokeById.stdout, /Revoked key 1 \(dave\)/)
  const twice = await runCli(['tracker', 'keys', 'revoke', '1', '--db', db], { cwd: dir })
  assert.equal(twice.code, 0)
  assert.match(twice.stdout, /already revoked/)
  const listed = await runCli(['tracker', 'keys', 'list', '--db', db], { cwd: dir })
  assert.match(listed.stdout, /^ID\s+LABEL\s+KEY\s+CREATED\s+REVOKED\n1\s+dave\s+[0-9a-f]{6}\.\.\.\s+\S+Z\s+\S+Z\n0 valid, 1 revoked\.\n$/)
  const help = await runCli(['tracker', '--help'], { cwd: dir })
  assert.match(help.stdout, /--private/)
  assert.match(help.stdout, /Commands:\n\s+keys/)
})

test('create --private keeps the passkey of a base URL and of an announce URL; a passkey URL makes a torrent private by itself', async (t) => {
  const dir = tempDir(t)
  const file = await randomFile(dir, 'secret.bin', 50_000)
  const key = 'ab'.repeat(16)
  const torrent = join(dir, 'secret.torrent')
  const created = await runCli(['create', file.path, '--private', '-o', torrent,
    '--tracker', `http://127.0.0.1:5000/?passkey=${key}`, '--tracker', `tracker.example:6969/announce?passkey=${key}`], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const info = await runCli(['info', torrent, '--json'], { cwd: dir })
  const parsed = JSON.parse(info.stdout) as { private: boolean, trackers: string[] }
  assert.equal(parsed.private, true)
  assert.deepEqual(parsed.trackers, [`http://127.0.0.1:5000/announce?passkey=${key}`, `http://tracker.example:6969/announce?passkey=${key}`])

  // A torrent for a private tracker is private without --private too; one for a public tracker is not.
  const implicit = join(dir, 'implicit.torrent')
  const made = await runCli(['create', file.path, '-o', implicit, '--tracker', `http://127.0.0.1:5000/announce?passkey=${key}`], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  assert.match(made.stdout, /Private: yes \(BEP 27: peers from its trackers only; the tracker URL carries a passkey\)/)
  assert.equal((JSON.parse((await runCli(['info', implicit, '--json'], { cwd: dir })).stdout) as { private: boolean }).private, true)
  const open = join(dir, 'open.torrent')
  assert.equal((await runCli(['create', file.path, '-o', open, '--tracker', 'http://127.0.0.1:5000/announce'], { cwd: dir })).code, 0)
  assert.equal((JSON.parse((await runCli(['info', open, '--json'], { cwd: dir })).stdout) as { private: boolean }).private, false)
})

const PIECE = 16 * 1024

/** A seeding transfer of a private torrent (BEP 27 `private: 1` in its info dictionary). */
async function seedPrivate (t: TestContext): Promise<{ port: number, infoHash: Buffer }> {
  const dir = tempDir(t)
  const data = randomBytes(2 * PIECE)
  writeFileSync(join(dir, 'f'), data)
  const pieces = Buffer.concat([0, 1].map(i => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest()))
  const info = bencode({ length: data.length, name: 'f', 'piece length': PIECE, pieces, private: 1 })
  const infoHash = createHash('sha1').update(info).digest()
  const store = PieceStore.open([{ path: join(dir, 'f'), length: data.length }], PIECE, 'read')
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({ host: '127.0.0.1', port: 0, source: { size: () => undefined, readInto: async () => {} }, dialect: 'published', torrents: (h) => h.equals(infoHash) ? ref.transfer : undefined })
  const { port } = await listener.listen()
  const transfer = new Transfer({ infoHash, pieceHashes: pieces, pieceLength: PIECE, totalLength: data.length, store, have: Bitfield.full(2), peerId: randomBytes(20), listenPort: port, metadata: info, seed: true })
  ref.transfer = transfer
  transfer.start()
  t.after(async () => { transfer.close(); await listener.close(); store.close() })
  return { port, infoHash }
}

type ExtendedHandshake = ReturnType<typeof decodeExtendedHandshake>

/**
 * Reads what a peer sends on `socket`: its 68-byte handshake (handed to `onHandshake`), then messages, until its
 * extended handshake (BEP 10), handed to `onExtended`.
 */
function readExtendedHandshake (socket: Socket, onExtended: (handshake: ExtendedHandshake) => void, onHandshake: () => void = () => {}): void {
  let head = Buffer.alloc(0)
  const decoder = new MessageDecoder({
    onMessage: (m: Message) => {
      if (m.type === 'extended' && m.id === 0) onExtended(decodeExtendedHandshake(m.payload))
    },
    onBlockStart: () => {},
    onBlockData: () => {},
    onBlockEnd: () => {}
  }, { maxBitfieldBytes: 1 })
  socket.on('data', (d: Buffer) => {
    if (head.length >= 68) { decoder.push(d); return }
    head = Buffer.concat([head, d])
    if (head.length < 68) return
    decodeHandshake(head)
    onHandshake()
    decoder.push(head.subarray(68))
  })
}

/** Connects as a peer that speaks BEP 10 and resolves with the first extended handshake the other side sends. */
async function extendedHandshakeOf (t: TestContext, port: number, infoHash: Buffer): Promise<ExtendedHandshake> {
  const socket: Socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  t.after(() => { socket.destroy() })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no extended handshake within 5 s')) }, 5_000)
    readExtendedHandshake(socket, (handshake) => { clearTimeout(timer); resolve(handshake) })
    socket.once('connect', () => {
      socket.write(encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } }))
    })
  })
}

test('a private torrent\'s peers offer no peer exchange: no ut_pex in the extended handshake, seeding or fetching metadata', async (t) => {
  const { port, infoHash } = await seedPrivate(t)
  const seeding = await extendedHandshakeOf(t, port, infoHash)
  assert.equal(seeding.m.ut_metadata, 1, 'metadata is still served')
  assert.equal('ut_pex' in seeding.m, false, `offered: ${Object.keys(seeding.m).join(', ')}`)

  // A magnet download's metadata fetch (before it knows the torrent is private) offers none either.
  let fetcherOffered: Record<string, number> | undefined
  const server = createServer((socket) => {
    socket.on('error', () => {})
    readExtendedHandshake(socket, (handshake) => { fetcherOffered = handshake.m; socket.destroy() }, () => {
      socket.write(encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: false, dht: false } }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const fakePort = (server.address() as { port: number }).port
  metadataProbe(t, infoHash, [{ host: '127.0.0.1', port: fakePort }])
  await pollUntil('the fetcher\'s extended handshake', () => fetcherOffered, { timeoutMs: 5_000, intervalMs: 20 })
  assert.ok(fetcherOffered !== undefined, 'the fetcher sent its extended handshake')
  assert.equal('ut_pex' in fetcherOffered, false)
})
