/**
 * The per-client token buckets of the tracker's abuse limits (rate-limit.ts), with the clock passed in: bursts,
 * refill, who counts as one client, the loopback exemption, the bounded table, and option checking.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgumentError } from 'commander'
import { parseTrackerRateLimit } from '../../src/cli/options.js'
import { clientKey, createRateLimits, DEFAULT_RATE_LIMITS, RateLimiter } from '../../src/tracker/rate-limit.js'
import { rateLimitedAnnounceReply } from '../../src/tracker/abuse.js'
import { bdecode, bget, type BDict } from '../../src/content/bencode.js'

const T0 = 1_700_000_000_000

/** Takes `n` requests at `now` and returns how many went ahead. */
function takeMany (limiter: RateLimiter, ip: string, n: number, now: number): number {
  let allowed = 0
  for (let i = 0; i < n; i++) if (limiter.take(ip, now) === 0) allowed++
  return allowed
}

describe('token bucket', () => {
  test('a burst goes ahead, the next request is told the whole seconds to wait, and it lifts after them', () => {
    const limiter = new RateLimiter({ burst: 5, perSecond: 0.5 })
    assert.equal(takeMany(limiter, '10.0.0.1', 5, T0), 5)
    assert.equal(limiter.take('10.0.0.1', T0), 2, 'one token at 0.5/s takes 2 s')
    assert.equal(limiter.take('10.0.0.1', T0 + 1_000), 1, 'half a token after 1 s: 1 s more')
    assert.equal(limiter.take('10.0.0.1', T0 + 2_000), 0, 'a token after 2 s')
    assert.equal(limiter.take('10.0.0.1', T0 + 2_000), 2)
    assert.equal(limiter.limited, 3)
  })

  test('the refill rate: 10/s gives 10 more requests per second, never more than the burst', () => {
    const limiter = new RateLimiter({ burst: 20, perSecond: 10 })
    assert.equal(takeMany(limiter, '10.0.0.1', 30, T0), 20)
    assert.equal(takeMany(limiter, '10.0.0.1', 30, T0 + 1_000), 10)
    assert.equal(takeMany(limiter, '10.0.0.1', 30, T0 + 1_500), 5)
    // An hour idle refills the bucket to its burst, not to 36,000.
    assert.equal(takeMany(limiter, '10.0.0.1', 100, T0 + 3_600_000), 20)
  })

  test('refused requests take nothing: hammering does not push the wait back', () => {
    const limiter = new RateLimiter({ burst: 1, perSecond: 1 })
    assert.equal(limiter.take('10.0.0.1', T0), 0)
    for (let i = 0; i < 1_000; i++) assert.equal(limiter.take('10.0.0.1', T0 + 500), 1)
    assert.equal(limiter.take('10.0.0.1', T0 + 1_000), 0)
  })

  test('a clock that steps back refills nothing and takes nothing back', () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 1 })
    assert.equal(takeMany(limiter, '10.0.0.1', 2, T0), 2)
    assert.equal(limiter.take('10.0.0.1', T0 - 60_000), 1)
    assert.equal(limiter.take('10.0.0.1', T0 + 1_000), 0)
  })
})

