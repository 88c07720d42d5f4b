/**
 * The tracker's log: one line per event, JSON for machines (`{"time":…,"level":"info","msg":…,…}`) or text for a
 * person at a terminal (`2026-11-24T03:40:00.123Z INFO request method=GET route=/files status=200 …`), written
 * synchronously to a stream the caller gives (the CLI: stderr). It has pino's calling convention, so fastify uses it
 * as its logger (`loggerInstance`): errors logged by the framework and the tracker's parts go through it too.
 */
import type { FastifyBaseLogger } from 'fastify'

export type LogFormat = 'json' | 'text' | 'off'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text', 'off']

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const
export type LogLevel = keyof typeof LEVELS

export interface LogStream {
  write: (line: string) => unknown
}

type LogFn = (objOrMsg?: unknown, msg?: string) => void

/** An Error as a plain object for a log line: its type, code and message, and its stack at `debug` and below. */
function serializeError (err: Error, withStack: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message }
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') out.code = code
  if (withStack && err.stack !== undefined) out.stack = err.stack
  return out
}

/** `key=value` for the text format: a value with spaces, quotes or `=` is JSON-quoted. */
function textField (key: string, value: unknown): string {
  let text: string
  if (typeof value === 'string') text = /^[^\s"=]*$/.test(value) && value !== '' ? value : JSON.stringify(value)
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value)
  else text = JSON.stringify(value) ?? String(value)
  return `${key}=${text}`
}

export class TrackerLog {
  readonly #stream: LogStream
  readonly #format: 'json' | 'text'
  readonly #bindings: Readonly<Record<string, unknown>>
  #threshold: number
  #level: LogLevel

  constructor (options: { stream: LogStream, format: 'json' | 'text', level?: LogLevel, bindings?: Record<string, unknown> }) {
    this.#stream = options.stream
    this.#format = options.format
    this.#level = options.level ?? 'info'
    this.#threshold = LEVELS[this.#level]
    this.#bindings = options.bindings ?? {}
  }

  get level (): string {
    return this.#level
  }

  set level (level: string) {
    if (!(level in LEVELS)) return
    this.#level = level as LogLevel
    this.#threshold = LEVELS[this.#level]
  }

  /** Whether a line at `level` would be written (to skip building its fields). */
  enabled (level: Exclude<LogLevel, 'silent'>): boolean {
    return LEVELS[level] >= this.#threshold
  }

  readonly trace: LogFn = (o, m) => { this.#write('trace', o, m) }
  readonly debug: LogFn = (o, m) => { this.#write('debug', o, m) }
  readonly info: LogFn = (o, m) => { this.#write('info', o, m) }
  readonly warn: LogFn = (o, m) => { this.#write('warn', o, m) }
  readonly error: LogFn = (o, m) => { this.#write('error', o, m) }
  readonly fatal: LogFn = (o, m) => { this.#write('fatal', o, m) }
  readonly silent: LogFn = () => {}

  /** A logger writing the same way with more fields on every line. */
  child (bindings: Record<string, unknown>): TrackerLog {
    const child = new TrackerLog({ stream: this.#stream, format: this.#format, level: this.#level, bindings: { ...this.#bindings, ...bindings } })
    return child
  }

  #write (level: Exclude<LogLevel, 'silent'>, objOrMsg: unknown, msg: string | undefined): void {
    if (LEVELS[level] < this.#threshold) return
    let fields: Record<string, unknown> = this.#bindings
    let message = msg
    if (typeof objOrMsg === 'string') {
      message = objOrMsg
    } else if (objOrMsg instanceof Error) {
      fields = { ...fields, err: serializeError(objOrMsg, this.enabled('debug')) }
      message ??= objOrMsg.message
    } else if (objOrMsg !== null && typeof objOrMsg === 'object') {
      fields = { ...fields, ...(objOrMsg as Record<string, unknown>) }
      const err = fields.err
      if (err instanceof Error) fields.err = serializeError(err, this.enabled('debug'))
    }
    const time = new Date().toISOString()
    let line: string
    if (this.#format === 'json') {
      line = JSON.stringify({ time, level, msg: message ?? '', ...fields })
    } else {
      const parts = [time, level.toUpperCase().padEnd(5), message ?? '']
      for (const key of Object.keys(fields)) {
        const value = fields[key]
        if (value === undefined) continue
        if (key === 'err' && value !== null && typeof value === 'object') {
          const e = value as Record<string, unknown>
          parts.push(textField('error', e.message))
          if (e.code !== undefined) parts.push(textField('code', e.code))
          if (typeof e.stack === 'string') parts.push(`\n${e.stack}`)
        } else {
          parts.push(textField(key, value))
        }
      }
      line = parts.join(' ')
    }
    this.#stream.write(line + '\n')
  }
}

/** The logger fastify is given: ours, typed as fastify's logger interface (the same calling convention). */
export function asFastifyLogger (log: TrackerLog): FastifyBaseLogger {
  return log as unknown as FastifyBaseLogger
}
