import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CandidateList, DIAL_RETRY_BASE_MS, DIAL_RETRY_MAX_MS, MAX_DIAL_FAILURES } from '../../src/swarm/index.js'

const keys = (list: CandidateList, now: number): string[] => [...list.ready(now)].map(c => c.key)

test('candidates are offered in the order they were heard of; one offered again gains a source, not a second entry', () => {
  const list = new CandidateList()
  list.add('a:1', 'a', 1, 'tracker')
  list.add('b:1', 'b', 1, 'catalogue')
  list.add('a:1', 'a', 1, 'manual')
  assert.equal(list.size, 2)
  assert.deepEqual([...(list.get('a:1')?.sources ?? [])], ['tracker', 'manual'])
  // A re-offer moves it to the end: the least recently heard of is forgotten first, and comes first.
  assert.deepEqual(keys(list, 0), ['b:1', 'a:1'])
})

test('a candidate being dialled or connected is not offered; a failed one backs off, doubling, and is given up after MAX_DIAL_FAILURES', () => {
  const list = new CandidateList()
  list.add('a:1', 'a', 1, 'tracker')
  list.busy('a:1')
  assert.deepEqual(keys(list, 0), [])
  let now = 1_000
  const waits: number[] = []
  for (let i = 0; i < MAX_DIAL_FAILURES - 1; i++) {
    list.failed('a:1', now)
    const c = list.get('a:1')
    assert.ok(c !== undefined)
    waits.push(c.retryAt - now)
    assert.deepEqual(keys(list, c.retryAt - 1), [], 'not before its back-off')
    now = c.retryAt
    assert.deepEqual(keys(list, now), ['a:1'], 'offered again once it is over')
    list.busy('a:1')
  }
  assert.deepEqual(waits, waits.map((_, i) => Math.min(DIAL_RETRY_MAX_MS, DIAL_RETRY_BASE_MS * 2 ** i)))
  list.failed('a:1', now)
  assert.equal(list.get('a:1')?.retryAt, Infinity, 'given up')
  assert.deepEqual(keys(list, Number.MAX_SAFE_INTEGER), [])
  // A re-offer by a tracker does not revive it.
  list.add('a:1', 'a', 1, 'tracker')
  assert.deepEqual(keys(list, Number.MAX_SAFE_INTEGER), [])
})

test('a completed handshake forgets failures; a connection that ends is dialled again only after the base back-off', () => {
  const list = new CandidateList()
  list.add('a:1', 'a', 1, 'tracker')
  list.failed('a:1', 0)
  list.failed('a:1', 0)
  list.connected('a:1')
  assert.equal(list.get('a:1')?.failures, 0)
  list.ended('a:1', 5_000)
  assert.deepEqual(keys(list, 5_000 + DIAL_RETRY_BASE_MS - 1), [])
  assert.deepEqual(keys(list, 5_000 + DIAL_RETRY_BASE_MS), ['a:1'])
})

test('a flood of offers keeps the list bounded, forgetting given-up candidates first, never a busy one', () => {
  const list = new CandidateList({ maxCandidates: 10 })
  list.add('busy:1', 'busy', 1, 'tracker')
  list.busy('busy:1')
  list.add('dead:1', 'dead', 1, 'tracker')
  list.giveUp('dead:1')
  for (let i = 0; i < 10_000; i++) list.add(`p${i}:1`, `p${i}`, 1, 'pex')
  assert.equal(list.size, 10)
  assert.ok(list.get('busy:1') !== undefined, 'the busy one is kept')
  assert.equal(list.get('dead:1'), undefined, 'the given-up one went first')
  assert.ok(list.get('p9999:1') !== undefined, 'the newest is there')
})

test('ready() skips what the caller rejects (banned, already connected)', () => {
  const list = new CandidateList()
  list.add('a:1', 'a', 1, 'tracker')
  list.add('b:1', 'b', 1, 'tracker')
  assert.deepEqual([...list.ready(0, c => c.host === 'a')].map(c => c.key), ['b:1'])
})
