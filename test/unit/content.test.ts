import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chunkCount, chunkRange, hashFile, inferChunkSize, parseFileHash, SequentialHasher } from '../../src/content/index.js'

const KIB = 1024
const MIB = 1024 * 1024

test('chunk layout: the last chunk is short, an empty file has none', () => {
  assert.equal(chunkCount(0, MIB), 0)
  assert.equal(chunkCount(1, MIB), 1)
  assert.equal(chunkCount(MIB, MIB), 1)
  assert.equal(chunkCount(MIB + 1, MIB), 2)
  assert.deepEqual(chunkRange(1, MIB + 1, MIB), { offset: MIB, length: 1 })
  assert.deepEqual(chunkRange(2, MIB + 1, MIB), { offset: 2 * MIB, length: 0 })
})

test('a peer\'s chunk size is read from its registration', () => {
  const size = 3 * MIB + 5
  assert.equal(inferChunkSize(size, [0, 1, 2, 3]), MIB)
  assert.equal(inferChunkSize(size, Array.from({ length: chunkCount(size, KIB) }, (_, i) => i)), KIB)
  assert.equal(inferChunkSize(size, [0, 1, 4000]), KIB, 'an id past the 1 MiB count can only be 1 KiB')
  assert.equal(inferChunkSize(size, [0], KIB), KIB, 'a declared size wins')
  assert.equal(inferChunkSize(500, [0]), MIB, 'small files: both readings agree')
  assert.equal(inferChunkSize(size, [0, 1], 12345), MIB, 'an unknown declared size is ignored')
})

test('file hashes are 40 hex and come out lowercase', () => {
  assert.equal(parseFileHash('A'.repeat(40)), 'a'.repeat(40))
  assert.equal(parseFileHash('a'.repeat(39)), undefined)
  assert.equal(parseFileHash('g'.repeat(40)), undefined)
})

test('hashFile streams the SHA-1 of a file larger than its read buffer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-hash-'))
  const data = randomBytes(3 * MIB + 17)
  writeFileSync(join(dir, 'f'), data)
  const digest = await hashFile(join(dir, 'f'))
  assert.deepEqual(digest, { sha1: createHash('sha1').update(data).digest('hex'), size: data.length })
  writeFileSync(join(dir, 'empty'), '')
  assert.equal((await hashFile(join(dir, 'empty'))).sha1, 'da39a3ee5e6b4b0d3255bfef95601890afd80709')
})

test('SequentialHasher gives the whole-file hash whatever the completion order, in and beyond its memory cap', () => {
  const data = randomBytes(64 * KIB + 3)
  const expected = createHash('sha1').update(data).digest('hex')
  const pieces = []
  for (let o = 0; o < data.length; o += 4 * KIB) pieces.push({ offset: o, bytes: data.subarray(o, Math.min(o + 4 * KIB, data.length)) })
  for (const cap of [0, 8 * KIB, 1 << 30]) {
    let reads = 0
    const hasher = new SequentialHasher({ maxPendingBytes: cap, readAt: (o, l) => { reads++; return Buffer.from(data.subarray(o, o + l)) } })
    const shuffled = [...pieces].reverse()
    for (const p of shuffled) {
      const scratch = Buffer.from(p.bytes)
      hasher.add(p.offset, scratch)
      scratch.fill(0) // the caller reuses its buffer: the hasher must have copied what it keeps
    }
    assert.equal(hasher.digest(data.length), expected, `cap ${cap}`)
    if (cap === 0) assert.equal(reads, pieces.length - 1, 'with no memory everything out of order is read back')
    if (cap === 1 << 30) assert.equal(reads, 0)
  }
})

test('SequentialHasher with release: keeps the caller\'s buffers without copying and hands each back exactly once', () => {
  const data = randomBytes(40 * KIB)
  const expected = createHash('sha1').update(data).digest('hex')
  const released: Buffer[] = []
  const hasher = new SequentialHasher({ maxPendingBytes: 16 * KIB, readAt: (o, l) => Buffer.from(data.subarray(o, o + l)) })
  const parts = [0, 1, 2, 3, 4].map(i => ({ offset: i * 8 * KIB, bytes: Buffer.from(data.subarray(i * 8 * KIB, (i + 1) * 8 * KIB)) }))
  for (const p of [parts[4], parts[3], parts[2], parts[1], parts[0]]) {
    if (p !== undefined) hasher.add(p.offset, p.bytes, (b) => released.push(b))
  }
  assert.equal(hasher.digest(data.length), expected)
  assert.equal(released.length, 5, 'every buffer comes back')
  assert.equal(new Set(released).size, 5, 'each exactly once')
  for (const p of parts) assert.ok(released.includes(p.bytes), 'the very buffers given, not copies')
})
