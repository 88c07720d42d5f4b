/**
 * Which received blocks a transfer takes, in process (peer sessions on a stand-in wire, a store in memory): only
 * blocks asked of the peer that sends them, while it is connected; and whom a failed piece filled by several peers
 * blames, also past the number of failed pieces remembered.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { PieceStore } from '../../src/storage/index.js'
import { PeerSession, Transfer } from '../../src/swarm/index.js'
import { MAX_FAILED_PIECES } from '../../src/swarm/transfer.js'
import type { PeerWire } from '../../src/wire/index.js'

const BLOCK = 16 * 1024

/** Just what a session and its transfer use of a wire: nothing is sent anywhere. */
function standInWire (): PeerWire {
  let closed = false
  return {
    remote: undefined,
    get closed () { return closed },
    handshaken: true,
    writable: true,
    hasRoom: () => true,
    write: () => true,
    close: () => { closed = true }
  } as unknown as PeerWire
}

function setup (pieces: number, blocksPerPiece: number): { transfer: Transfer, data: Buffer, written: Map<number, Buffer>, bans: string[], peer: (port: number) => PeerSession } {
  const pieceLength = blocksPerPiece * BLOCK
  const data = randomBytes(pieces * pieceLength)
  const hashes = Buffer.concat(Array.from({ length: pieces }, (_, i) => createHash('sha1').update(data.subarray(i * pieceLength, (i + 1) * pieceLength)).digest()))
  const written = new Map<number, Buffer>()
  const store = { writePieceAsync: async (index: number, bytes: Uint8Array) => { written.set(index, Buffer.from(bytes)) } } as unknown as PieceStore
  const bans: string[] = []
  const transfer = new Transfer({
    infoHash: randomBytes(20), pieceHashes: hashes, pieceLength, totalLength: data.length, store,
    peerId: randomBytes(20), listenPort: 0, onBanned: (peer) => { bans.push(peer) }
  })
  const peer = (port: number): PeerSession => {
    const session = new PeerSession(standInWire(), '127.0.0.1', port, transfer, 0)
    session.has = 'all'
    session.peerChoking = false
    session.amInterested = true
    transfer.peers.set(session.id, session)
    return session
  }
  return { transfer, data, written, bans, peer }
}

/** A `piece` message as the decoder hands it over, in two parts. */
function deliver (peer: PeerSession, index: number, begin: number, bytes: Buffer): void {
  peer.onBlockStart(index, begin, bytes.length)
  peer.onBlockData(bytes.subarray(0, 1000), 0)
  peer.onBlockData(bytes.subarray(1000), 1000)
  peer.onBlockEnd()
}

async function writesDone (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
}

test('blocks nobody asked the sender for are discarded: not mixed into pieces, not counted; the requested ones complete the download', async () => {
  const { transfer, data, written, bans, peer } = setup(4, 4)
  const honest = peer(1001)
  const pusher = peer(1002)
  honest.fillRequests(0)
  assert.equal(honest.requests.size, 16, 'every block asked of the honest peer')
  // Junk for every block, pushed by a peer asked for nothing, before and between the honest peer's blocks.
  const junk = Buffer.alloc(BLOCK, 0xaa)
  for (let b = 0; b < 16; b++) deliver(pusher, Math.floor(b / 4), (b % 4) * BLOCK, junk)
  assert.equal(transfer.downloaded, 0)
  assert.equal(pusher.downloaded, 0)
  for (const [i, r] of [...honest.requests.values()].entries()) {
    deliver(honest, r.index, r.begin, data.subarray(r.index * 4 * BLOCK + r.begin, r.index * 4 * BLOCK + r.begin + BLOCK))
    if (i % 3 === 0) deliver(pusher, r.index, r.begin === 0 ? BLOCK : 0, junk)
  }
  await writesDone()
  assert.equal(transfer.hashFailures, 0, 'no piece took a junk block')
  assert.equal(transfer.complete, true)
  assert.equal(transfer.downloaded, data.length, 'the junk is not counted')
  assert.equal(pusher.downloaded, 0)
  assert.equal(pusher.downloadRate.rate, 0, 'junk earns no rate, which unchoking rewards')
  assert.deepEqual(bans, [])
  assert.ok(Buffer.concat([0, 1, 2, 3].map(i => written.get(i) ?? Buffer.alloc(0))).equals(data))
})

