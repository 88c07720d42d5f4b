import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { setImmediate as flush } from 'node:timers/promises'
import { createTracker, trackerLimits, type ProbeFn, type Tracker } from '../../src/tracker/index.js'
import { freePort } from '../helpers/net.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const HASH_A = sha1('a')
const HASH_B = sha1('b')

/** A fake probe: answers from `alive` per "ip:port" (default: alive), records every call. */
function fakeProbe (alive: Map<string, boolean | (() => Promise<boolean>)> = new Map()): ProbeFn & { calls: string[], signals: AbortSignal[] } {
  const calls: string[] = []
  const signals: AbortSignal[] = []
  const probe = async (ip: string, port: number, signal: AbortSignal): Promise<boolean> => {
    const key = `${ip}:${port}`
    calls.push(key)
    signals.push(signal)
    const answer = alive.get(key) ?? true
    return typeof answer === 'function' ? answer() : answer
  }
  return Object.assign(probe, { calls, signals })
}

async function register (tracker: Tracker, port: number, hash = HASH_A, name = 'f.txt'): Promise<string> {
  const r = await tracker.app.inject({
    method: 'POST', url: '/register', payload: { file_name: name, file_hash: hash, file_size: 10, chunks: [0], ip: '10.0.0.1', port }
  })
  assert.equal(r.statusCode, 200, r.body)
  return (r.json() as { message: string }).message
}

async function ports (tracker: Tracker, name = 'f.txt'): Promise<number[]> {
  const r = await tracker.app.inject({ method: 'GET', url: `/lookup?file_name=${name}` })
  assert.equal(r.statusCode, 200, r.body)
  return (r.json() as { peers: Array<{ port: number }> }).peers.map((p) => p.port)
}

test('a peer failing 3 consecutive probes is pruned, not before; the file stays listed with 0 peers', async (t) => {
  const alive = new Map([['10.0.0.1:7001', false]])
  const probe = fakeProbe(alive)
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  await register(tracker, 7001)

  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 0, aborted: false })
  assert.deepEqual(await ports(tracker), [7000, 7001])
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 0, aborted: false })
  assert.deepEqual(await ports(tracker), [7000, 7001])
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 1, aborted: false })
  assert.deepEqual(await ports(tracker), [7000])
  assert.deepEqual(probe.calls.filter((c) => c === '10.0.0.1:7001').length, 3)

  alive.set('10.0.0.1:7000', false)
  for (let i = 0; i < 3; i++) await tracker.pruneOnce()
  assert.deepEqual(await ports(tracker), [])
  const files = await tracker.app.inject({ method: 'GET', url: '/files' })
  const listed = files.json()
  assert.deepEqual(listed, { files: [{ added_at: listed.files[0].added_at, completed: 0, file_hash: HASH_A, file_name: 'f.txt', file_size: 10, peers_count: 0 }], total: 1 })
  assert.deepEqual(await tracker.pruneOnce(), { probed: 0, alive: 0, failed: 0, pruned: 0, aborted: false }, 'nothing left to probe')
})

test('a peer that keeps answering is never pruned, however much time passes', async (t) => {
  let clock = 1_000_000
  const probe = fakeProbe()
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0, now: () => clock })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  for (let round = 0; round < 50; round++) {
    clock += 24 * 3600 * 1000
    assert.equal((await tracker.pruneOnce()).alive, 1)
  }
  assert.deepEqual(await ports(tracker), [7000])
  assert.equal(probe.calls.length, 50)
})

test('a peer failing twice then answering is kept: a success resets the count', async (t) => {
  const answers = [false, false, true, false, false, false]
  const probe = fakeProbe(new Map([['10.0.0.1:7000', async () => answers.shift() ?? true]]))
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  for (let i = 0; i < 5; i++) {
    assert.equal((await tracker.pruneOnce()).pruned, 0, `round ${i + 1}`)
    assert.deepEqual(await ports(tracker), [7000])
  }
  assert.equal((await tracker.pruneOnce()).pruned, 1, 'three failures in a row after the success')
  assert.deepEqual(await ports(tracker), [])
})

