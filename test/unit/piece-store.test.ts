import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PieceStore } from '../../src/storage/index.js'
import { tempDir } from '../helpers/files.js'

test('BEP 47 padding files are never created or written, and read as zeros', async (t) => {
  const dir = tempDir(t)
  const files = [
    { path: join(dir, 'a'), length: 10 },
    { path: join(dir, '.pad', '6'), length: 6, padding: true },
    { path: join(dir, 'b'), length: 16 }
  ]
  const store = PieceStore.open(files, 16, 'write')
  t.after(() => { store.close() })
  assert.equal(existsSync(join(dir, '.pad')), false, 'no padding file on disk')
  const a = randomBytes(10)
  const b = randomBytes(16)
  await store.writePieceAsync(0, Buffer.concat([a, Buffer.alloc(6)]))
  store.writePiece(1, b)
  assert.deepEqual(readFileSync(join(dir, 'a')), a)
  assert.deepEqual(readFileSync(join(dir, 'b')), b)
  assert.equal(existsSync(join(dir, '.pad')), false)
  const piece = await store.readPiece(0, Buffer.alloc(16, 0xff))
  assert.deepEqual(piece, Buffer.concat([a, Buffer.alloc(6)]), 'the padding reads as zeros')
  const upload = store.blockForUpload(0, 8, 8)
  assert.deepEqual(upload.data, Buffer.concat([a.subarray(8), Buffer.alloc(6)]))
  upload.release()
})

test('reads under way keep their file open while many other files are opened (no descriptor mix-up)', async (t) => {
  const dir = tempDir(t)
  const count = 200
  const contents = Array.from({ length: count }, () => randomBytes(4096))
  const files = contents.map((c, i) => { const path = join(dir, `f${i}`); writeFileSync(path, c); return { path, length: c.length } })
  const store = PieceStore.open(files, 4096, 'read')
  t.after(() => { store.close() })
  // Hold every thread-pool thread on a FIFO read, so that none of the store's reads can run before all are queued;
  // then ask for every file's piece at once: far more than the 64 descriptors kept open, so most are evicted while
  // their reads wait. Closing them then would fail the reads, or worse, hand their numbers to other files.
  const fifos = Array.from({ length: 4 }, (_, i) => join(dir, `fifo${i}`))
  for (const f of fifos) execFileSync('mkfifo', [f])
  const blockers = fifos.map(async f => await readFile(f))
  const reads = Promise.all(contents.map(async (_, i) => await store.readPiece(i)))
  for (const f of fifos) await release(f)
  await Promise.all(blockers)
  const got = await reads
  for (let i = 0; i < count; i++) assert.ok(got[i]?.equals(contents[i] as Buffer), `file ${i} read back its own bytes`)
})

/** Let a FIFO's reader go: open the write end without blocking (retrying until the reader has it open), write, close. */
async function release (fifo: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
      writeSync(fd, 'x')
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  throw new Error(`nobody read ${fifo}`)
}
