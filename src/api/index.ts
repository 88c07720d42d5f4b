/**
 * The node's HTTP API: `buildNodeApp(options)` gives a fastify app (not listening) serving the REST API of docs/api.md
 * over a SessionApi, behind the Host, authentication and CSRF checks of security.ts. A plugin (the Transmission RPC)
 * joins through `plugins`, and marks its route prefix CSRF-exempt with `csrfExemptPrefixes` when it does its own
 * defence; its errors may use `ApiError`/`sendApiError` for the API's JSON shape.
 */
export { buildNodeApp, redactToken, type NodeAppOptions, type NodeAppPlugin } from './app.js'
export { ApiError, describeApiError, sendApiError, SESSION_ERROR_STATUS, type ApiErrorBody } from './errors.js'
export { EVENTS_ROUTE, type EventStreamLimits } from './events.js'
export { torrentRef } from './rest.js'
export { REF_PATTERN } from './schemas.js'
export {
  API_PREFIX,
  checkCsrfExemptPrefixes,
  isJsonContentType,
  originMatchesHost,
  parseHost,
  REALM,
  type AuthLimits
} from './security.js'
export * from './limits.js'
export { transmissionRpc, TRANSMISSION_RPC_PATH, type TransmissionRpcOptions } from './transmission-rpc.js'