describe('costs known after the request was let in (big replies)', () => {
  test('spend: a cost past what is left, even past the burst, goes ahead once and puts the client in debt; it waits until the debt is paid', () => {
    const limiter = new RateLimiter({ burst: 10, perSecond: 2 })
    assert.equal(limiter.take('10.0.0.1', T0), 0)
    assert.equal(limiter.spend('10.0.0.1', 14, T0), 0, '9 left, 14 spent: into debt (-5)')
    assert.equal(limiter.take('10.0.0.1', T0), 3, '6 tokens short at 2/s: 3 s')
    assert.equal(limiter.spend('10.0.0.1', 1, T0), 3, 'a spend in debt is refused, and takes nothing')
    assert.equal(limiter.take('10.0.0.1', T0 + 2_500), 1, 'after 2.5 s: 0 tokens, 1 short')
    assert.equal(limiter.take('10.0.0.1', T0 + 3_000), 0, 'paid off after 3 s')
    // The debt is at most one burst deep, whatever was spent: at most 2 × burst / perSecond of waiting.
    assert.equal(limiter.spend('10.0.0.2', 1_000_000, T0), 0)
    assert.equal(limiter.take('10.0.0.2', T0), 6, '-10 tokens: 11 short at 2/s')
    assert.equal(limiter.take('10.0.0.2', T0 + 5_500), 0)
  })

  test('spend refuses requests let in together once the first of them put the client in debt (pipelined, parallel connections)', () => {
    const limiter = new RateLimiter({ burst: 100, perSecond: 1 })
    // 16 requests let in at once (16 tokens), then each pays 30 for its reply: the 84 left pay for two, the third goes
    // into debt (-6), the other 13 are refused before their work is done.
    assert.equal(takeMany(limiter, '10.0.0.1', 16, T0), 16)
    let done = 0
    for (let i = 0; i < 16; i++) if (limiter.spend('10.0.0.1', 30, T0) === 0) done++
    assert.equal(done, 3)
    assert.equal(limiter.take('10.0.0.1', T0), 7, '-6 tokens: 7 short, at 1/s')
  })

  test('charge: a cost after the work (a reply sent) always counts, into debt; spend and charge of an exempt loopback client are free', () => {
    const limiter = new RateLimiter({ burst: 10, perSecond: 1, exemptLoopback: true })
    limiter.charge('10.0.0.1', 25, T0)
    assert.equal(limiter.take('10.0.0.1', T0), 11)
    limiter.charge('127.0.0.1', 1_000, T0)
    assert.equal(limiter.spend('127.0.0.1', 1_000, T0), 0)
    assert.equal(limiter.take('127.0.0.1', T0), 0)
    limiter.charge('10.0.0.3', 0, T0)
    limiter.charge('10.0.0.3', -5, T0)
    assert.equal(takeMany(limiter, '10.0.0.3', 20, T0), 10, 'nothing (or less) costs nothing')
  })
})

describe('who is one client', () => {
  test('IPv4: each address has its own budget', () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 1 })
    assert.equal(takeMany(limiter, '10.0.0.1', 3, T0), 2)
    assert.equal(takeMany(limiter, '10.0.0.2', 3, T0), 2)
    assert.equal(limiter.size, 2)
  })

  test('IPv6: one budget per /64, so a host cannot rotate its addresses for a fresh one', () => {
    const limiter = new RateLimiter({ burst: 3, perSecond: 1 })
    assert.equal(takeMany(limiter, '2001:db8:1:2::1', 2, T0), 2)
    assert.equal(takeMany(limiter, '2001:db8:1:2:ffff:eeee:dddd:cccc', 2, T0), 1, 'the same /64')
    assert.equal(takeMany(limiter, '2001:db8:1:3::1', 3, T0), 3, 'the next /64 is another client')
    assert.equal(clientKey('2001:db8:1:2::1'), clientKey('2001:0db8:0001:0002:9::'))
    assert.equal(clientKey('fe80::1%eth0'), clientKey('fe80::2'), 'a zone id is dropped')
  })

  test('an IPv4-mapped IPv6 address (a dual-stack listener) is its IPv4 address', () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 1 })
    assert.equal(takeMany(limiter, '::ffff:10.0.0.9', 1, T0), 1)
    assert.equal(takeMany(limiter, '10.0.0.9', 2, T0), 1)
    assert.equal(limiter.size, 1)
  })

  test('no address (a socket already gone) is limited as one client, never exempt', () => {
    const limiter = new RateLimiter({ burst: 1, perSecond: 1, exemptLoopback: true })
    assert.equal(limiter.take(undefined, T0), 0)
    assert.equal(limiter.take('', T0), 1)
  })

  test('loopback is limited by default; exemptLoopback lets 127.0.0.0/8 and ::1 through, nobody else', () => {
    const limited = new RateLimiter({ burst: 1, perSecond: 1 })
    assert.equal(takeMany(limited, '127.0.0.1', 2, T0), 1)
    const exempt = new RateLimiter({ burst: 1, perSecond: 1, exemptLoopback: true })
    for (const ip of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(takeMany(exempt, ip, 100, T0), 100, ip)
    assert.equal(takeMany(exempt, '10.0.0.1', 2, T0), 1)
    assert.equal(takeMany(exempt, '::2', 2, T0), 1)
    assert.equal(exempt.size, 2, 'exempt clients take no place in the table')
  })
})

