/** The error every tracker client (HTTP and UDP) throws when the tracker refuses a request. */
import { TrackerError } from '../errors.js'

/** The tracker answered with a `failure reason` (HTTP) or an error reply (UDP): it refused this request. */
export class TrackerFailureError extends TrackerError {
  readonly failureReason: string

  constructor (url: string, failureReason: string) {
    super('ERR_TRACKER_FAILURE', `Tracker at ${url} refused: ${failureReason}`)
    this.failureReason = failureReason
  }
}
