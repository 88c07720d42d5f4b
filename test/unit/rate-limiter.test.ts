import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LimitPair, RateLimiter, type LimiterClock } from '../../src/swarm/index.js'

/** A clock that only moves when told, with timers that fire as it moves. */
function fakeClock (): LimiterClock & { advance: (ms: number) => void } {
  let now = 0
  let timers: Array<{ at: number, fn: () => void }> = []
  return {
    now: () => now,
    setTimeout: (fn, ms) => { timers.push({ at: now + ms, fn }) },
    advance (ms: number) {
      const end = now + ms
      for (;;) {
        timers.sort((a, b) => a.at - b.at)
        const next = timers[0]
        if (next === undefined || next.at > end) break
        timers = timers.slice(1)
        now = next.at
        next.fn()
      }
      now = end
    }
  }
}

test('a limited sender moves the limit\'s bytes per second over time, within one block', () => {
  const clock = fakeClock()
  const limit = new RateLimiter(100 * 1024, clock)
  const BLOCK = 16 * 1024
  let sent = 0
  // A sender that sends a block whenever the budget allows, for 10 simulated seconds.
  const pump = (): void => {
    while (limit.available()) { limit.charge(BLOCK); sent += BLOCK }
    limit.whenAvailable(pump)
  }
  pump()
  clock.advance(10_000)
  const expected = 100 * 1024 * 10 + 100 * 1024 * 0.25 // ten seconds of rate plus the initial bucket
  assert.ok(Math.abs(sent - expected) <= BLOCK, `sent ${sent}, expected about ${expected}`)
})

test('no limit: always available; a debt waits exactly as long as the rate needs', () => {
  const clock = fakeClock()
  assert.equal(new RateLimiter(0, clock).available(), true)
  const limit = new RateLimiter(640_000, clock)
  limit.charge(640_000 * 0.25 + 640_000) // empty the quarter-second bucket and owe one second
  let woke = -1
  limit.whenAvailable(() => { woke = clock.now() })
  clock.advance(999)
  assert.equal(woke, -1)
  clock.advance(10)
  assert.ok(woke >= 1000 && woke <= 1002, `woke at ${woke}`)
})

test('waiting for a burst: the sender resumes once that much budget has built up, and the rate still holds', () => {
  const clock = fakeClock()
  const limit = new RateLimiter(1024 * 1024, clock)
  const BLOCK = 16 * 1024
  let sent = 0
  let wakeups = 0
  const pump = (): void => {
    wakeups++
    while (limit.available()) { limit.charge(BLOCK); sent += BLOCK }
    limit.whenAvailable(pump, 4 * BLOCK)
  }
  pump()
  clock.advance(10_000)
  const expected = 1024 * 1024 * 10.25
  assert.ok(Math.abs(sent - expected) <= 4 * BLOCK, `sent ${sent}, expected about ${expected}`)
  // One wake-up per 64 KiB of budget (about 160 in 10 s), not one per 16 KiB block (about 640).
  assert.ok(wakeups < 200, `${wakeups} wake-ups`)
})

/** Sends 16 KiB blocks through `limit` for `ms` of fake time, as a transfer does; returns the bytes moved. */
function pump (clock: ReturnType<typeof fakeClock>, limit: { available: () => boolean, charge: (n: number) => void, whenAvailable: (fn: () => void) => void }, ms: number): number {
  let sent = 0
  let stopped = false
  const send = (): void => {
    if (stopped) return
    while (limit.available()) { limit.charge(16384); sent += 16384 }
    limit.whenAvailable(send)
  }
  send()
  clock.advance(ms)
  stopped = true
  return sent
}

test('a limit changed while in use holds to its new rate, and removing it lets waiters go at once', () => {
  const clock = fakeClock()
  const limit = new RateLimiter(100 * 1024, clock)
  const slow = pump(clock, limit, 10_000)
  assert.ok(Math.abs(slow - 1_000 * 1024) <= 64 * 1024, `100 KiB/s for 10 s: ${slow}`)
  limit.setRate(400 * 1024)
  const fast = pump(clock, limit, 10_000)
  assert.ok(fast > 3_500 * 1024 && fast < 4_300 * 1024, `400 KiB/s for 10 s: ${fast}`)
  limit.setRate(0)
  assert.equal(limit.limited, false)
  let woke = false
  limit.whenAvailable(() => { woke = true })
  assert.equal(woke, true, 'unlimited: at once')
})

test('a torrent\'s own limit under the global one: the tighter of the two holds, and both are charged', () => {
  const clock = fakeClock()
  const global = new RateLimiter(300 * 1024, clock)
  const own = new RateLimiter(100 * 1024, clock)
  const pair = new LimitPair(own, global)
  const sent = pump(clock, pair, 10_000)
  assert.ok(Math.abs(sent - 1_000 * 1024) <= 64 * 1024, `own 100 KiB/s under a global 300: ${sent}`)
  own.setRate(0)
  const second = new LimitPair(new RateLimiter(0, clock), global)
  const both = pump(clock, second, 10_000)
  assert.ok(Math.abs(both - 3_000 * 1024) <= 96 * 1024, `no own limit: the global 300 KiB/s holds: ${both}`)
  const free = new LimitPair(new RateLimiter(0, clock), new RateLimiter(0, clock))
  assert.equal(free.limited, false)
  let woke = false
  free.whenAvailable(() => { woke = true })
  assert.equal(woke, true)
})