describe('the table is bounded', () => {
  test('past maxAddresses the least recently seen client is forgotten; the others keep their state', () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 0.001, maxAddresses: 3 })
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) assert.equal(takeMany(limiter, ip, 2, T0), 2)
    // .1 is seen again (refused), so .2 is now the least recently seen.
    assert.notEqual(limiter.take('10.0.0.1', T0), 0)
    assert.equal(limiter.take('10.0.0.4', T0), 0)
    assert.equal(limiter.size, 3)
    assert.notEqual(limiter.take('10.0.0.1', T0), 0, '.1 kept its empty bucket')
    assert.notEqual(limiter.take('10.0.0.3', T0), 0, '.3 too')
    // .2 was forgotten: it comes back with a full burst (and .4, now the least recently seen, is forgotten in turn).
    assert.equal(takeMany(limiter, '10.0.0.2', 3, T0), 2)
    assert.equal(limiter.size, 3)
  })

  test('a flood from 100,000 addresses through a table of 1,000 keeps it at 1,000, each take O(1)', () => {
    const limiter = new RateLimiter({ burst: 1, perSecond: 1, maxAddresses: 1_000 })
    for (let i = 0; i < 100_000; i++) assert.equal(limiter.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0), 0)
    assert.equal(limiter.size, 1_000)
    // The last 1,000 are remembered (their buckets are empty); the first were forgotten.
    assert.equal(limiter.take('10.1.134.159', T0), 1)
    assert.equal(limiter.take('10.0.0.0', T0), 0)
  })
})

describe('options', () => {
  test('createRateLimits: the defaults, overrides per budget, false for none', () => {
    const limits = createRateLimits(undefined) ?? assert.fail('limits')
    assert.equal(limits.announce.burst, DEFAULT_RATE_LIMITS.announce.burst)
    assert.equal(limits.read.perSecond, DEFAULT_RATE_LIMITS.read.perSecond)
    const custom = createRateLimits({ write: { burst: 1, perSecond: 2 } }) ?? assert.fail('limits')
    assert.deepEqual([custom.write.burst, custom.write.perSecond, custom.udp.burst], [1, 2, DEFAULT_RATE_LIMITS.udp.burst])
    assert.equal(createRateLimits(false), undefined)
    assert.equal(limits.readBytesPerToken, 16 * 1024)
    assert.equal(createRateLimits({ readBytesPerToken: 0 })?.readBytesPerToken, Infinity, '0: replies cost one request whatever their size')
  })

  test('bad values are refused with a clear message', () => {
    assert.throws(() => new RateLimiter({ burst: 0, perSecond: 1 }), { code: 'ERR_VALIDATION', message: /burst: 0/ })
    assert.throws(() => new RateLimiter({ burst: 1.5, perSecond: 1 }), { code: 'ERR_VALIDATION' })
    assert.throws(() => new RateLimiter({ burst: 1, perSecond: 0 }), { code: 'ERR_VALIDATION', message: /0 per second/ })
    assert.throws(() => new RateLimiter({ burst: 1, perSecond: Number.NaN }), { code: 'ERR_VALIDATION' })
    assert.throws(() => new RateLimiter({ burst: 1, perSecond: 1, maxAddresses: 0 }), { code: 'ERR_VALIDATION' })
    assert.throws(() => createRateLimits({ announce: { burst: -1, perSecond: 1 } }), { message: /announce rate limit burst/ })
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => createRateLimits({ readBytesPerToken: bad }), { code: 'ERR_VALIDATION', message: /bytes per request/ })
  })

  test('the default budgets leave a busy NAT alone: 1,000 clients starting at once, then 30 announces/s for an hour', () => {
    const limits = createRateLimits(undefined) ?? assert.fail('limits')
    assert.equal(takeMany(limits.announce, '192.0.2.1', 1_000, T0), 1_000)
    for (let s = 1; s <= 3_600; s++) assert.equal(takeMany(limits.announce, '192.0.2.1', 30, T0 + s * 1_000), 30)
  })

  test('tracker --rate-limit: a whole number of announces per second, or off', () => {
    assert.equal(parseTrackerRateLimit('50'), 50)
    assert.equal(parseTrackerRateLimit('off'), 'off')
    for (const bad of ['0', '-1', '1.5', 'x', '', '1000001']) assert.throws(() => parseTrackerRateLimit(bad), InvalidArgumentError, bad)
  })

  test('the bencoded refusal of an announce: failure reason, min interval in seconds, BEP 31 retry in minutes', () => {
    const reply = bdecode(rateLimitedAnnounceReply(61)).value as BDict
    assert.equal(bget.string(reply, 'failure reason'), 'Too many requests: retry in 61 s')
    assert.equal(bget.int(reply, 'min interval'), 61)
    assert.equal(bget.int(reply, 'retry in'), 2)
  })
})
