import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createTracker } from '../../src/tracker/index.js'

const trackerModule = new URL('../../src/tracker/index.js', import.meta.url).href

/** Registers file i (name f<i>, one peer, 100 chunks) in a bounded loop, printing i once acknowledged. */
const CHILD = `
import { createHash } from 'node:crypto'
import { createTracker } from ${JSON.stringify(trackerModule)}
// As fast as it can from one address: no rate limits (they are tested in tracker-abuse.test.ts).
const tracker = await createTracker({ db: process.argv[1], probeIntervalMs: 0, rateLimits: false })
const chunks = Array.from({ length: 100 }, (_, i) => i)
for (let i = 0; i < 100000; i++) {
  const payload = { file_name: 'f' + i, file_hash: createHash('sha1').update(String(i)).digest('hex'),
    file_size: 100 * 1024, chunks, ip: '10.0.0.1', port: 1 + (i % 65000) }
  const r = await tracker.app.inject({ method: 'POST', url: '/register', payload })
  if (r.statusCode !== 200) { process.stderr.write(r.body); process.exitCode = 2; break }
  process.stdout.write(i + '\\n')
}
`

test('kill -9 in the middle of registrations leaves a consistent catalogue with every acknowledged one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-tracker-crash-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const db = join(dir, 'tracker.db')

  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, db], { stdio: ['ignore', 'pipe', 'inherit'] })
  let acknowledged = -1
  let buffered = ''
  const enough = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child too slow')), 30_000)
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) acknowledged = Number(line)
      if (acknowledged >= 300) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.on('exit', () => reject(new Error('child exited early')))
  })
  await enough
  child.kill('SIGKILL')
  await once(child, 'exit')

  const raw = new Database(db)
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok')
  assert.deepEqual(raw.pragma('foreign_key_check'), [])
  raw.close()

  const tracker = await createTracker({ db, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  const files = (await tracker.app.inject({ method: 'GET', url: '/files' })).json() as { files: Array<{ file_name: string, peers_count: number }> }
  assert.ok(files.files.length >= acknowledged + 1, `${files.files.length} files stored, ${acknowledged + 1} acknowledged`)
  files.files.forEach((f, i) => {
    assert.equal(f.file_name, `f${i}`, 'in registration order, no gap')
    assert.equal(f.peers_count, 1, 'a file and its peer are written together')
  })
  const last = files.files.length - 1
  const lookup = (await tracker.app.inject({ method: 'GET', url: `/lookup?file_name=f${last}` })).json() as { peers: Array<{ chunks: number[] }> }
  assert.equal(lookup.peers[0]?.chunks.length, 100)
})
