/**
 * The access keys of a private tracker (AccessKeys, table access_keys): issued once in clear, stored as SHA-256
 * only, listed without the key, revoked by id or label, and labels checked.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AccessKeys, MAX_KEY_LABEL_LENGTH } from '../../src/tracker/access-keys.js'
import { TrackerStore } from '../../src/tracker/store.js'
import { tempDir } from '../helpers/files.js'

const T0 = 1_700_000_000_000

function memoryKeys (): { keys: AccessKeys, close: () => void } {
  const store = TrackerStore.open(':memory:')
  return { keys: store.keys, close: () => { store.close() } }
}

test('a key is 32 hex characters, shown once, and valid until revoked', (t) => {
  const { keys, close } = memoryKeys()
  t.after(close)
  const alice = keys.add('alice', T0)
  assert.match(alice.key, /^[0-9a-f]{32}$/)
  assert.equal(alice.prefix, alice.key.slice(0, 6))
  assert.deepEqual({ ...alice, key: undefined }, { id: alice.id, label: 'alice', prefix: alice.prefix, createdAt: T0, key: undefined })
  const bob = keys.add('bob', T0 + 1)
  assert.notEqual(bob.key, alice.key)
  assert.ok(bob.id > alice.id)
  assert.equal(keys.status(alice.key), 'valid')
  assert.equal(keys.status(bob.key), 'valid')
  assert.equal(keys.validCount, 2)
})

test('unknown keys: another key, a malformed one, the upper-case spelling, the prefix alone', (t) => {
  const { keys, close } = memoryKeys()
  t.after(close)
  const { key, prefix } = keys.add('alice', T0)
  assert.equal(keys.status('0'.repeat(32)), 'unknown')
  assert.equal(keys.status(''), 'unknown')
  assert.equal(keys.status(key.slice(0, 31)), 'unknown')
  assert.equal(keys.status(key + '0'), 'unknown')
  assert.equal(keys.status(key.toUpperCase()), 'unknown', 'AccessKeys is exact; access.ts folds case')
  assert.equal(keys.status(prefix), 'unknown')
  assert.equal(keys.status(createHash('sha256').update(key).digest('hex')), 'unknown', 'the stored hash is no key')
})

test('keys are stored hashed: the database file holds the SHA-256 and the prefix, never the key', (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tracker.db')
  const store = TrackerStore.open(path)
  const issued = [store.keys.add('alice', T0), store.keys.add('bob', T0), store.keys.add('carol', T0)]
  store.keys.revoke({ label: 'bob' }, T0 + 1)
  // While open, the rows may be in the WAL file: look there too.
  const bytesOpen = Buffer.concat([path, `${path}-wal`].filter(existsSync).map(p => readFileSync(p)))
  store.close()
  const bytesClosed = readFileSync(path)
  for (const bytes of [bytesOpen, bytesClosed]) {
    for (const { key, prefix } of issued) {
      assert.equal(bytes.includes(key), false, 'the key in clear')
      assert.equal(bytes.includes(key.toUpperCase()), false)
      assert.equal(bytes.includes(Buffer.from(key, 'hex')), false, 'the key as bytes')
      assert.equal(bytes.includes(key.slice(0, 12)), false, 'more than the prefix')
      assert.ok(bytes.includes(prefix), 'the prefix is kept for listings')
    }
  }
  assert.ok(bytesClosed.includes(createHash('sha256').update(issued[0]?.key ?? '').digest('hex')), 'the hash is what is kept')
  // The keys survive a restart.
  const reopened = TrackerStore.open(path)
  t.after(() => { reopened.close() })
  assert.deepEqual(issued.map(k => reopened.keys.status(k.key)), ['valid', 'revoked', 'valid'])
})

test('list: every key, oldest first, revoked ones with their time, and no key in it', (t) => {
  const { keys, close } = memoryKeys()
  t.after(close)
  const a = keys.add('alice', T0)
  const b = keys.add('bob', T0 + 10)
  keys.revoke({ id: a.id }, T0 + 20)
  const list = keys.list()
  assert.deepEqual(list, [
    { id: a.id, label: 'alice', prefix: a.prefix, createdAt: T0, revokedAt: T0 + 20 },
    { id: b.id, label: 'bob', prefix: b.prefix, createdAt: T0 + 10 }
  ])
  const text = JSON.stringify(list)
  assert.equal(text.includes(a.key) || text.includes(b.key), false)
  assert.deepEqual(keys.get(b.id), list[1])
  assert.equal(keys.get(9999), undefined)
})

test('revoke by id: that key only, once; revoke by label: every valid key of the label', (t) => {
  const { keys, close } = memoryKeys()
  t.after(close)
  const a1 = keys.add('alice', T0)
  const a2 = keys.add('alice', T0)
  const b = keys.add('bob', T0)
  assert.equal(keys.revoke({ id: a1.id }, T0 + 1), 1)
  assert.equal(keys.revoke({ id: a1.id }, T0 + 2), 0, 'already revoked')
  assert.equal(keys.get(a1.id)?.revokedAt, T0 + 1, 'the first revocation time stays')
  assert.equal(keys.revoke({ id: 424242 }, T0), 0, 'no such key')
  assert.deepEqual([keys.status(a1.key), keys.status(a2.key), keys.status(b.key)], ['revoked', 'valid', 'valid'])
  const a3 = keys.add('alice', T0 + 3)
  assert.equal(keys.revoke({ label: 'alice' }, T0 + 4), 2, 'a2 and a3; a1 was already revoked')
  assert.deepEqual([keys.status(a2.key), keys.status(a3.key), keys.status(b.key)], ['revoked', 'revoked', 'valid'])
  assert.equal(keys.revoke({ label: 'Alice' }, T0 + 5), 0, 'labels match exactly')
  assert.equal(keys.validCount, 1)
})

test('labels: 1 to 200 characters of text, no control characters, no surrounding spaces, not a number', (t) => {
  const { keys, close } = memoryKeys()
  t.after(close)
  const refused: Array<[string, RegExp]> = [
    ['', /1 to 200 characters/],
    ['x'.repeat(MAX_KEY_LABEL_LENGTH + 1), /1 to 200 characters/],
    ['alice\nroot', /control characters/],
    ['tab\there', /control characters/],
    ['del\u007f', /control characters/],
    ['lone \ud800 surrogate', /control characters/],
    [' alice', /spaces at its start or end/],
    ['alice ', /spaces at its start or end/],
    ['42', /cannot be a number/],
    ['007', /cannot be a number/]
  ]
  for (const [label, message] of refused) {
    assert.throws(() => keys.add(label, T0), (err: Error & { code?: string }) => err.code === 'ERR_VALIDATION' && message.test(err.message), JSON.stringify(label))
  }
  assert.equal(keys.list().length, 0, 'nothing was issued for a refused label')
  for (const label of ['x'.repeat(MAX_KEY_LABEL_LENGTH), 'Zoë 🎉 (team B)', 'alice@example.org', 'user 42', '4.2']) {
    const issued = keys.add(label, T0)
    assert.equal(keys.get(issued.id)?.label, label)
  }
})

test('changeMark moves when keys change here (no read needed) or through another connection to the file', (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tracker.db')
  const mine = TrackerStore.open(path)
  const other = TrackerStore.open(path)
  t.after(() => { mine.close(); other.close() })
  const start = mine.keys.changeMark()
  assert.equal(mine.keys.changeMark(), start, 'stable while nothing changes')
  const local = mine.keys.localChanges
  const k = mine.keys.add('alice', T0)
  assert.equal(mine.keys.localChanges, local + 1)
  const afterAdd = mine.keys.changeMark()
  assert.notEqual(afterAdd, start)
  other.keys.revoke({ id: k.id }, T0 + 1)
  assert.notEqual(mine.keys.changeMark(), afterAdd, 'another connection committed')
  assert.equal(mine.keys.localChanges, local + 1, 'not a change through this object')
  assert.equal(mine.keys.statusOfHash(createHash('sha256').update(k.key).digest('hex')), 'revoked')
  assert.equal(mine.keys.statusOfHash(createHash('sha256').update('x').digest('hex')), 'unknown')
})
