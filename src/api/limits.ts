/**
 * The node API's limits and timings, each with the reason for its value. docs/api.md lists the ones an HTTP client
 * meets.
 */

/**
 * Largest request body. The biggest body is an added .torrent in base64: 8 MiB of JSON holds one of about 6 MiB,
 * far above any real metainfo (a 100 GiB torrent in 16 MiB pieces has ~130 KiB of piece hashes).
 */
export const API_BODY_LIMIT_BYTES = 8 * 1024 * 1024

/** Longest route parameter: a torrent ref is at most 40 characters (an info hash); longer ones are a 404. */
export const API_MAX_PARAM_LENGTH = 128

/** Request headers: Node's default (16 KiB), named here so it is listed with the others. */
export const API_MAX_HEADER_BYTES = 16 * 1024

/**
 * Time to receive a whole request (headers and body). An 8 MiB body over a slow LAN link arrives well within it; a
 * client trickling bytes loses its connection instead of holding it.
 */
export const API_REQUEST_TIMEOUT_MS = 30_000

/** Connections at once: a web UI, a few CLIs and scripts, the event streams; beyond it connections are refused. */
export const API_MAX_CONNECTIONS = 256

/** Failed authentications from one address within AUTH_FAILURE_WINDOW_MS before it is locked out. */
export const AUTH_MAX_FAILURES = 10
/** The window failures are counted in (from the first one). */
export const AUTH_FAILURE_WINDOW_MS = 60_000
/** How long an address that reached AUTH_MAX_FAILURES gets 429 (about 10 guesses a minute at best). */
export const AUTH_LOCKOUT_MS = 60_000
/**
 * Addresses whose failures are remembered. Past it, expired entries go first, then the oldest: an attacker with many
 * addresses can make the node forget some, never grow its memory.
 */
export const AUTH_MAX_TRACKED_ADDRESSES = 4_096

/** Event streams open at once (each holds a socket and a listener per event); past it, 503. */
export const SSE_MAX_CLIENTS = 64
/**
 * Bytes written to an event stream and not yet taken by its client. A `stats` event of 1,000 torrents is about 1 MiB,
 * so a reading client never comes near it; one that stopped reading is dropped past it.
 */
export const SSE_MAX_QUEUE_BYTES = 1024 * 1024
/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
export const SSE_KEEP_ALIVE_MS = 15_000

/** Longest local path accepted (PATH_MAX on Linux). */
export const API_MAX_PATH_LENGTH = 4_096
/** Longest magnet URI: dozens of trackers and web seeds fit; a megabyte of them is not a magnet. */
export const API_MAX_MAGNET_LENGTH = 64 * 1024
/** Longest catalogue query (a name or a file hash). */
export const API_MAX_QUERY_LENGTH = 1_024
/** Longest bearer token accepted in `?token=` (the header is bounded by API_MAX_HEADER_BYTES). */
export const API_MAX_TOKEN_LENGTH = 1_024

/** Largest rate limit, bytes per second: any integer a double holds exactly. */
export const API_MAX_RATE = Number.MAX_SAFE_INTEGER
/** Largest seed ratio limit. */
export const API_MAX_SEED_RATIO = 1_000_000
/** Largest seed idle limit: one year, in minutes. */
export const API_MAX_SEED_IDLE_MINUTES = 525_600
/** Largest queue limit (torrents downloading or seeding at once). */
export const API_MAX_ACTIVE_TORRENTS = 10_000
