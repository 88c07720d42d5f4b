/**
 * The tracker's web page in a real browser: Debian's Chromium, headless, driven by playwright-core. A tracker on
 * 127.0.0.1 port 0 holds registered files (one with a hostile name) and announced BitTorrent peers; the page must list
 * them, search, sort, page, follow the live seeder count, and show the hostile name as text.
 *
 * Skipped, with a message, only when Chromium is missing outside CI; in CI (CI set) a missing browser fails the test.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { join } from 'node:path'
import { createTracker, type Tracker } from '../../src/tracker/index.js'
import { tempDir } from '../helpers/files.js'
import { runCli } from '../helpers/process.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const HOSTILE = '<img src=x onerror=alert(1)>.txt'
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

/** BitTorrent's percent-encoding of 20 raw bytes given as 40 hex characters. */
function binaryParam (hex: string): string {
  return Buffer.from(hex, 'hex').toString('binary').split('').map(c => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
}

async function register (base: string, body: Record<string, unknown>, query = ''): Promise<void> {
  const res = await fetch(`${base}/register${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  assert.equal(res.status, 200, await res.text())
}

/** Announces one seeder (left=0) of `infoHash` at 127.0.0.1:`port`. */
async function announceSeeder (base: string, infoHash: string, port: number): Promise<void> {
  const peerId = sha1(`peer ${port}`).slice(0, 40)
  const res = await fetch(`${base}/announce?info_hash=${binaryParam(infoHash)}&peer_id=${binaryParam(peerId)}&port=${port}&uploaded=0&downloaded=0&left=0&compact=1&event=started`)
  const body = Buffer.from(await res.arrayBuffer()).toString('latin1')
  assert.equal(res.status, 200, body)
  assert.doesNotMatch(body, /failure reason/, body)
}

async function rowNames (page: Page): Promise<string[]> {
  return (await page.locator('#files tbody tr td.name').evaluateAll((cells) =>
    cells.map((c) => (c.firstChild as { textContent: string | null } | null)?.textContent ?? '')))
}

/** Waits until the table has `n` rows of files (the empty-table row does not count). */
async function waitForRows (page: Page, n: number): Promise<void> {
  await page.waitForFunction((want) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll: (s: string) => { length: number } } }).document
    return doc.querySelectorAll('#files tbody tr[data-file-hash]').length === want
  }, n, { timeout: 10_000 })
}

/** Chromium, or undefined when the test is to be skipped (absent, outside CI); fails in CI when absent. */
async function launch (t: import('node:test').TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI !== undefined && process.env.CI !== '') assert.fail(`Chromium is not installed at ${CHROMIUM} (CI must run this test: apt-get install chromium)`)
    t.skip(`Chromium not found at ${CHROMIUM}: install Debian's chromium (or set CHROMIUM_PATH) to run the web page test`)
    return undefined
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root (CI containers) cannot use Chromium's sandbox; a container's small /dev/shm must not be needed. Loopback only:
    // no name resolves but 127.0.0.1, and anything not on loopback goes to a proxy that is not there.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--proxy-server=http://127.0.0.1:9']
  })
  t.after(() => browser.close())
  return browser
}

