/** Helpers on AbortSignal shared by the library and the CLI. */

/** Resolves when the signal is aborted (at once if it already is, or if there is none): how long-running work waits for Ctrl+C. */
export async function untilAborted (signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined || signal.aborted) return
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => { resolve() }, { once: true }))
}
