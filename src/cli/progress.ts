/**
 * Download progress: a live bar on a terminal, plain periodic lines otherwise, JSON lines with `--json`, nothing
 * with `--quiet`. Speed is a moving average over the last few seconds, ETA from that speed.
 */
import { PROGRESS_PLAIN_INTERVAL_MS, PROGRESS_TTY_INTERVAL_MS } from '../constants.js'
import { formatBytes, formatDuration, formatRate } from './format.js'

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet'

export interface ProgressSample {
  downloaded: number
  total: number
  peers: number
}

const SPEED_WINDOW_MS = 5_000
const BAR_WIDTH = 24

export class ProgressReporter {
  readonly #mode: ProgressMode
  readonly #write: (text: string) => void
  readonly #now: () => number
  readonly #samples: Array<{ t: number, bytes: number }> = []
  #last: ProgressSample = { downloaded: 0, total: 0, peers: 0 }
  #lastDraw = Number.NEGATIVE_INFINITY
  #drawn = false

  constructor (mode: ProgressMode, write: (text: string) => void, now: () => number = Date.now) {
    this.#mode = mode
    this.#write = write
    this.#now = now
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

  /** End the live line so the next output starts on a fresh line. */
  finish (): void {
    if (this.#mode === 'tty' && this.#drawn) this.#write('\n')
    this.#drawn = false
  }

  #draw (): void {
    const { downloaded, total, peers } = this.#last
    const speed = this.speed()
    const fraction = total === 0 ? 1 : downloaded / total
    const eta = speed > 0 ? (total - downloaded) / speed : Number.NaN
    const percent = `${(fraction * 100).toFixed(1)}%`
    switch (this.#mode) {
      case 'tty': {
        const filled = Math.round(fraction * BAR_WIDTH)
        const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled)
        this.#write(`\r\x1b[2K${bar} ${percent.padStart(6)}  ${formatBytes(downloaded)} / ${formatBytes(total)}  ${formatRate(speed)}  ETA ${formatDuration(eta)}  peers ${peers}`)
        this.#drawn = true
        break
      }
      case 'plain':
        this.#write(`Progress: ${percent} (${formatBytes(downloaded)} / ${formatBytes(total)}) ${formatRate(speed)} ETA ${formatDuration(eta)} peers ${peers}\n`)
        break
      case 'json':
        this.#write(JSON.stringify({ event: 'progress', downloaded, total, speed: Math.round(speed), peers }) + '\n')
        break
      case 'quiet':
        break
    }
  }
}
