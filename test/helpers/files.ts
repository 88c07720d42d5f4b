import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/** A fresh temporary folder, removed when the test ends. */
export function tempDir (t: TestContext, prefix = 'p2p-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** A file of `size` random bytes; returns its path and SHA-1. Large files are written in 1 MiB blocks. */
export async function randomFile (dir: string, name: string, size: number): Promise<{ path: string, sha1: string }> {
  const path = join(dir, name)
  const hash = createHash('sha1')
  if (size <= 8 * 1024 * 1024) {
    const data = randomBytes(size)
    writeFileSync(path, data)
    return { path, sha1: hash.update(data).digest('hex') }
  }
  const out = createWriteStream(path)
  for (let done = 0; done < size;) {
    const block = randomBytes(Math.min(1024 * 1024, size - done))
    hash.update(block)
    if (!out.write(block)) await new Promise<void>(resolve => out.once('drain', () => { resolve() }))
    done += block.length
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => { if (err) reject(err); else resolve() }))
  return { path, sha1: hash.digest('hex') }
}

export function sha1Of (path: string): string {
  return createHash('sha1').update(readFileSync(path)).digest('hex')
}
