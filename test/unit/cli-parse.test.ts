import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rewriteSeedSpelling } from '../../src/cli/main.js'
import { ProgressReporter } from '../../src/cli/progress.js'
import { formatBytes, formatDuration } from '../../src/cli/format.js'
import { parseRateLimit } from '../../src/cli/parse.js'

test('the seed\'s --share/--download spelling maps onto the subcommands', () => {
  assert.deepEqual(rewriteSeedSpelling(['--share', 'f.txt', '--port', '6000']), ['share', 'f.txt', '--port', '6000'])
  assert.deepEqual(rewriteSeedSpelling(['--port', '6001', '--download', 'f.txt']), ['download', 'f.txt', '--port', '6001'])
  assert.deepEqual(rewriteSeedSpelling(['--download=f.txt']), ['download', 'f.txt'])
  assert.deepEqual(rewriteSeedSpelling(['share', 'x']), ['share', 'x'])
})

test('progress: plain lines are rate-limited, the final 100% line always prints', () => {
  const lines: string[] = []
  let now = 0
  const p = new ProgressReporter('plain', (t) => lines.push(t), () => now)
  p.update({ downloaded: 0, total: 100, peers: 2 })
  now = 500
  p.update({ downloaded: 10, total: 100, peers: 2 })
  assert.equal(lines.length, 1, 'a second update within the interval is not printed')
  now = 1000
  p.update({ downloaded: 100, total: 100, peers: 2 })
  assert.equal(lines.length, 2)
  assert.match(lines[1] ?? '', /100\.0% \(100 B \/ 100 B\) 100 B\/s .*peers 2/)
})

test('progress: JSON mode writes one parseable event per line', () => {
  const lines: string[] = []
  const p = new ProgressReporter('json', (t) => lines.push(t), () => 0)
  p.update({ downloaded: 5, total: 5, peers: 1 })
  assert.deepEqual(JSON.parse(lines[0] ?? ''), { event: 'progress', downloaded: 5, total: 5, speed: 0, peers: 1 })
})

test('sizes and durations read naturally', () => {
  assert.equal(formatBytes(18), '18 B')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(100 * 1024 * 1024), '100.0 MiB')
  assert.equal(formatDuration(75), '1:15')
  assert.equal(formatDuration(3725), '1:02:05')
  assert.equal(formatDuration(Number.NaN), '--:--')
})

test('rate limits take KiB/s with decimals (10 MB/s is 9765.625) and refuse anything else with a clear message', () => {
  const parse = parseRateLimit('upload limit')
  assert.equal(parse('9765.625'), 9765.625)
  assert.equal(parse('512'), 512)
  assert.equal(parse('0'), 0)
  for (const bad of ['-1', '1e3', '10M', '', '1.2345', '10000001', 'NaN']) {
    assert.throws(() => parse(bad), /upload limit must be a number of KiB\/s/, bad)
  }
})
