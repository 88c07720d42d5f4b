/** What a CLI command may touch: its streams, environment and an abort signal (Ctrl+C). */
export interface OutputStream {
  write: (text: string) => unknown
  isTTY?: boolean
}

export interface CliIO {
  stdout: OutputStream
  stderr: OutputStream
  env: Record<string, string | undefined>
  /** Aborted on Ctrl+C / SIGTERM; main() wires it to the process's signals when absent. */
  signal?: AbortSignal
}

export interface CommandContext {
  io: CliIO
  signal: AbortSignal
  verbose: boolean
  out: (line: string) => void
  err: (line: string) => void
}

export { untilAborted } from '../signals.js'