test('the web page lists, searches, sorts and pages the catalogue, with live swarm counts and hostile names as text', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const tracker: Tracker = await createTracker({ db: ':memory:', udp: false, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  const address = await tracker.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${address.port}`

  // 23 files: 20 "alpha", 2 "beta" and the hostile one; sizes differ so sorting by size is checkable.
  const files: Array<{ name: string, size: number, hash: string, infoHash: string }> = []
  for (let i = 0; i < 20; i++) files.push({ name: `alpha-${String(i).padStart(2, '0')}.bin`, size: 1000 + i * 7919, hash: sha1(`alpha ${i}`), infoHash: sha1(`alpha info ${i}`) })
  files.push({ name: 'beta-one.iso', size: 5 * 1024 * 1024 * 1024, hash: sha1('beta 1'), infoHash: sha1('beta info 1') })
  files.push({ name: 'beta-two.iso', size: 3, hash: sha1('beta 2'), infoHash: sha1('beta info 2') })
  files.push({ name: HOSTILE, size: 666, hash: sha1('hostile'), infoHash: sha1('hostile info') })
  for (const [i, f] of files.entries()) {
    await register(base, { file_name: f.name, file_hash: f.hash, file_size: f.size, chunks: [0], ip: '127.0.0.1', port: 7000 + i, info_hash: f.infoHash })
  }
  const beta = files[20] as (typeof files)[number]
  await announceSeeder(base, beta.infoHash, 9001)

  const page = await browser.newPage()
  const dialogs: string[] = []
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); void dialog.dismiss() })
  const pageErrors: string[] = []
  page.on('pageerror', (err) => { pageErrors.push(err.message) })
  const blocked: string[] = []
  page.on('console', (msg) => { if (/Content Security Policy/i.test(msg.text())) blocked.push(msg.text()) })

  await page.goto(`${base}/`)
  // The first page: 25 rows by default, all 23 files.
  await waitForRows(page, 23)
  assert.match(await page.locator('#status').textContent() ?? '', /^23 files/)
  assert.equal(await page.locator('#range').textContent(), '1–23 of 23')

  // The hostile name is text: shown as typed, no element made of it, no script run.
  const hostileRow = page.locator(`#files tbody tr[data-file-hash="${files[22]?.hash ?? ''}"]`)
  assert.equal(await hostileRow.locator('td.name').evaluate((c) => (c.firstChild as { textContent: string | null } | null)?.textContent), HOSTILE)
  assert.equal(await page.locator('#files img').count(), 0, 'no <img> injected')
  assert.deepEqual(dialogs, [], 'no alert ran')

  // Search (debounced): only the names containing the text.
  await page.locator('#search').fill('beta')
  await waitForRows(page, 2)
  assert.deepEqual((await rowNames(page)).sort(), ['beta-one.iso', 'beta-two.iso'])
  assert.match(await page.locator('#files tbody tr td.size').first().textContent() ?? '', /GiB|B$/)
  await page.locator('#search').fill('onerror')
  await waitForRows(page, 1)
  assert.deepEqual(await rowNames(page), [HOSTILE])
  await page.locator('#search').fill('no such file')
  await waitForRows(page, 0)
  assert.match(await page.locator('#files tbody td.empty').textContent() ?? '', /No file name contains/)
  await page.locator('#search').fill('')
  await waitForRows(page, 23)

  // Sorting by a column header: size, largest first; again: smallest first.
  const sizes = async (): Promise<number[]> => (await page.locator('#files tbody td.size').evaluateAll((cells) =>
    cells.map((c) => Number((c as unknown as { title: string }).title.split(' ')[0]))))
  const bySize = [...files].map(f => f.size)
  await page.locator('th[data-sort="size"] button').click()
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector: (s: string) => { getAttribute: (n: string) => string | null } } })
    .document.querySelector('th[data-sort="size"]').getAttribute('aria-sort') === 'descending')
  await waitForRows(page, 23)
  assert.deepEqual(await sizes(), [...bySize].sort((a, b) => b - a))
  await page.locator('th[data-sort="size"] button').click()
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector: (s: string) => { getAttribute: (n: string) => string | null } } })
    .document.querySelector('th[data-sort="size"]').getAttribute('aria-sort') === 'ascending')
  assert.deepEqual(await sizes(), [...bySize].sort((a, b) => a - b))
  // By name, A to Z.
  await page.locator('th[data-sort="name"] button').click()
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector: (s: string) => { getAttribute: (n: string) => string | null } } })
    .document.querySelector('th[data-sort="name"]').getAttribute('aria-sort') === 'ascending')
  const names = await rowNames(page)
  assert.deepEqual(names, [...names].sort((a, b) => a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0))
  assert.equal(names[0], HOSTILE, "'<' sorts first")

  // Paging: 10 a page, three pages.
  await page.locator('#page-size').selectOption('10')
  await waitForRows(page, 10)
  assert.equal(await page.locator('#range').textContent(), '1–10 of 23')
  assert.equal(await page.locator('#prev').isDisabled(), true)
  const first = await rowNames(page)
  await page.locator('#next').click()
  await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById: (s: string) => { textContent: string } } })
    .document.getElementById('range').textContent === '11–20 of 23')
  const second = await rowNames(page)
  assert.equal(second.length, 10)
  assert.equal(second.filter(n => first.includes(n)).length, 0, 'another page')
  await page.locator('#next').click()
  await waitForRows(page, 3)
  assert.equal(await page.locator('#range').textContent(), '21–23 of 23')
  assert.equal(await page.locator('#next').isDisabled(), true)
  assert.deepEqual([...first, ...second, ...await rowNames(page)], names, 'the pages are the sorted list in order')

  // Live counts: the page refreshes by itself; a second seeder of beta-one shows up without any click.
  await page.locator('#search').fill('beta-one')
  await waitForRows(page, 1)
  const seeders = page.locator(`#files tbody tr[data-file-hash="${beta.hash}"] td.seeders`)
  assert.equal(await seeders.textContent(), '1')
  assert.match(await page.locator(`#files tbody tr[data-file-hash="${beta.hash}"] td.links a`).first().getAttribute('href') ?? '', /^magnet:\?xt=urn:btih:/)
  await announceSeeder(base, beta.infoHash, 9002)
  await page.waitForFunction((hash) => (globalThis as unknown as { document: { querySelector: (s: string) => { textContent: string } | null } })
    .document.querySelector(`#files tbody tr[data-file-hash="${hash}"] td.seeders`)?.textContent === '2', beta.hash, { timeout: 15_000 })

  assert.deepEqual(pageErrors, [], 'no script error')
  assert.deepEqual(blocked, [], 'nothing blocked by the Content-Security-Policy')
  assert.deepEqual(dialogs, [], 'no alert ran')
})

test('on a private tracker the page opened as /?passkey=KEY sends the key with its calls; without one it says it was refused', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const dir = tempDir(t)
  const db = join(dir, 'private.db')
  const added = await runCli(['tracker', 'keys', 'add', 'alice', '--db', db], { cwd: dir })
  assert.equal(added.code, 0, added.stderr)
  const key = /Key \d+ for alice: (\S+)/.exec(added.stdout)?.[1] ?? ''
  assert.notEqual(key, '')
  const tracker = await createTracker({ db, private: true, probeIntervalMs: 0 })
  t.after(() => tracker.close())
  const { port } = await tracker.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${port}`
  await register(`${base}`, { file_name: 'members-only.bin', file_hash: sha1('members'), file_size: 10, chunks: [0], ip: '127.0.0.1', port: 7000 }, `?passkey=${key}`)

  const page = await browser.newPage()
  await page.goto(`${base}/?passkey=${encodeURIComponent(key)}`)
  await waitForRows(page, 1)
  assert.deepEqual(await rowNames(page), ['members-only.bin'])

  await page.goto(`${base}/`)
  await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById: (s: string) => { className: string } } })
    .document.getElementById('status').className === 'error', undefined, { timeout: 10_000 })
  assert.match(await page.locator('#status').textContent() ?? '', /^The tracker refused the request: .+/)
  assert.equal(await page.locator('#files tbody tr[data-file-hash]').count(), 0)
})
