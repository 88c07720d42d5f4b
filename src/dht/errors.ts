/**
 * DHT errors, with stable codes: ERR_DHT_TIMEOUT (a query unanswered in time), ERR_DHT_BUSY (too many queries queued),
 * ERR_DHT_CLOSED (the node was closed), ERR_DHT_REMOTE (a KRPC error reply; `krpcCode` holds its BEP 5 code),
 * ERR_DHT_BAD_REPLY (a reply that breaks BEP 5), ERR_DHT_LISTEN (the UDP socket could not be bound),
 * ERR_DHT_OPTIONS (invalid options); an abort is the library's AbortError (ERR_ABORTED).
 */
import { P2PError } from '../errors.js'

export class DhtError extends P2PError {
  /** For ERR_DHT_REMOTE: the error code the remote node sent (201-204). */
  readonly krpcCode: number | undefined

  constructor (code: string, message: string, options?: { cause?: unknown, krpcCode?: number }) {
    super(code, message, options)
    this.krpcCode = options?.krpcCode
  }
}
