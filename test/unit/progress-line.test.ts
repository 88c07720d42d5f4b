/**
 * The live progress line fits its terminal: never as wide as the terminal (a line that wraps leaves a row behind at
 * every redraw), fields dropped in a fixed order as it narrows, and redrawn at the new width on 'resize'.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { fitProgressLine, ProgressReporter } from '../../src/cli/progress.js'

const MIB = 1024 * 1024
const samples = [
  { downloaded: 0, total: 0, peers: 0, speed: 0 },
  { downloaded: 1536 * 1024, total: 12 * MIB, peers: 1, speed: 512 * 1024 },
  // The widest numbers the fields take: 4-digit sizes, hours of ETA, many peers.
  { downloaded: 1023.9 * 1024 * MIB, total: 1023.9 * 1024 * 1024 * MIB, peers: 12345, speed: 1000 * 1024 }
]

test('the progress line is narrower than the terminal at every width from 1 to 200 columns', () => {
  for (const sample of samples) {
    for (let columns = 1; columns <= 200; columns++) {
      const line = fitProgressLine(sample, columns)
      assert.ok([...line].length <= columns - 1, `${columns} columns: ${JSON.stringify(line)} (${[...line].length})`)
      assert.doesNotMatch(line, /\p{Cc}/u, 'one line, no control characters')
      if (columns >= 8) assert.match(line, /\d+\.\d%/, `${columns} columns: the percent is always there`)
    }
  }
})

test('as the terminal narrows, the bar shrinks to 10, then ETA, the rate and the peers go, then the bar', () => {
  const sample = { downloaded: 1536 * 1024, total: 12 * MIB, peers: 3, speed: 512 * 1024 }
  const barOf = (line: string): number => (line.match(/^[█░]*/)?.[0] ?? '').length
  const wide = fitProgressLine(sample, 120)
  assert.equal(wide, '███░░░░░░░░░░░░░░░░░░░░░  12.5%  1.5 MiB / 12.0 MiB  512.0 KiB/s  ETA 0:21  peers 3')
  const at80 = fitProgressLine(sample, 80)
  assert.match(at80, /12\.5% {2}1\.5 MiB \/ 12\.0 MiB {2}512\.0 KiB\/s {2}ETA 0:21 {2}peers 3$/, 'every field fits 80 columns')
  assert.ok(barOf(at80) >= 10 && barOf(at80) < 24, `the bar gave way first: ${at80}`)
  const at60 = fitProgressLine(sample, 60)
  assert.match(at60, /12\.5% {2}1\.5 MiB \/ 12\.0 MiB {2}512\.0 KiB\/s {2}peers 3$/, `60 columns: no ETA: ${at60}`)
  assert.equal(barOf(at60), 10)
  const at50 = fitProgressLine(sample, 50)
  assert.match(at50, /12\.5% {2}1\.5 MiB \/ 12\.0 MiB {2}peers 3$/, `50 columns: no rate: ${at50}`)
  const at40 = fitProgressLine(sample, 40)
  assert.match(at40, /^[█░]{12} {2}12\.5% {2}1\.5 MiB \/ 12\.0 MiB$/, `40 columns: no peers: ${at40}`)
  assert.equal(barOf(fitProgressLine(sample, 32)), 4, 'then the bar shrinks below 10')
  assert.equal(fitProgressLine(sample, 27), '12.5%  1.5 MiB / 12.0 MiB', 'then it is gone')
  assert.equal(fitProgressLine(sample, 20), '12.5%', 'then only the percent')
  assert.equal(fitProgressLine(sample, 1), '')
})

/** A terminal as the reporter sees process.stderr: a width that changes, and 'resize' events. */
class FakeTerminal extends EventEmitter {
  columns = 60
  written: string[] = []
  write (text: string): void { this.written.push(text) }
}

/** What the last redraw left on the row: the text after its `\r\x1b[2K`. */
function lastLine (term: FakeTerminal): string {
  const draws = term.written.filter(t => t.startsWith('\r\x1b[2K'))
  return (draws[draws.length - 1] ?? '').slice('\r\x1b[2K'.length)
}

test('the live bar fits the terminal, is redrawn at the new width on resize, and stops listening when finished', () => {
  const term = new FakeTerminal()
  let now = 0
  const p = new ProgressReporter('tty', (t) => { term.write(t) }, () => now, term)
  p.update({ downloaded: 0, total: 12 * MIB, peers: 2 })
  for (let i = 1; i <= 20; i++) {
    now += 250
    p.update({ downloaded: i * 128 * 1024, total: 12 * MIB, peers: 2 })
    assert.ok([...lastLine(term)].length < 60, `fits 60 columns: ${lastLine(term)}`)
  }
  assert.equal(term.listenerCount('resize'), 1, 'one listener, however many draws')

  const before = term.written.length
  term.columns = 30
  term.emit('resize')
  assert.equal(term.written.length, before + 1, 'a resize redraws at once')
  assert.ok([...lastLine(term)].length < 30, `fits 30 columns: ${lastLine(term)}`)
  term.columns = 100
  term.emit('resize')
  assert.match(lastLine(term), /ETA .*peers 2$/, `and widens again: ${lastLine(term)}`)

  p.finish()
  assert.equal(term.listenerCount('resize'), 0, 'finish() removes the resize listener')
  assert.equal(term.written[term.written.length - 1], '\n')
  const after = term.written.length
  term.emit('resize')
  assert.equal(term.written.length, after, 'no redraw after finish()')
})

test('a terminal that gives no width gets a line for 80 columns', () => {
  const written: string[] = []
  const p = new ProgressReporter('tty', (t) => written.push(t), () => 0, { write: () => {} })
  p.update({ downloaded: 5, total: 10, peers: 1 })
  const line = (written[0] ?? '').replace('\r\x1b[2K', '')
  assert.ok(line.length > 0 && line.length < 80, line)
})