test('a block that comes after its request was given up on or cancelled (endgame twin), or after its connection closed, is discarded', async () => {
  const { transfer, data, peer } = setup(1, 2)
  const slow = peer(1001)
  slow.fillRequests(0)
  assert.equal(slow.requests.size, 2)
  // Block 0 given up on (as on a request timeout): it comes anyway, and is dropped.
  assert.equal(slow.dropRequests(r => r.begin === 0), 1)
  deliver(slow, 0, 0, data.subarray(0, BLOCK))
  assert.equal(transfer.downloaded, 0)
  // Block 0 asked of two more peers (the second in the endgame); the first to deliver cancels the other's request.
  const a = peer(1002)
  const b = peer(1003)
  a.fillRequests(0)
  b.fillRequests(0)
  assert.equal(a.requests.size, 2, 'block 0, and block 1 as an endgame twin of the slow peer\'s')
  assert.equal(b.requests.size, 1, 'block 0, as an endgame twin of a\'s')
  deliver(b, 0, 0, data.subarray(0, BLOCK))
  assert.equal(a.requests.size, 1, 'a\'s twin request for block 0 cancelled')
  deliver(a, 0, 0, Buffer.alloc(BLOCK))
  assert.equal(transfer.downloaded, BLOCK, 'the cancelled twin that came anyway is not taken')
  // The slow peer's connection closes; a block it was asked for, arriving in the same read, is not taken.
  slow.wire.close('test')
  deliver(slow, 0, BLOCK, Buffer.alloc(BLOCK))
  assert.equal(transfer.downloaded, BLOCK)
  deliver(a, 0, BLOCK, data.subarray(BLOCK, 2 * BLOCK))
  await writesDone()
  assert.equal(transfer.complete, true)
  assert.equal(transfer.hashFailures, 0)
  assert.equal(transfer.downloaded, data.length)
})

test(`more failed pieces of several contributors than are remembered (${MAX_FAILED_PIECES}): the honest contributor is never struck, the liar is banned`, async () => {
  const pieces = MAX_FAILED_PIECES + 24
  const { transfer, data, bans, peer } = setup(pieces, 2)
  const honest = peer(1001)
  const liar = peer(1002)
  const junk = Buffer.alloc(BLOCK, 0x55)
  // Round 1: every piece gets a good block 0 from the honest peer and a junk block 1 from the liar, and fails.
  transfer.claimRegion(0, pieces - 1)
  for (let i = 0; i < pieces; i++) {
    const good = transfer.blockTarget(honest, i, 0, BLOCK)
    good?.set(data.subarray(i * 2 * BLOCK, i * 2 * BLOCK + BLOCK))
    transfer.blockReceived(honest, i, 0, BLOCK)
    transfer.blockTarget(liar, i, BLOCK, BLOCK)?.set(junk)
    transfer.blockReceived(liar, i, BLOCK, BLOCK)
  }
  assert.equal(transfer.hashFailures, pieces)
  assert.equal(honest.strikes, 0, 'no strike without proof')
  assert.deepEqual(bans, [])
  // Round 2: the honest peer sends every piece whole; the remembered failures are judged against the good copies.
  transfer.claimRegion(0, pieces - 1)
  for (let i = 0; i < pieces; i++) {
    for (const begin of [0, BLOCK]) {
      transfer.blockTarget(honest, i, begin, BLOCK)?.set(data.subarray(i * 2 * BLOCK + begin, i * 2 * BLOCK + begin + BLOCK))
      transfer.blockReceived(honest, i, begin, BLOCK)
    }
  }
  await writesDone()
  assert.equal(transfer.complete, true)
  assert.equal(honest.strikes, 0, 'the honest contributor is never struck')
  assert.equal(liar.strikes, MAX_FAILED_PIECES, 'the liar is struck once for each failure remembered')
  assert.deepEqual(bans, [liar.id], 'the liar, and only the liar, is banned')
})
