/**
 * Errors with stable codes. Every error the library throws on purpose is a P2PError whose `code` callers
 * (the CLI, the HTTP API, tests) switch on; the message is one readable line for a human.
 */
export class P2PError extends Error {
  readonly code: string

  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A remote peer sent bytes that break the protocol: costs that one connection only. */
export class ProtocolError extends P2PError {}

/** Input from a user or an HTTP client that fails validation. */
export class ValidationError extends P2PError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_VALIDATION', message, options)
  }
}

/** The tracker could not be reached or answered with something that is not its API. */
export class TrackerError extends P2PError {}

/** A transfer could not complete: no peers, peers unreachable, hash mismatch. */
export class TransferError extends P2PError {}

/** Local file system trouble: input file missing, output folder not writable. */
export class StorageError extends P2PError {}

/** An operation was aborted through its AbortSignal (Ctrl+C in the CLI). */
export class AbortError extends P2PError {
  constructor (message = 'The operation was aborted') {
    super('ERR_ABORTED', message)
  }
}

export function isP2PError (err: unknown): err is P2PError {
  return err instanceof P2PError
}

/** The `code` of a Node system error (`ECONNREFUSED`, `EADDRINUSE`...), if it is one. */
export function systemErrorCode (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

/**
 * A failed write to a local file as the error a user can act on: a full disk (or quota) is `ERR_NO_SPACE` naming the
 * path, never blamed on a peer; anything else is `ERR_OUTPUT`.
 */
export function writeError (err: unknown, path: string): StorageError {
  if (err instanceof StorageError) return err
  const code = systemErrorCode(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StorageError('ERR_NO_SPACE', `No space left on the disk holding ${path} (${code}); free some space and run the same command again to resume`, { cause: err })
  return new StorageError('ERR_OUTPUT', `Cannot write ${path}: ${code ?? String(err)}`, { cause: err })
}

/** A failed `listen()` as the error a user can act on: port in use, port not allowed, or another cause. */
export function listenError (err: unknown, host: string, port: number): P2PError {
  const code = systemErrorCode(err)
  if (code === 'EADDRINUSE') return new P2PError('ERR_PORT_IN_USE', `Port ${port} is already in use (Address already in use): choose another with --port`, { cause: err })
  if (code === 'EACCES') return new P2PError('ERR_PORT_DENIED', `Not allowed to listen on port ${port}: choose a port above 1023 with --port`, { cause: err })
  if (code === 'EADDRNOTAVAIL') return new P2PError('ERR_LISTEN', `Cannot listen on ${host}:${port}: no such local address (check --host)`, { cause: err })
  return new P2PError('ERR_LISTEN', `Cannot listen on ${host}:${port}: ${code ?? String(err)}`, { cause: err })
}
