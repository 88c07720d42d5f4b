/**
 * Download progress: a live bar on a terminal, plain periodic lines otherwise, JSON lines with `--json`, nothing
 * with `--quiet`. Speed is a moving average over the last few seconds, ETA from that speed.
 *
 * The live line is fitted to the terminal's width, and redrawn when the terminal is resized: a line one column too
 * wide wraps, and then every redraw (`\r` goes back to the start of the last row only) leaves a row behind.
 */
import { PROGRESS_PLAIN_INTERVAL_MS, PROGRESS_TTY_INTERVAL_MS } from '../constants.js'
import { formatBytes, formatDuration, formatRate } from './format.js'
import type { OutputStream } from './io.js'
import { terminalSafe } from './terminal-safe.js'

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet'

export interface ProgressSample {
  downloaded: number
  total: number
  peers: number
}

/** What the live bar needs of its terminal (a `tty.WriteStream` has it all): its width, and word when it changes. */
export interface ProgressTerminal {
  columns?: number
  on?: (event: 'resize', listener: () => void) => unknown
  off?: (event: 'resize', listener: () => void) => unknown
}

const SPEED_WINDOW_MS = 5_000
/** The bar's width when there is room; it gives way to the numbers first, down to BAR_MIN_WIDTH (the percent says the same). */
const BAR_WIDTH = 24
const BAR_MIN_WIDTH = 10
/** A terminal that does not say how wide it is (`columns` absent or 0). */
const DEFAULT_COLUMNS = 80

/**
 * The live line for a terminal `columns` wide: never more than `columns - 1` characters (the last column is left
 * free: a line that fills it leaves some terminals' cursor past the edge, and the next `\r` on the row below).
 * As the terminal narrows the bar shrinks to BAR_MIN_WIDTH, then the fields go, ETA first, then the rate, then the
 * peers; then the bar shrinks away, then the byte counts go; the percent goes last. Every character is one column.
 */
export function fitProgressLine (sample: ProgressSample & { speed: number }, columns: number): string {
  const { downloaded, total, peers, speed } = sample
  const width = Math.max(0, Math.floor(columns) - 1)
  const fraction = total === 0 ? 1 : Math.min(1, Math.max(0, downloaded / total))
  const eta = speed > 0 ? (total - downloaded) / speed : Number.NaN
  const percent = `${(fraction * 100).toFixed(1)}%`.padStart(6)
  const bytes = `${formatBytes(downloaded)} / ${formatBytes(total)}`
  const rate = formatRate(speed)
  const etaText = `ETA ${formatDuration(eta)}`
  const peersText = `peers ${peers}`
  const layouts = [[percent, bytes, rate, etaText, peersText], [percent, bytes, rate, peersText], [percent, bytes, peersText], [percent, bytes]]
  for (const fields of layouts) {
    const text = fields.join('  ')
    const room = width - text.length - 1
    if (room >= BAR_MIN_WIDTH) return `${bar(fraction, Math.min(BAR_WIDTH, room))} ${text}`
  }
  const text = `${percent}  ${bytes}`
  if (width - text.length - 1 >= 1) return `${bar(fraction, width - text.length - 1)} ${text}`
  if (text.trimStart().length <= width) return text.trimStart()
  return percent.trimStart().slice(0, width)
}

function bar (fraction: number, width: number): string {
  const filled = Math.round(fraction * width)
  return '█'.repeat(filled) + '░'.repeat(width - filled)
}

export class ProgressReporter {
  readonly #mode: ProgressMode
  readonly #write: (text: string) => void
  readonly #now: () => number
  readonly #terminal: ProgressTerminal | undefined
  readonly #samples: Array<{ t: number, bytes: number }> = []
  #last: ProgressSample = { downloaded: 0, total: 0, peers: 0 }
  #lastDraw = Number.NEGATIVE_INFINITY
  #drawn = false
  /** The 'resize' listener while the live line is on screen (added at its first draw, removed by finish()). */
  #onResize: (() => void) | undefined
  #waiting: string | undefined

