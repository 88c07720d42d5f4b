import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Bitfield } from '../../src/content/index.js'
import { ENDGAME_MAX_DUPLICATES, PiecePicker, type BlockRef } from '../../src/swarm/index.js'

const BLOCK = 16 * 1024
const never = (): boolean => false

function peerWith (size: number, pieces: number[]): Bitfield {
  const b = new Bitfield(size)
  for (const p of pieces) b.set(p)
  return b
}

test('rarest first: the piece fewest peers have is picked first', () => {
  const picker = new PiecePicker(new Bitfield(4), BLOCK, 4 * BLOCK, { random: () => 0 })
  picker.addPeer(peerWith(4, [0, 1, 2, 3]))
  picker.addPeer(peerWith(4, [0, 1, 3]))
  picker.addPeer(peerWith(4, [0, 3]))
  const out: BlockRef[] = []
  picker.pick('all', 2, out, never)
  assert.deepEqual(out.map(b => b.index), [2, 1], 'piece 2 (1 peer) then piece 1 (2 peers)')
})

test('sequential mode picks in order; only pieces the peer has', () => {
  const picker = new PiecePicker(new Bitfield(5), BLOCK, 5 * BLOCK, { sequential: true })
  const out: BlockRef[] = []
  picker.pick(peerWith(5, [1, 3, 4]), 2, out, never)
  assert.deepEqual(out.map(b => b.index), [1, 3])
})

test('blocks of a started piece come first; the last block of a piece is short', () => {
  const picker = new PiecePicker(new Bitfield(2), 4 * BLOCK, 4 * BLOCK + 100, { random: () => 0 })
  const out: BlockRef[] = []
  picker.pick('all', 2, out, never)
  assert.deepEqual(out, [{ index: 0, begin: 0, length: BLOCK }, { index: 0, begin: BLOCK, length: BLOCK }])
  const more: BlockRef[] = []
  picker.pick('all', 3, more, never)
  assert.deepEqual(more.map(b => `${b.index}:${b.begin / BLOCK}`), ['0:2', '0:3', '1:0'])
  assert.equal(more[2]?.length, 100)
})

test('endgame: a block in flight is asked of at most one more peer, never twice of the same peer', () => {
  const picker = new PiecePicker(new Bitfield(1), 2 * BLOCK, 2 * BLOCK)
  const first: BlockRef[] = []
  picker.pick('all', 10, first, never)
  assert.equal(first.length, 2)
  const mine = new Set(first.map(b => `${b.index}:${b.begin}`))
  const again: BlockRef[] = []
  picker.pick('all', 10, again, (i, b) => mine.has(`${i}:${b}`))
  assert.equal(again.length, 0, 'the same peer is not asked twice')
  const second: BlockRef[] = []
  picker.pick('all', 10, second, never)
  assert.equal(second.length, 2, 'another peer may duplicate each block once')
  const third: BlockRef[] = []
  picker.pick('all', 10, third, never)
  assert.equal(third.length, 0, `at most ${ENDGAME_MAX_DUPLICATES} requests per block`)
  assert.deepEqual(picker.blockReceived(0, 0), { status: 'new', pieceDone: false })
  assert.deepEqual(picker.blockReceived(0, 0), { status: 'duplicate', pieceDone: false })
  assert.deepEqual(picker.blockReceived(0, BLOCK), { status: 'new', pieceDone: true })
})

test('a dropped request is handed out again; a failed piece starts over; a verified one is never picked', () => {
  const picker = new PiecePicker(new Bitfield(2), BLOCK, 2 * BLOCK, { random: () => 0 })
  const out: BlockRef[] = []
  picker.pick('all', 1, out, never)
  picker.requestDropped(0, 0)
  const retry: BlockRef[] = []
  picker.pick('all', 1, retry, never)
  assert.deepEqual(retry, out)
  picker.blockReceived(0, 0)
  picker.pieceFailed(0)
  const after: BlockRef[] = []
  picker.pick('all', 2, after, never)
  assert.deepEqual(after.map(b => b.index).sort(), [0, 1])
  picker.blockReceived(0, 0)
  picker.pieceVerified(0)
  assert.equal(picker.have.has(0), true)
  assert.equal(picker.wants(0, 0), false)
})

test('bitfields refuse the wrong length and spare bits', () => {
  assert.throws(() => new Bitfield(9, Uint8Array.of(0xff)), { code: 'ERR_BAD_BITFIELD' })
  assert.throws(() => new Bitfield(9, Uint8Array.of(0xff, 0x40)), { code: 'ERR_BAD_BITFIELD' })
  const b = new Bitfield(9, Uint8Array.of(0xff, 0x80))
  assert.equal(b.count, 9)
  assert.equal(b.complete, true)
  assert.throws(() => b.set(9), { code: 'ERR_BAD_INDEX' })
})

test('a GET_CHUNK region claims only the pieces nobody works on; dropped claims can be taken again', () => {
  const have = new Bitfield(6)
  have.set(0)
  const picker = new PiecePicker(have, 2 * BLOCK, 6 * 2 * BLOCK, { sequential: true })
  const out: BlockRef[] = []
  picker.pick(peerWith(6, [1]), 1, out, never)
  assert.deepEqual(out, [{ index: 1, begin: 0, length: BLOCK }], 'a BitTorrent peer started piece 1')
  assert.deepEqual(picker.claimPieces(0, 3), [2, 3], 'had (0) and started (1) pieces are left out')
  assert.deepEqual(picker.claimPieces(2, 3), [], 'claimed pieces are taken')
  const other: BlockRef[] = []
  picker.pick('all', 5, other, never)
  assert.deepEqual(other.map(b => `${b.index}:${b.begin / BLOCK}`), ['1:1', '4:0', '4:1', '5:0', '5:1'], 'BitTorrent peers get the unclaimed blocks first')
  for (const b of [0, BLOCK]) picker.requestDropped(2, b)
  assert.deepEqual(picker.claimPieces(2, 2), [2], 'given back whole, piece 2 can be claimed again')
  assert.equal(picker.blockReceived(3, 0).status, 'new')
  assert.equal(picker.blockReceived(3, BLOCK).pieceDone, true, 'claimed blocks arrive like requested ones')
})

test('a seed is asked only for pieces no other unchoking peer has, except in the endgame', () => {
  const picker = new PiecePicker(new Bitfield(4), BLOCK, 4 * BLOCK, { sequential: true })
  picker.addPeer(peerWith(4, [0, 1]))
  const elsewhere = (i: number): boolean => i === 0 || i === 1
  const fromSeed: BlockRef[] = []
  picker.pick('all', 10, fromSeed, never, elsewhere)
  assert.deepEqual(fromSeed.map(b => b.index), [2, 3], 'pieces 0 and 1 are left to the peer that has them')
  const fromPeer: BlockRef[] = []
  picker.pick(peerWith(4, [0, 1]), 10, fromPeer, never)
  assert.deepEqual(fromPeer.map(b => b.index), [0, 1])
  const endgame: BlockRef[] = []
  picker.pick('all', 10, endgame, (i) => i >= 2, elsewhere)
  assert.deepEqual(endgame.map(b => b.index), [0, 1], 'with nothing else left, the seed may duplicate them')
  const noLonger: BlockRef[] = []
  const fresh = new PiecePicker(new Bitfield(2), BLOCK, 2 * BLOCK, { sequential: true })
  fresh.addPeer(peerWith(2, [0]))
  fresh.pick('all', 10, noLonger, never, () => false)
  assert.deepEqual(noLonger.map(b => b.index), [0, 1], 'a piece whose holders all choke us comes from the seed')
})
