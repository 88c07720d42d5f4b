/**
 * A tracker out of file descriptors keeps running: connections past the process's limit are shed (libuv accepts and
 * closes them), and once they are gone it answers again. Run under `ulimit -n 64` (about 30 are Node's own).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { tempDir } from '../helpers/files.js'
import { CLI, start } from '../helpers/process.js'

test('past its file descriptor limit the tracker sheds connections and keeps serving', async (t) => {
  const dir = tempDir(t)
  const tracker = start('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${CLI}" tracker --port 0 --db "${join(dir, 't.db')}" --probe-interval 0`], { cwd: dir, t })
  const url = (await tracker.waitFor(/running on (http:\/\/[\d.]+:\d+)/))[1] ?? ''
  const port = Number(new URL(url).port)

  const sockets: Socket[] = []
  t.after(() => { for (const s of sockets) s.destroy() })
  let connected = 0
  await Promise.all(Array.from({ length: 150 }, async () => {
    const socket = connect(port, '127.0.0.1')
    sockets.push(socket)
    socket.on('error', () => {})
    await new Promise<void>((resolve) => {
      socket.once('connect', () => { connected++; resolve() })
      socket.once('close', () => { resolve() })
      setTimeout(resolve, 3000)
    })
  }))
  assert.ok(connected > 0, 'some connections were accepted')
  for (const s of sockets) s.destroy()
  // Every connection is gone: it serves again, and it never exited.
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    status = await fetch(`${url}/healthz`).then((r) => r.status, () => 0)
  }
  assert.equal(status, 200)
  assert.equal(tracker.child.exitCode, null, tracker.stderr())
})
