import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter, type LimiterClock } from '../../src/swarm/index.js'

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
