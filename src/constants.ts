/**
 * Every default timeout and limit of the library, in one place, each with the reason for its value.
 * docs/limits.md lists the bounds a remote party meets.
 */

/** The published Python peers' chunk size (ORIGINAL-PYTHON.md): 1 MiB, raw bytes behind a 4-byte length. */
export const PUBLISHED_CHUNK_SIZE = 1024 * 1024
/** The seed README's chunk size: 1 KiB, base64 text. */
export const README_CHUNK_SIZE = 1024

/** Tracker defaults, as the seed's server.py: 127.0.0.1:5000. */
export const DEFAULT_TRACKER_HOST = '127.0.0.1'
export const DEFAULT_TRACKER_PORT = 5000
export const DEFAULT_TRACKER_URL = `http://${DEFAULT_TRACKER_HOST}:${DEFAULT_TRACKER_PORT}`
/** Default peer port, as hybrid_peer.py. */
export const DEFAULT_PEER_PORT = 6000
/** Where downloads and shared copies live, by file hash, as the seed. */
export const DEFAULT_LIBRARY_DIR = 'downloads/p2p_share'

/** HTTP calls to the tracker: the Python peers give up after 5 s; so do we. */
export const TRACKER_REQUEST_TIMEOUT_MS = 5_000
/** Largest tracker reply we read: a lookup of a file with many 1 KiB-dialect peers is big, but not this big. */
export const TRACKER_MAX_REPLY_BYTES = 32 * 1024 * 1024

/** Legacy chunk fetch: connect within this, like the seed's 5 s per-chunk timeout. */
export const LEGACY_CONNECT_TIMEOUT_MS = 5_000
/** Legacy chunk fetch: no byte for this long means the peer is stalled (seed README: 5 s per chunk request). */
export const LEGACY_IDLE_TIMEOUT_MS = 5_000
/**
 * Legacy chunk fetch: the whole reply must arrive within LEGACY_FETCH_TIMEOUT_MS of the connect plus its size at
 * LEGACY_FETCH_MIN_BYTES_PER_S (a 1 MiB chunk: 10 s + about 23 min), time our own download limit holds the socket back
 * not counted. Only a peer trickling bytes meets it (a byte every 4 s keeps the idle timeout quiet and would hold a
 * worker, and the pieces it claimed, for weeks); a slow honest one is far faster, and the chunk moves to another peer.
 */
export const LEGACY_FETCH_TIMEOUT_MS = 10_000
export const LEGACY_FETCH_MIN_BYTES_PER_S = 1024
/** Parallel chunk fetches, as the seed's 10 workers. */
export const DEFAULT_LEGACY_WORKERS = 10
/** Upper bound for --workers: each holds one chunk in memory (1 MiB in the published dialect). */
export const MAX_LEGACY_WORKERS = 64
/** Attempts for one chunk before the download gives up on it (each attempt prefers a peer not yet tried). */
export const LEGACY_MAX_ATTEMPTS_PER_CHUNK = 5
/** Consecutive failures after which a peer gets no more chunks in this download. */
export const LEGACY_PEER_MAX_FAILURES = 3

/** Chunk server: the Python server reads one request of at most 1024 bytes. */
export const LEGACY_MAX_REQUEST_BYTES = 1024
/** Chunk server: a client must send its request within this time after connecting. */
export const LEGACY_REQUEST_TIMEOUT_MS = 5_000
/** Chunk server: a request that arrived without its third token gets this long for the rest, then is judged. */
export const LEGACY_REQUEST_GRACE_MS = 250
/** Chunk server: a client that reads nothing for this long while we send is dropped (the Python client waits 10 s). */
export const LEGACY_SEND_IDLE_TIMEOUT_MS = 10_000
/**
 * Chunk server: the whole reply must be taken within LEGACY_SEND_TIMEOUT_MS plus its size at LEGACY_SEND_MIN_BYTES_PER_S
 * (a 1 MiB chunk: 10 s + 256 s), time it waits for our own upload limit not counted. Without a deadline a client
 * reading a byte now and then, or sending one, holds its place under the connection caps for good. 4 KiB/s is 32
 * kbit/s: ten Python workers sharing a 320 kbit/s link still fit; a slower client fails the chunk and asks again.
 */
export const LEGACY_SEND_TIMEOUT_MS = 10_000
export const LEGACY_SEND_MIN_BYTES_PER_S = 4 * 1024
/** Chunk server: connections served at once (the Python downloader opens 10; several downloaders fit). */
export const LEGACY_MAX_CONNECTIONS = 128
/** Chunk server: connections at once from one address. */
export const LEGACY_MAX_CONNECTIONS_PER_IP = 32
/** Largest chunk we ever accept in a legacy reply: a length prefix above it is a protocol error. */
export const LEGACY_MAX_CHUNK_BYTES = 16 * 1024 * 1024

/** Progress output on a terminal is redrawn at most this often; plain lines are printed this often. */
export const PROGRESS_TTY_INTERVAL_MS = 200
export const PROGRESS_PLAIN_INTERVAL_MS = 2_000