  /**
   * `terminal`: the stream the live bar goes to, used in 'tty' mode only: its `columns` are read at every draw, its
   * 'resize' followed. A CLI's OutputStream promises neither (process.stderr has both), so each is checked for.
   */
  constructor (mode: ProgressMode, write: (text: string) => void, now: () => number = Date.now, terminal?: ProgressTerminal | OutputStream) {
    this.#mode = mode
    this.#write = write
    this.#now = now
    this.#terminal = terminal as ProgressTerminal | undefined
  }

  update (sample: ProgressSample): void {
    this.#last = { ...sample }
    const t = this.#now()
    this.#samples.push({ t, bytes: sample.downloaded })
    while (this.#samples.length > 2 && (this.#samples[0]?.t ?? t) < t - SPEED_WINDOW_MS) this.#samples.shift()
    const interval = this.#mode === 'tty' ? PROGRESS_TTY_INTERVAL_MS : PROGRESS_PLAIN_INTERVAL_MS
    const complete = sample.downloaded >= sample.total
    if (t - this.#lastDraw < interval && !complete) return
    this.#lastDraw = t
    this.#draw()
  }

  /** Bytes per second over the recent window. */
  speed (): number {
    const first = this.#samples[0]
    const last = this.#samples[this.#samples.length - 1]
    if (first === undefined || last === undefined || last.t <= first.t) return 0
    return (last.bytes - first.bytes) * 1000 / (last.t - first.t)
  }

  /**
   * What the download is waiting for (no peers yet, tracker refused: why, connecting to N), shown after the bar on
   * a terminal until data flows again (undefined). Plain and JSON output print their own line for it.
   */
  waiting (text: string | undefined): void {
    this.#waiting = text
    if (this.#mode === 'tty') this.#draw()
  }

  /** End the live line so the next output starts on a fresh line; stop following the terminal's size. */
  finish (): void {
    if (this.#mode === 'tty' && this.#drawn) this.#write('\n')
    this.#drawn = false
    if (this.#onResize !== undefined) {
      this.#terminal?.off?.('resize', this.#onResize)
      this.#onResize = undefined
    }
  }

  #draw (): void {
    const { downloaded, total, peers } = this.#last
    const speed = this.speed()
    switch (this.#mode) {
      case 'tty': {
        this.#drawLive()
        if (this.#onResize === undefined && typeof this.#terminal?.on === 'function' && typeof this.#terminal.off === 'function') {
          this.#onResize = () => { if (this.#drawn) this.#drawLive() }
          this.#terminal.on('resize', this.#onResize)
        }
        break
      }
      case 'plain': {
        const percent = `${((total === 0 ? 1 : downloaded / total) * 100).toFixed(1)}%`
        const eta = speed > 0 ? (total - downloaded) / speed : Number.NaN
        this.#write(`Progress: ${percent} (${formatBytes(downloaded)} / ${formatBytes(total)}) ${formatRate(speed)} ETA ${formatDuration(eta)} peers ${peers}\n`)
        break
      }
      case 'json':
        this.#write(JSON.stringify({ event: 'progress', downloaded, total, speed: Math.round(speed), peers }) + '\n')
        break
      case 'quiet':
        break
    }
  }

  /** The live line, over the one drawn before (`\r`, then erase the row), at the terminal's width of the moment. */
  #drawLive (): void {
    const columns = this.#terminal?.columns
    const width = typeof columns !== 'number' || !Number.isFinite(columns) || columns < 1 ? DEFAULT_COLUMNS : columns
    // The waiting reason gets up to half the row, the bar and its numbers fitted to the rest (the terminal's last
    // column stays free, as above).
    // A tracker's refusal is its own words: inert on the terminal (and no newline may break the live line).
    const reason = this.#waiting === undefined ? [] : [...terminalSafe(`waiting: ${this.#waiting}`)]
    const room = Math.min(reason.length, Math.floor((width - 1) / 2) - 2)
    const line = room > 0
      ? `${fitProgressLine({ ...this.#last, speed: this.speed() }, width - room - 2)}  ${reason.slice(0, room).join('')}`
      : fitProgressLine({ ...this.#last, speed: this.speed() }, width)
    this.#write(`\r\x1b[2K${line}`)
    this.#drawn = true
  }
}