test('re-registering resets the failure count', async (t) => {
  const probe = fakeProbe(new Map([['10.0.0.1:7000', false]]))
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  await tracker.pruneOnce()
  await tracker.pruneOnce()
  assert.equal(await register(tracker, 7000), 'Peer updated successfully')
  await tracker.pruneOnce()
  await tracker.pruneOnce()
  assert.deepEqual(await ports(tracker), [7000], 'two failures since the re-registration')
  await tracker.pruneOnce()
  assert.deepEqual(await ports(tracker), [])
})

test('a re-registration while a failing probe is in flight is not counted against the peer', async (t) => {
  const pending: Array<(alive: boolean) => void> = []
  const hold = (): Promise<boolean> => new Promise<boolean>((resolve) => { pending.push(resolve) })
  const probe = fakeProbe(new Map([['10.0.0.1:7000', hold], ['10.0.0.1:7001', hold]]))
  let clock = 0
  // One failure prunes: only the re-registration made after the probe started can save the peer.
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0, probeFailuresToPrune: 1, now: () => clock })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  await register(tracker, 7001)
  clock++
  const round = tracker.pruneOnce()
  await flush()
  clock++
  assert.equal(await register(tracker, 7000), 'Peer updated successfully')
  clock++
  assert.equal(pending.length, 2)
  for (const release of pending) release(false)
  assert.deepEqual(await round, { probed: 2, alive: 0, failed: 2, pruned: 1, aborted: false })
  assert.deepEqual(await ports(tracker), [7000], 'the peer that registered again is kept, the other pruned')
})

test('one probe per (ip, port) per round, applied to every file registered there', async (t) => {
  const alive = new Map([['10.0.0.1:7000', false]])
  const probe = fakeProbe(alive)
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0, probeFailuresToPrune: 2 })
  t.after(() => tracker.close())
  await register(tracker, 7000, HASH_A, 'a.txt')
  await register(tracker, 7000, HASH_B, 'b.txt')
  await register(tracker, 7001, HASH_B, 'b.txt')
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 0, aborted: false })
  assert.deepEqual([...probe.calls].sort(), ['10.0.0.1:7000', '10.0.0.1:7001'])
  assert.deepEqual(await tracker.pruneOnce(), { probed: 2, alive: 1, failed: 1, pruned: 2, aborted: false })
  assert.deepEqual(await ports(tracker, 'a.txt'), [])
  assert.deepEqual(await ports(tracker, 'b.txt'), [7001])
})

test('a probe that throws counts as a failure; probeFailuresToPrune: 1 prunes at the first', async (t) => {
  const probe: ProbeFn = async () => { throw new Error('boom') }
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0, probeFailuresToPrune: 1 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  assert.deepEqual(await tracker.pruneOnce(), { probed: 1, alive: 0, failed: 1, pruned: 1, aborted: false })
})

test('rounds never overlap: pruneOnce during a round joins it', async (t) => {
  let release: (alive: boolean) => void = () => {}
  let held = false
  const probe = fakeProbe(new Map([['10.0.0.1:7000', async () => {
    if (held) return true
    held = true
    return new Promise<boolean>((resolve) => { release = resolve })
  }]]))
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  const first = tracker.pruneOnce()
  const second = tracker.pruneOnce()
  assert.equal(first, second)
  await flush()
  assert.equal(probe.calls.length, 1)
  release(true)
  assert.equal((await first).alive, 1)
  await tracker.pruneOnce()
  assert.equal(probe.calls.length, 2, 'a new round once the previous ended')
})

