/**
 * A downloading transfer offered peers that never answer (they accept, read, and stay silent), again and again as
 * re-announces do, over real sockets on loopback: its connections stay within its cap, each is closed at the
 * handshake deadline, a failed peer is not dialled again before its back-off, and close() leaves nothing open.
 * Counts are taken on the servers' side. The transfer's clock is injected: deadlines and back-offs are reached by
 * moving it.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Bitfield } from '../../src/content/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { Transfer } from '../../src/swarm/index.js'
import { DIAL_RETRY_BASE_MS } from '../../src/swarm/index.js'
import { HANDSHAKE_TIMEOUT_MS } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil } from '../helpers/poll.js'
import { metadataProbe } from '../helpers/metadata.js'

const PIECE = 16 * 1024

/** A server that accepts, reads, never answers; counts the connections it accepted and those still open. */
interface Silent { port: number, accepted: number, open: Set<Socket> }

async function silentPeer (t: TestContext): Promise<Silent> {
  const peer: Silent = { port: 0, accepted: 0, open: new Set() }
  const server = createServer((socket) => {
    peer.accepted++
    peer.open.add(socket)
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.once('close', () => { peer.open.delete(socket) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { for (const s of peer.open) s.destroy(); server.close() })
  peer.port = (server.address() as { port: number }).port
  return peer
}

function downloader (t: TestContext, maxPeers: number): { transfer: Transfer, clock: { now: number } } {
  const dir = tempDir(t)
  const pieces = 4
  const store = PieceStore.open([{ path: join(dir, 'f'), length: pieces * PIECE }], PIECE, 'write')
  const clock = { now: 1_000_000 }
  const transfer = new Transfer({
    infoHash: randomBytes(20), pieceHashes: randomBytes(20 * pieces), pieceLength: PIECE, totalLength: pieces * PIECE, store,
    have: new Bitfield(pieces), peerId: randomBytes(20), listenPort: 1, maxPeers, now: () => clock.now
  })
  transfer.start()
  t.after(() => { transfer.close(); store.close() })
  return { transfer, clock }
}

const openAt = (peers: Silent[]): number => peers.reduce((n, p) => n + p.open.size, 0)
const acceptedBy = (peers: Silent[]): number[] => peers.map(p => p.accepted)

test('silent peers offered again and again: bounded connections, closed at the handshake deadline, not redialled before their back-off, nothing left after close()', async (t) => {
  const cap = 8
  const peers: Silent[] = []
  for (let i = 0; i < 12; i++) peers.push(await silentPeer(t))
  const first = peers.slice(0, cap)
  const rest = peers.slice(cap)
  const list = peers.map(p => ({ host: '127.0.0.1', port: p.port }))
  const { transfer, clock } = downloader(t, cap)

  transfer.addPeers(list)
  await pollUntil('the first connections accepted', () => openAt(first) === cap ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `accepted ${acceptedBy(peers).join(',')}` })
  // Re-announces offer the same peers while those connections wait for a handshake: nothing more is dialled.
  for (let round = 0; round < 5; round++) {
    transfer.addPeers(list)
    await sleep(50)
    assert.ok(transfer.connections <= cap, `round ${round}: ${transfer.connections} connections`)
  }
  assert.deepEqual(acceptedBy(peers), [...first.map(() => 1), ...rest.map(() => 0)], 'each of the first peers dialled once, the others not at all')
  assert.equal(transfer.dialing, cap, 'all of them still waiting for a handshake')

  // Past the handshake deadline every one of them is closed, and the peers that waited for room (candidates) are
  // dialled in their place, with no announce in between.
  clock.now += HANDSHAKE_TIMEOUT_MS + 1
  await pollUntil('the silent connections closed, the waiting peers dialled', () => openAt(first) === 0 && openAt(rest) === rest.length ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${openAt(first)} of the first open at the servers, ${openAt(rest)} of the rest` })
  assert.equal(transfer.dialsFailed, cap)

  // The next announce: the failed peers wait for their back-off.
  transfer.addPeers(list)
  await sleep(50)
  assert.deepEqual(acceptedBy(peers), peers.map(() => 1), 'no failed peer redialled before its back-off')
  clock.now += HANDSHAKE_TIMEOUT_MS + 1
  await pollUntil('those closed too', () => openAt(peers) === 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })

  // Once the first ones' back-off is over they are dialled again (the later ones still wait for theirs).
  clock.now += DIAL_RETRY_BASE_MS - HANDSHAKE_TIMEOUT_MS
  transfer.addPeers(list)
  await pollUntil('the first peers redialled', () => openAt(first) === cap ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `accepted ${acceptedBy(peers).join(',')}` })
  await sleep(50)
  assert.deepEqual(acceptedBy(peers), [...first.map(() => 2), ...rest.map(() => 1)])

  // close() closes the connections still waiting for a handshake, and those still connecting.
  clock.now += HANDSHAKE_TIMEOUT_MS + 1
  // (The later ones' back-off ends at that moment too: they are dialled again in their place.)
  await pollUntil('the redialled connections closed', () => openAt(first) === 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  clock.now += DIAL_RETRY_BASE_MS
  transfer.addPeers(list)
  assert.ok(transfer.dialing > 0, 'some dials under way')
  transfer.close()
  assert.equal(transfer.connections, 0)
  await sleep(100)
  await pollUntil('nothing open at the servers', () => openAt(peers) === 0 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${openAt(peers)} open` })
})

test('silent peers re-offered below the cap are not dialled twice, and close() closes every connection still waiting for a handshake', async (t) => {
  const peers: Silent[] = []
  for (let i = 0; i < 6; i++) peers.push(await silentPeer(t))
  const list = peers.map(p => ({ host: '127.0.0.1', port: p.port }))
  const { transfer } = downloader(t, 80)
  transfer.addPeers(list)
  await pollUntil('every connection accepted', () => openAt(peers) === peers.length ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  for (let round = 0; round < 3; round++) transfer.addPeers(list)
  await sleep(50)
  assert.deepEqual(acceptedBy(peers), peers.map(() => 1), 'a peer waiting for its handshake is not dialled again')
  assert.equal(transfer.connections, peers.length)
  transfer.close()
  await pollUntil('nothing open at the servers', () => openAt(peers) === 0 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${openAt(peers)} open` })
})

test('a peer that refuses the connection is not dialled again at the next announce', async (t) => {
  const port = await freePort()
  const { transfer } = downloader(t, 80)
  transfer.addPeers([{ host: '127.0.0.1', port }])
  await pollUntil('the dial failed', () => transfer.dialing === 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  assert.equal(transfer.dialsFailed, 1)
  transfer.addPeers([{ host: '127.0.0.1', port }])
  assert.equal(transfer.dialing, 0, 'no new dial before the back-off')
})

test('a magnet\'s metadata swarm dialling silent peers, closed (paused or removed), closes every connection it opened', async (t) => {
  const peers: Silent[] = []
  for (let i = 0; i < 4; i++) peers.push(await silentPeer(t))
  const { swarm } = metadataProbe(t, randomBytes(20), peers.map(p => ({ host: '127.0.0.1', port: p.port })))
  await pollUntil('every connection accepted', () => openAt(peers) === peers.length ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  // A magnet paused or removed before its metadata came.
  swarm.close()
  assert.equal(swarm.connections, 0)
  await pollUntil('nothing open at the servers', () => openAt(peers) === 0 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `${openAt(peers)} open` })
})

test('peers offered past the connection cap wait as candidates and are dialled as connections free up, without a re-offer', async (t) => {
  const peers: Silent[] = []
  for (let i = 0; i < 5; i++) peers.push(await silentPeer(t))
  const { transfer, clock } = downloader(t, 2)
  transfer.addPeers(peers.map(p => ({ host: '127.0.0.1', port: p.port })))
  assert.equal(transfer.candidates.size, 5, 'every peer is kept')
  await pollUntil('the first two accepted', () => openAt(peers) === 2 ? true : undefined, { timeoutMs: 5_000, intervalMs: 20 })
  assert.deepEqual(acceptedBy(peers), [1, 1, 0, 0, 0])
  // Their handshake deadline passes: their room goes to the next two candidates, with no announce in between.
  clock.now += HANDSHAKE_TIMEOUT_MS + 1
  await pollUntil('the next two accepted', () => peers[2]?.accepted === 1 && peers[3]?.accepted === 1 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `accepted ${acceptedBy(peers).join(',')}` })
  clock.now += HANDSHAKE_TIMEOUT_MS + 1
  await pollUntil('and the last', () => peers[4]?.accepted === 1 ? true : undefined,
    { timeoutMs: 5_000, intervalMs: 20, describe: () => `accepted ${acceptedBy(peers).join(',')}` })
  assert.ok(transfer.connections <= 2)
  assert.deepEqual(acceptedBy(peers).slice(0, 2), [1, 1], 'the failed ones wait for their back-off')
})
