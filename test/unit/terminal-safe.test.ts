/** terminalSafe (src/cli/terminal-safe.ts): names from others print as one inert line. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { table } from '../../src/cli/commands/search.js'
import { terminalSafe, terminalSafeJson } from '../../src/cli/terminal-safe.js'

test('terminalSafe: ESC, C0 and C1 controls, DEL, newlines, line separators and bidi controls become ?; other text is kept', () => {
  assert.equal(terminalSafe('movie.mkv'), 'movie.mkv')
  assert.equal(terminalSafe('Bücher – 日本語 שלום 🎬.pdf'), 'Bücher – 日本語 שלום 🎬.pdf')
  assert.equal(terminalSafe('a\x1b[2Jb'), 'a?[2Jb')
  assert.equal(terminalSafe('\x1b]0;owned\x07'), '?]0;owned?')
  assert.equal(terminalSafe('a\nFake line\rb\tc'), 'a?Fake line?b?c')
  assert.equal(terminalSafe('a\x00b\x7fc\x9bd\x85e'), 'a?b?c?d?e')
  assert.equal(terminalSafe('a\u2028b\u2029c'), 'a?b?c')
  for (const c of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c']) {
    assert.equal(terminalSafe(`photo${c}gpj.exe`), 'photo?gpj.exe', `U+${c.charCodeAt(0).toString(16)}`)
  }
})

test('terminalSafeJson: the same JSON value, with nothing a terminal would act on left raw', () => {
  const value = { file_name: 'a\x1b[31m\u202egpj.exe\x9b\u2028', n: 1 }
  const text = terminalSafeJson(value)
  assert.deepEqual(JSON.parse(text), value)
  assert.doesNotMatch(text, /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u)
  assert.equal(terminalSafeJson({ a: 'plain' }), '{"a":"plain"}')
})

test('search prints a tracker\'s names inert: the table shows no control, line break or bidi control from a name or hash', () => {
  const lines = table([{ file_name: 'photo\u202egpj.exe\x1b]0;x\x07\nforged', file_hash: 'a'.repeat(39) + '\x9b', file_size: 10, peers_count: 1 }])
  assert.equal(lines.length, 2, 'a header and one row')
  for (const line of lines) assert.doesNotMatch(line, /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u)
  assert.match(lines[1] ?? '', /^photo\?gpj\.exe\?\]0;x\?\?forged/)
})
