/**
 * The live progress bar in a real terminal: `download` runs in a tmux pane of 60 and of 80 columns, slowly
 * (`--download-limit`) so the bar is redrawn many times, and the pane is read back. A bar wider than the pane wraps,
 * and each redraw (`\r` returns to the start of the last row only) leaves a row behind: the rows with a percent on
 * them would grow with the redraws.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { randomFile, tempDir } from '../helpers/files.js'
import { pollUntil } from '../helpers/poll.js'
import { CLI, startSharer, startTracker } from '../helpers/process.js'

const run = promisify(execFile)
/** tmux speaks UTF-8 with its panes and its clients only when told so (the bar's █ and ░). */
const TMUX_ENV = { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' }

function tmuxInstalled (): boolean {
  return spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0
}

/** A tmux server of our own (a socket name no one else uses), killed when the test ends. */
function tmuxServer (t: TestContext): { socket: string, tmux: (args: string[]) => Promise<string> } {
  const socket = `p2pshare-test-${process.pid}-${randomBytes(4).toString('hex')}`
  const tmux = async (args: string[]): Promise<string> =>
    (await run('tmux', ['-u', '-L', socket, '-f', '/dev/null', ...args], { env: TMUX_ENV, timeout: 10_000 })).stdout
  t.after(async () => {
    // kill-server leaves the socket file behind: it goes too.
    const path = (await tmux(['display-message', '-p', '#{socket_path}']).catch(() => '')).trim()
    await tmux(['kill-server']).catch(() => {})
    if (path.endsWith(socket)) rmSync(path, { force: true })
  })
  return { socket, tmux }
}

function shellQuote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}

/**
 * Runs `p2pshare download ...` in a tmux pane `columns` wide and waits for it to exit. Returns the pane's rows from the
 * start of its history, as displayed (`rows`) and with wrapped rows joined into the lines that were written (`lines`),
 * and everything the program wrote to the pane (`raw`).
 */
async function downloadInPane (t: TestContext, dir: string, columns: number, args: string[]): Promise<{ rows: string[], lines: string[], raw: string }> {
  const { socket, tmux } = tmuxServer(t)
  const raw = join(dir, `pane-${columns}.log`)
  const command = [process.execPath, CLI, 'download', ...args].map(shellQuote).join(' ')
  // The download waits for a go-ahead, so that pipe-pane records everything it writes; the shell stays on after it.
  const script = `tmux -u -L ${shellQuote(socket)} wait-for go; cd ${shellQuote(dir)} && ${command}; echo "[exit $?]"; sleep 120`
  await tmux(['new-session', '-d', '-s', 'p', '-x', String(columns), '-y', '20', 'sh', '-c', script])
  await tmux(['pipe-pane', '-t', 'p', '-o', `cat >> ${shellQuote(raw)}`])
  await tmux(['wait-for', '-S', 'go'])
  const capture = async (join: boolean): Promise<string[]> =>
    (await tmux(['capture-pane', '-p', '-t', 'p', '-S', '-', ...(join ? ['-J'] : [])])).split('\n')
  let seen: string[] = []
  await pollUntil(`the download in the ${columns}-column pane to exit`, async () => {
    seen = await capture(false)
    return seen.some(r => /^\[exit \d+\]/.test(r)) ? true : undefined
  }, { timeoutMs: 90_000, intervalMs: 250, describe: () => seen.join('\n') })
  const rows = await capture(false)
  return { rows, lines: await capture(true), raw: existsSync(raw) ? readFileSync(raw, 'latin1') : '' }
}

test('the progress bar stays on one line of a 60- and of an 80-column terminal (tmux), however often it is redrawn', async (t) => {
  if (!tmuxInstalled()) {
    if (process.env.CI !== undefined && process.env.CI !== '') assert.fail('tmux is not installed (CI must run this test: apt-get install tmux)')
    t.skip('tmux not found: install Debian\'s tmux to run the terminal test')
    return
  }
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'slow.bin', 2 * 1024 * 1024 + 11)
  await startSharer(dir, file.path, url, t)

  const [narrow, wide] = await Promise.all([60, 80].map(async (columns) => {
    // 256 KiB/s: about 8 s for the file, so the bar (redrawn every 200 ms) is drawn dozens of times.
    const pane = await downloadInPane(t, dir, columns, ['slow.bin', '--tracker', url, '--host', '127.0.0.1', '--out', `got-${columns}`, '-d', '256'])
    return { columns, ...pane }
  }))
  for (const pane of [narrow, wide]) {
    assert.ok(pane !== undefined)
    const { columns, rows, lines, raw } = pane
    const shown = `\n--- ${columns}-column pane ---\n${rows.join('\n')}`
    assert.ok(rows.some(r => r.startsWith('[exit 0]')), `the download succeeded${shown}`)
    const redraws = raw.split('\r\x1b[2K').length - 1
    assert.ok(redraws >= 3, `the bar was redrawn many times (${redraws})${shown}`)
    const barRows = rows.filter(r => /\d\.\d%/.test(r))
    assert.equal(barRows.length, 1, `one row of the pane holds the bar, not one per redraw${shown}`)
    const barLines = lines.filter(l => /\d\.\d%/.test(l))
    assert.equal(barLines.length, 1, `the bar was written as one line${shown}`)
    const bar = barLines[0] ?? ''
    assert.ok([...bar].length < columns, `the bar (${[...bar].length} characters) is narrower than the pane (${columns})${shown}`)
    assert.match(bar, /100\.0%/, `the last redraw shows the end${shown}`)
    for (const row of rows) assert.ok([...row].length <= columns, `no row wider than the pane: ${row}`)
  }
})
