import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, resolve } from 'node:path'
import { pathProblem, resolveInside, safeRelativePath } from '../../src/content/index.js'
import { P2PError, ProtocolError } from '../../src/errors.js'

function refused (components: string[], code: string): void {
  assert.throws(() => safeRelativePath(components), (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `a ProtocolError for ${JSON.stringify(components)}`)
    assert.equal(err.code, code, JSON.stringify(components))
    assert.match(err.message, /^Unsafe path in torrent /)
    return true
  })
  assert.equal(pathProblem(components)?.code, code)
}

test('safeRelativePath: plain relative paths pass and are joined with /', () => {
  assert.equal(safeRelativePath(['movie.mp4']), 'movie.mp4')
  assert.equal(safeRelativePath(['name', 'sub dir', 'file.txt']), 'name/sub dir/file.txt')
  for (const ok of ['.hidden', '..a', 'a..', 'a.b.c', '...a', 'x.', 'console', 'con-tent', 'CONFIG.SYS', 'com10', 'lpt', 'é✓😀', 'ab:c', ' lead', 'trail ']) {
    assert.equal(safeRelativePath(['dir', ok]), `dir/${ok}`, ok)
    assert.equal(pathProblem(['dir', ok]), undefined)
  }
})

test('safeRelativePath: every trick to leave the folder is refused with its code', () => {
  refused([], 'ERR_PATH_EMPTY')
  refused([''], 'ERR_PATH_EMPTY')
  refused(['a', '', 'b'], 'ERR_PATH_EMPTY')
  refused(['a', '..'], 'ERR_PATH_TRAVERSAL')
  refused(['..', 'etc', 'passwd'], 'ERR_PATH_TRAVERSAL')
  refused(['a', '.'], 'ERR_PATH_DOT')
  refused(['a', '...'], 'ERR_PATH_DOT')
  refused(['a', '.. '], 'ERR_PATH_DOT')
  refused(['a', '. .'], 'ERR_PATH_DOT')
  refused(['/etc', 'passwd'], 'ERR_PATH_ABSOLUTE')
  refused(['\\\\server\\share', 'x'], 'ERR_PATH_ABSOLUTE')
  refused(['a', '/etc/passwd'], 'ERR_PATH_SEPARATOR')
  refused(['a/../../b'], 'ERR_PATH_SEPARATOR')
  refused(['a', '..\\..\\windows'], 'ERR_PATH_SEPARATOR')
  refused(['a', 'b\\c'], 'ERR_PATH_SEPARATOR')
  refused(['a', 'b\0.txt'], 'ERR_PATH_NUL')
  refused(['C:', 'x'], 'ERR_PATH_DRIVE')
  refused(['a', 'c:evil'], 'ERR_PATH_DRIVE')
  refused(['D:\\x'], 'ERR_PATH_SEPARATOR')
  for (const name of ['CON', 'con', 'PRN', 'aux', 'NUL', 'nul.txt', 'COM1', 'com9.log', 'LPT1', 'lpt3.tar.gz', 'CON.', 'con ', 'COM¹', 'CONIN$', 'conout$']) {
    refused(['a', name], 'ERR_PATH_RESERVED')
  }
})

test('resolveInside: the result is always inside root', () => {
  const root = resolve('/tmp/p2p-root')
  assert.equal(resolveInside(root, 'name/file.txt'), join(root, 'name', 'file.txt'))
  assert.equal(resolveInside('/tmp/p2p-root/', 'a'), join(root, 'a'))
  for (const rel of ['..', '../x', 'a/../../x', '/etc/passwd', 'a/..', '', '.', 'C:/x', 'c:x', 'a\0b']) {
    assert.throws(() => resolveInside(root, rel), (err: unknown) => err instanceof P2PError && err.code === 'ERR_PATH_OUTSIDE', JSON.stringify(rel))
  }
  // A sibling whose name starts with root's name is outside too.
  assert.throws(() => resolveInside(root, '../p2p-root-evil/x'), (err: unknown) => err instanceof P2PError && err.code === 'ERR_PATH_OUTSIDE')
  // Whatever safeRelativePath lets through resolves inside.
  assert.ok(resolveInside(root, safeRelativePath(['n', '..a', 'b..'])).startsWith(root + '/'))
})
