/**
 * The announcer of a torrent with no tracker (a path shared by a node without --tracker, a magnet given peers by
 * hand) schedules nothing: the minimum interval of no trackers was Infinity, a timer Node fires after 1 ms, again and
 * again (a node seeding such torrents spun its CPU and printed TimeoutOverflowWarning without end).
 */
import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { Announcer } from '../../src/node/index.js'

test('an announcer with no tracker schedules no timer', async () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const spy = mock.method(globalThis, 'setTimeout')
    const target = { infoHash: Buffer.alloc(20), uploaded: 0, downloaded: 0, verifiedBytes: 0, complete: true, addPeers: () => {} }
    const announcer = new Announcer({ trackers: [], transfer: target, peerId: Buffer.alloc(20), port: 6881, totalLength: 1 })
    await announcer.start()
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    assert.equal(spy.mock.callCount(), 0)
    await announcer.stop()
  } finally {
    mock.timers.reset()
    mock.restoreAll()
  }
})
