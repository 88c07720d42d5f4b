import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hashContent, HASH_BLOCK_BYTES, PieceHasher } from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'
import { tempDir } from '../helpers/files.js'

const KIB = 1024
const MIB = 1024 * 1024
const PIECE = 16 * KIB

const sha1 = (data: Uint8Array): string => createHash('sha1').update(data).digest('hex')

/** The reference: piece SHA-1s of the concatenation, computed the obvious way. */
function expectedPieces (data: Buffer, pieceLength: number): Buffer {
  const out: Buffer[] = []
  for (let o = 0; o < data.length; o += pieceLength) out.push(createHash('sha1').update(data.subarray(o, o + pieceLength)).digest())
  return Buffer.concat(out)
}

for (const worker of [false, true]) {
  const mode = worker ? 'in a worker thread' : 'on one thread'
  for (const size of [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 5]) {
    test(`hashContent ${mode}: one file of ${size} bytes gives its SHA-1 and its piece hashes`, async (t) => {
      const dir = tempDir(t)
      const data = randomBytes(size)
      writeFileSync(join(dir, 'f'), data)
      const progress: number[] = []
      const digest = await hashContent(join(dir, 'f'), { pieceLength: PIECE, worker, onProgress: (done) => progress.push(done) })
      assert.equal(digest.totalSize, size)
      assert.equal(digest.pieceLength, PIECE)
      assert.deepEqual(digest.files, [{ path: join(dir, 'f'), length: size, sha1: sha1(data) }])
      assert.deepEqual(digest.pieces, expectedPieces(data, PIECE))
      assert.equal(digest.pieces.length, Math.ceil(size / PIECE) * 20)
      if (size > 0) assert.equal(progress.at(-1), size)
    })
  }

  test(`hashContent ${mode}: pieces run across file boundaries, empty files included, each file its own SHA-1`, async (t) => {
    const dir = tempDir(t)
    // Boundaries inside pieces, on piece boundaries, empty files first, between and last.
    const sizes = [0, 5, PIECE - 3, 0, 2 * PIECE + 7, PIECE, 1, 0, 3 * PIECE - 13, 0]
    const parts = sizes.map(s => randomBytes(s))
    const files = parts.map((p, i) => {
      const path = join(dir, `f${i}`)
      writeFileSync(path, p)
      return { path, length: p.length }
    })
    const digest = await hashContent(files, { pieceLength: PIECE, worker })
    const all = Buffer.concat(parts)
    assert.equal(digest.totalSize, all.length)
    assert.deepEqual(digest.pieces, expectedPieces(all, PIECE))
    assert.deepEqual(digest.files.map(f => f.sha1), parts.map(sha1))
    assert.deepEqual(digest.files.map(f => f.length), sizes)
  })

  test(`hashContent ${mode}: content over several read blocks, pieces larger than a block`, async (t) => {
    const dir = tempDir(t)
    const a = randomBytes(HASH_BLOCK_BYTES + 3)
    const b = randomBytes(2 * HASH_BLOCK_BYTES - 1)
    writeFileSync(join(dir, 'a'), a)
    writeFileSync(join(dir, 'b'), b)
    const all = Buffer.concat([a, b])
    for (const pieceLength of [32 * KIB, 8 * MIB]) {
      const digest = await hashContent([{ path: join(dir, 'a'), length: a.length }, { path: join(dir, 'b'), length: b.length }], { pieceLength, worker })
      assert.deepEqual(digest.pieces, expectedPieces(all, pieceLength), `pieces of ${pieceLength}`)
      assert.deepEqual(digest.files.map(f => f.sha1), [sha1(a), sha1(b)])
    }
  })
}

test('PieceHasher: the same digests however the stream is cut', () => {
  const data = randomBytes(5 * PIECE + 123)
  const expected = expectedPieces(data, PIECE)
  for (const cut of [1, 7, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE, data.length]) {
    const hasher = new PieceHasher(PIECE)
    for (let o = 0; o < data.length; o += cut) hasher.update(data.subarray(o, o + cut))
    assert.deepEqual(hasher.digest(), expected, `blocks of ${cut}`)
  }
  assert.equal(new PieceHasher(PIECE).digest().length, 0)
  assert.throws(() => new PieceHasher(0), RangeError)
})

test('hashContent: a file shorter than listed (changed while hashing) is an input error', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'f'), randomBytes(100))
  for (const worker of [false, true]) {
    await assert.rejects(hashContent([{ path: join(dir, 'f'), length: 200 }], { pieceLength: PIECE, worker }),
      (err: unknown) => err instanceof P2PError && err.code === 'ERR_INPUT' && /changed while it was being hashed/.test(err.message))
    await assert.rejects(hashContent([{ path: join(dir, 'f'), length: 50 }], { pieceLength: PIECE, worker }),
      (err: unknown) => err instanceof P2PError && err.code === 'ERR_INPUT' && /no longer 50 bytes/.test(err.message))
  }
})

test('hashContent: a missing file or a folder is an input error', async (t) => {
  const dir = tempDir(t)
  await assert.rejects(hashContent(join(dir, 'nope'), { pieceLength: PIECE }), (err: unknown) => err instanceof P2PError && err.code === 'ERR_INPUT' && /no such file/.test(err.message))
  await assert.rejects(hashContent(dir, { pieceLength: PIECE }), (err: unknown) => err instanceof P2PError && err.code === 'ERR_INPUT' && /Not a regular file/.test(err.message))
})

test('hashContent: an aborted signal stops it with ERR_ABORTED, in either mode', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'f'), randomBytes(2 * HASH_BLOCK_BYTES))
  for (const worker of [false, true]) {
    const controller = new AbortController()
    const run = hashContent(join(dir, 'f'), { pieceLength: PIECE, worker, signal: controller.signal, onProgress: () => { controller.abort() } })
    await assert.rejects(run, (err: unknown) => err instanceof P2PError && err.code === 'ERR_ABORTED')
  }
})
