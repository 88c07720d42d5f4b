/**
 * BEP 15 connection ids as SYN cookies: bound to the source address and port, alive for 2 to 3 minutes, made with a
 * secret nobody else has.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ConnectionIds } from '../../src/tracker/index.js'

const MINUTE = 60_000
/** A time at the very start of a window (windows are 60 s). */
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MINUTE)

function issue (ids: ConnectionIds, address: string, port: number, now: number): Buffer {
  const id = Buffer.alloc(8)
  ids.write(id, 0, address, port, now)
  return id
}

test('an id is accepted for its own source only', () => {
  const ids = new ConnectionIds()
  const id = issue(ids, '192.0.2.1', 6881, T0)
  assert.equal(ids.verify(id, 0, '192.0.2.1', 6881, T0), true)
  assert.equal(ids.verify(id, 0, '192.0.2.1', 6882, T0), false, 'another port of the same host')
  assert.equal(ids.verify(id, 0, '192.0.2.2', 6881, T0), false, 'another host')
  assert.equal(ids.verify(id, 0, '2001:db8::1', 6881, T0), false)
  // Read where it sits in a packet.
  const packet = Buffer.concat([Buffer.alloc(3), id])
  assert.equal(ids.verify(packet, 3, '192.0.2.1', 6881, T0), true)
})

test('an id lives at least 2 minutes (BEP 15) and at most 3', () => {
  const ids = new ConnectionIds()
  assert.equal(ids.minLifetimeMs, 2 * MINUTE)
  // Made at the end of a window: still good 2 minutes later, not 2 minutes and one window later.
  const late = T0 + MINUTE - 1
  const id = issue(ids, '10.0.0.1', 1000, late)
  assert.equal(ids.verify(id, 0, '10.0.0.1', 1000, late + 2 * MINUTE), true)
  assert.equal(ids.verify(id, 0, '10.0.0.1', 1000, late + 2 * MINUTE + 1), false)
  // Made at the start of a window: good for just under 3 minutes.
  const early = issue(ids, '10.0.0.1', 1000, T0)
  assert.equal(ids.verify(early, 0, '10.0.0.1', 1000, T0 + 3 * MINUTE - 1), true)
  assert.equal(ids.verify(early, 0, '10.0.0.1', 1000, T0 + 3 * MINUTE), false)
  // The window tag wraps at 256 windows: an id 256 windows old is not taken for a new one.
  assert.equal(ids.verify(early, 0, '10.0.0.1', 1000, T0 + 256 * MINUTE), false)
  // An id from the future (a clock that went back) is refused.
  assert.equal(ids.verify(early, 0, '10.0.0.1', 1000, T0 - MINUTE), false)
})

test('an expired id stays refused once the memo of verified ids has seen it', () => {
  const ids = new ConnectionIds()
  const id = issue(ids, '10.0.0.1', 1000, T0)
  for (let i = 0; i < 3; i++) assert.equal(ids.verify(id, 0, '10.0.0.1', 1000, T0 + i * 1000), true)
  assert.equal(ids.verify(id, 0, '10.0.0.1', 1000, T0 + 3 * MINUTE), false)
})

test('ids of another secret (another tracker, or this one restarted) are refused', () => {
  const a = new ConnectionIds({ secret: randomBytes(32) })
  const b = new ConnectionIds({ secret: randomBytes(32) })
  assert.equal(b.verify(issue(a, '10.0.0.1', 1000, T0), 0, '10.0.0.1', 1000, T0), false)
  // The same secret makes the same ids: nothing else goes in.
  const secret = randomBytes(32)
  assert.deepEqual(issue(new ConnectionIds({ secret }), '10.0.0.1', 1000, T0), issue(new ConnectionIds({ secret }), '10.0.0.1', 1000, T0 + 59_999))
  assert.throws(() => new ConnectionIds({ secret: randomBytes(8) }), RangeError)
})

test('random ids are refused: 10,000 guesses at the current window tag', () => {
  const ids = new ConnectionIds()
  const guess = Buffer.alloc(8)
  const tag = Math.floor(T0 / MINUTE) & 0xff
  let accepted = 0
  for (let i = 0; i < 10_000; i++) {
    randomBytes(7).copy(guess, 1)
    guess[0] = tag
    if (ids.verify(guess, 0, '10.0.0.1', 1000, T0)) accepted++
  }
  assert.equal(accepted, 0)
})

test('the memo of verified ids never accepts an id for another source that shares its slot', () => {
  const ids = new ConnectionIds()
  // Many sources, so slots are shared; each verifies its own id, and nobody else's.
  const sources = Array.from({ length: 3000 }, (_, i) => ({ address: `10.${i >> 8}.${i & 0xff}.1`, port: 1024 + i }))
  const made = sources.map((s) => issue(ids, s.address, s.port, T0))
  sources.forEach((s, i) => { assert.equal(ids.verify(made[i] as Buffer, 0, s.address, s.port, T0), true) })
  sources.forEach((s, i) => {
    const other = made[(i + 1) % made.length] as Buffer
    assert.equal(ids.verify(other, 0, s.address, s.port, T0), false)
  })
})