test('probes run at most PROBE_CONCURRENCY at once', async (t) => {
  let running = 0
  let most = 0
  const probe: ProbeFn = async () => {
    running++
    most = Math.max(most, running)
    await flush()
    running--
    return true
  }
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  for (let i = 0; i < 40; i++) await register(tracker, 7000 + i)
  assert.equal((await tracker.pruneOnce()).probed, 40)
  assert.equal(most, trackerLimits.PROBE_CONCURRENCY)
})

test('close() aborts a round in progress: its probe is signalled and its result discarded', async (t) => {
  // This probe ignores its signal and never settles: close() must not wait for it.
  const probe = fakeProbe(new Map([['10.0.0.1:7000', () => new Promise<boolean>(() => {})]]))
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  const round = tracker.pruneOnce()
  await flush()
  assert.equal(probe.signals[0]?.aborted, false)
  await tracker.close()
  assert.equal(probe.signals[0]?.aborted, true)
  assert.deepEqual(await round, { probed: 0, alive: 0, failed: 0, pruned: 0, aborted: true })
})

test('the schedule: a round every probeIntervalMs after the previous one ends; a stuck probe is cut by the watchdog', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const interval = 1000
  let answer: () => Promise<boolean> = async () => false
  const probe = fakeProbe(new Map([['10.0.0.1:7000', () => answer()]]))
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: interval })
  t.after(() => tracker.close())
  await register(tracker, 7000)

  t.mock.timers.tick(interval - 1)
  assert.equal(probe.calls.length, 0, 'no round before the interval')
  t.mock.timers.tick(1)
  assert.equal(probe.calls.length, 1, 'first round at the interval')
  await flush()
  t.mock.timers.tick(interval)
  assert.equal(probe.calls.length, 2)
  await flush()

  // A probe that never answers holds its round; no other round starts meanwhile.
  answer = () => new Promise<boolean>(() => {})
  t.mock.timers.tick(interval)
  assert.equal(probe.calls.length, 3)
  for (let i = 0; i < 4; i++) {
    t.mock.timers.tick(interval)
    await flush()
  }
  assert.equal(probe.calls.length, 3, 'rounds never overlap')
  assert.deepEqual(await ports(tracker), [7000])
  // The watchdog ends it as a failure (the third in a row): the peer is pruned, and the schedule goes on.
  t.mock.timers.tick(trackerLimits.PROBE_WATCHDOG_MS - 4 * interval)
  await flush()
  assert.equal(probe.signals[2]?.aborted, true, 'the stuck probe was aborted')
  assert.deepEqual(await ports(tracker), [])
  await register(tracker, 7000)
  answer = async () => true
  t.mock.timers.tick(interval)
  assert.equal(probe.calls.length, 4, 'next round one interval after the stuck one ended')
})

test('probeIntervalMs: 0 runs no rounds by itself', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const probe = fakeProbe()
  const tracker = await createTracker({ db: ':memory:', probe, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  await register(tracker, 7000)
  t.mock.timers.tick(10 * trackerLimits.DEFAULT_PROBE_INTERVAL_MS)
  await flush()
  assert.equal(probe.calls.length, 0)
})

test('probing 20 peers at once with the default TCP probe emits no MaxListenersExceededWarning (16 probes on one closing signal did)', async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.after(() => { process.off('warning', onWarning) })
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0 })
  t.after(() => tracker.close())
  // Twenty ports on loopback that nothing listens on: every probe is refused at once.
  const closed = await Promise.all(Array.from({ length: 20 }, async () => await freePort()))
  for (const port of new Set(closed)) {
    const r = await tracker.app.inject({ method: 'POST', url: '/register', payload: { file_name: 'f.txt', file_hash: HASH_A, file_size: 10, chunks: [0], ip: '127.0.0.1', port } })
    assert.equal(r.statusCode, 200, r.body)
  }
  const report = await tracker.pruneOnce()
  assert.equal(report.probed, new Set(closed).size)
  assert.ok(report.probed > trackerLimits.PROBE_CONCURRENCY, 'more peers than probes at once')
  // A warning is emitted on a later tick.
  await flush()
  await flush()
  assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), [])
})
