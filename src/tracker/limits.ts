/**
 * The tracker's limits and timings, each with the reason for its value. docs/tracker-api.md lists the
 * ones an HTTP client meets.
 */

/**
 * Largest request body. A seed-README peer lists one chunk id per KiB: a 1 GiB file is 1,048,576 ids,
 * about 7.5 MiB of JSON, so 8 MiB admits a whole 1 GiB file in that dialect (and any file in the
 * published 1 MiB dialect).
 */
export const TRACKER_BODY_LIMIT_BYTES = 8 * 1024 * 1024

/** Longest route parameter (`/get_file/<name>`): a 255-byte name percent-encoded is at most 765 characters. */
export const TRACKER_MAX_PARAM_LENGTH = 1024

/** A file name is a base name of at most this many bytes of UTF-8 (the common file system limit, NAME_MAX). */
export const MAX_FILE_NAME_BYTES = 255

/** Longest `ip` accepted before parsing it: an IPv6 literal with an embedded IPv4 is at most 45 characters. */
export const MAX_IP_LENGTH = 64

/** The two legacy chunk sizes (seed README: 1 KiB; published Python: 1 MiB) — the only `chunk_size` values. */
export const LEGACY_CHUNK_SIZES: readonly number[] = [1024, 1024 * 1024]

/** Chunk size used to bound chunk ids when a registration names none: the finer dialect, so nothing valid is refused. */
export const DEFAULT_BOUND_CHUNK_SIZE = 1024

/**
 * A registration's chunk ids are stored as ranges. A peer holding the whole file has one range; a partial
 * holder has one per hole. Above this the registration is refused, so one peer's row stays small
 * (at most ~300 KiB of range text).
 */
export const MAX_CHUNK_RANGES_PER_PEER = 16_384

/**
 * Files in the catalogue. A file whose peers are gone stays listed; only the operator removes files
 * (`p2pshare tracker remove`), so this is a hard cap.
 */
export const TRACKER_MAX_FILES = 100_000

/** Legacy peers registered for one file. Dead peers are pruned, which frees their places. */
export const TRACKER_MAX_PEERS_PER_FILE = 1_000

/** Legacy peer registrations in total (all files). */
export const TRACKER_MAX_PEERS = 100_000

/** A lookup lists at most this many peers (in registration order): the seed's downloader picks one at random per chunk. */
export const TRACKER_LOOKUP_MAX_PEERS = 200

/**
 * Bytes of chunk lists in one `/lookup` reply, in either form (the plain `chunks` id lists, or `chunk_ranges` for a
 * client that asks for them with `chunk_format=ranges`). Peers whose list would go past it are left out of that reply
 * (a later, smaller one may still fit). 1 MiB: ~150,000 plain ids, a whole file of ~146 MiB in the 1 KiB dialect or of
 * ~100 GiB in the 1 MiB one (a seed peer sends no `chunk_size`, so its ids are budgeted as wide as 1 KiB ids would be;
 * ~146 GiB with it), and in the ranges form thousands of peers whatever their files' sizes. A 1 KiB-dialect
 * peer of a bigger file (more ids than fit) is left out of plain replies: the only readers of those lists are the
 * README dialect's (no published code; the published Python reads 1 MiB chunks) and our older clients, while our
 * client asks for ranges. Without the bound, two registrations of 2^20 ids made every lookup 14.6 MB and 0.15 s of
 * CPU (issue 9). Measured on the plain form at the bound: ~11 ms of CPU for whole-file lists, ~30 ms for lists of
 * single ids (the most fragmented a registration may be); the ranges form ~0.2 ms, ~9 ms.
 */
export const TRACKER_LOOKUP_MAX_CHUNK_BYTES = 1024 * 1024

/** Liveness probing of registered peers: every minute by default. */
export const DEFAULT_PROBE_INTERVAL_MS = 60_000
/** A peer is pruned after this many consecutive failed probes (three minutes of silence at the default interval). */
export const DEFAULT_PROBE_FAILURES_TO_PRUNE = 3
/** The default probe's TCP connect timeout: a live peer on a LAN or the Internet accepts well within it. */
export const PROBE_CONNECT_TIMEOUT_MS = 3_000
/**
 * Any probe (also an injected one) that has not answered after this long counts as failed and is aborted,
 * so one stuck probe cannot stall a round.
 */
export const PROBE_WATCHDOG_MS = 5_000
/** Probes at once: enough to cover a round quickly, few enough not to look like a port scan from one host. */
export const PROBE_CONCURRENCY = 16
/**
 * Distinct (ip, port) endpoints probed per round. The least recently probed go first, so with more
 * endpoints than this every one is still reached, over several rounds. Worst case a round takes
 * 1024 / 16 * 5 s = 320 s.
 */
export const PROBE_MAX_PER_ROUND = 1_024

/** SQLite waits this long for a lock held by another connection to the same file before failing. */
export const DB_BUSY_TIMEOUT_MS = 5_000

// BitTorrent announce (BEP 3, 23, 7) and scrape (BEP 48). Swarms live in memory only.

/** How often clients are asked to announce (BEP 3 `interval`): half an hour, as most public trackers. */
export const DEFAULT_ANNOUNCE_INTERVAL_S = 1_800
/** Largest `announceIntervalS` accepted: one day (peers are kept for two intervals, so memory is held that long). */
export const MAX_ANNOUNCE_INTERVAL_S = 86_400
/**
 * A peer that has not announced for two intervals plus this grace is dropped: one missed announce (a
 * lost request, a client that rounds its timer up) is forgiven, two are not.
 */
export const ANNOUNCE_EXPIRY_GRACE_S = 120
/** Peers in a reply when the client sends no `numwant` (BEP 3 suggests 50). */
export const DEFAULT_NUMWANT = 50
/** Most peers in one reply, whatever `numwant` asks: 200 compact peers are 1.2 KB (IPv4) to 3.6 KB (IPv6). */
export const MAX_NUMWANT = 200
/**
 * Peers in one swarm. At this size a new peer takes the place of the least recently announced one (after expired
 * ones are dropped). ~320 bytes of memory each (measured on Node 20: object, strings, map entry, compact
 * bytes): 100,000 peers are ~32 MB.
 */
export const TRACKER_MAX_PEERS_PER_SWARM = 100_000
/**
 * Announced peers in all swarms together: a million (the load target of issue 4: 1,000,000 peers in 100,000 swarms
 * within 1 GiB; measured in bench/results/tracker.md).
 */
export const TRACKER_MAX_ANNOUNCED_PEERS = 1_000_000
/** Swarms (distinct info hashes announced) at once. Empty swarms are dropped by the sweep. */
export const TRACKER_MAX_SWARMS = 100_000
/**
 * Every read of a swarm drops its expired peers first (exactly, in O(1) when there are none); a sweep of all
 * swarms at this period does it for swarms nobody reads and drops swarms left empty.
 */
export const SWARM_SWEEP_INTERVAL_MS = 60_000
/** `info_hash` parameters in one scrape (opentracker's multiscrape bound is 64 too). */
export const TRACKER_SCRAPE_MAX_HASHES = 64
/** Announced (BitTorrent) peers listed in one `/lookup` reply's `bt_peers`, picked at random. */
export const TRACKER_LOOKUP_MAX_BT_PEERS = 200

// UDP tracker protocol (BEP 15), on the HTTP port's number. Swarms are the ones HTTP announces use.

/**
 * Connection ids are made per time window of this length (see connection-ids.ts). With
 * CONNECTION_ID_WINDOWS_ACCEPTED = 3 an id lives 2 to 3 minutes: BEP 15 asks a tracker to accept one for 2 minutes
 * after sending it, and a client to use it for 1.
 */
export const CONNECTION_ID_WINDOW_MS = 60_000
/** Windows a connection id is accepted in, counting the one it was made in. */
export const CONNECTION_ID_WINDOWS_ACCEPTED = 3
/**
 * Most peers in an IPv6 announce reply (18 bytes each): 20 + 67 × 18 = 1,226 bytes of payload fit the 1,280-byte
 * minimum IPv6 MTU with the IPv6 and UDP headers (48 bytes), so a reply is never fragmented — fragmented UDP is often
 * dropped on the way. IPv4 replies are bounded by MAX_NUMWANT: 20 + 200 × 6 = 1,220 bytes fit any IPv4 path's 1,500.
 */
export const UDP_MAX_PEERS_IPV6 = 67
/** Info hashes in one UDP scrape: BEP 15's "about 74" (16 + 74 × 20 = 1,496 bytes of request). More is refused. */
export const UDP_SCRAPE_MAX_HASHES = 74
/**
 * Socket buffers asked of the kernel for the tracker's UDP socket (it grants at most net.core.rmem_max/wmem_max):
 * room for bursts of announces while the event loop is busy elsewhere. A full buffer drops packets, and clients
 * retransmit.
 */
export const UDP_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
/** Attempts at finding one port number free for both TCP and UDP when listening on port 0. */
export const LISTEN_PORT_ATTEMPTS = 8

// Catalogue: search and paging (`GET /files`), metainfo (`/register`'s `metainfo`, `GET /torrent/<info hash>`),
// completed downloads.

/**
 * Entries in one `/files` reply, asked for (`limit`) or not. Without `limit` a reply lists every match up to this
 * bound, as the seed's `/files` listed the whole catalogue (its clients send no parameters and expect all files);
 * `total` tells how many matched, so a client can page through the rest. 10,000 entries are about 3 MB of JSON
 * (a tenth of what our client reads, TRACKER_MAX_REPLY_BYTES) and take tens of ms to build.
 */
export const TRACKER_FILES_MAX_LIMIT = 10_000
/** `limit` when the request names none: the bound itself (see TRACKER_FILES_MAX_LIMIT). */
export const TRACKER_FILES_DEFAULT_LIMIT = TRACKER_FILES_MAX_LIMIT
/** Longest `q`, in bytes of UTF-8: a name is at most MAX_FILE_NAME_BYTES, so a longer text can match nothing. */
export const TRACKER_MAX_QUERY_BYTES = MAX_FILE_NAME_BYTES
/**
 * Largest metainfo (.torrent) a registration may upload, decoded (base64 in the JSON body is 4/3 of it, which the
 * 8 MiB body limit admits). 4 MiB holds ~200,000 piece hashes: a single file of 3 TiB at 16 MiB pieces, the largest
 * piece length `create` picks. libtorrent's own limit for a .torrent is 10 MB; the catalogue holds up to
 * TRACKER_MAX_FILES of them, so this also bounds the database.
 */
export const TRACKER_MAX_METAINFO_BYTES = 4 * 1024 * 1024
/**
 * Completed downloads (a peer's first `event=completed`) are counted in memory and written to the catalogue in one
 * transaction at this period and when the tracker closes: one write per announce would put a synchronous disk
 * flush (synchronous=FULL) on the announce path. A crash loses at most this much of the count.
 */
export const COMPLETED_FLUSH_INTERVAL_MS = 5_000
/** Distinct info hashes with unwritten completions: at this many, they are written at once rather than at the period. */
export const COMPLETED_MAX_PENDING = 10_000

// Abuse limits (rate-limit.ts, abuse.ts): per-IP request budgets, URL and header caps, the minimum announce interval.

/**
 * A rate budget: a token bucket per client address that holds at most `burst` requests and refills at `perSecond`.
 * A client within its budget never waits; past it, it is told when to come back.
 */
export interface RateBudget {
  /** Requests an idle client may send at once. */
  burst: number
  /** Sustained requests per second. */
  perSecond: number
}

/**
 * BitTorrent announces and scrapes per client address (HTTP). One client announces each torrent once per interval
 * (1800 s) plus its events: a client with 1,000 torrents averages 0.6/s but sends its 1,000 `started` announces at
 * once. The budget is sized for a busy NAT (a campus or carrier-grade NAT: 500 users × 50 torrents behind one
 * address average 14 announces/s, plus scrapes, plus every client starting together after a power cut) and is
 * still under 1 % of what the tracker serves (~18,000 announces/s): a single address cannot take the tracker down.
 */
export const DEFAULT_ANNOUNCE_RATE: RateBudget = { burst: 2_000, perSecond: 100 }
/**
 * UDP tracker packets (connect, announce, scrape) per source address: the announce budget, in a table of its own.
 * A UDP source can be spoofed, so a flood in a victim's name must not also lock the victim out of HTTP.
 */
export const DEFAULT_UDP_RATE: RateBudget = DEFAULT_ANNOUNCE_RATE
/**
 * Seed API writes (`POST /register`, and any method other than GET/HEAD) per address. A peer registers each file it
 * shares once (and again after a restart); 200 at once covers a large shared folder, 10/s a NAT of sharing users.
 */
export const DEFAULT_WRITE_RATE: RateBudget = { burst: 200, perSecond: 10 }
/**
 * Reads (`/lookup`, `/files`, `/torrent`, the web page, `/healthz`, `/metrics`, unknown routes) per address: a page
 * load with its live counts is a handful of requests, a downloader looks up each file once; 500 at once and 50/s
 * leave any human and any NAT of downloaders untouched and bound what one scraper of the catalogue can cost.
 */
export const DEFAULT_READ_RATE: RateBudget = { burst: 500, perSecond: 50 }
/**
 * A read's cost grows with its reply: one request, plus one more for every this many bytes of reply. A client's reads
 * then get it at most 50 × 16 KiB = 800 KiB/s of replies (8 MiB at once), so CPU and bandwidth one address costs stay
 * bounded however big the replies it picks: a largest `/lookup` (~1.1 MiB, ~70 requests' worth) can be had about 7
 * times at once and then once every 1.4 s. Replies under 16 KiB (nearly all: a lookup of a file with a few peers, a
 * page of the web UI's 25 files, health, metrics) cost one request as before.
 */
export const READ_REPLY_BYTES_PER_TOKEN = 16 * 1024
/**
 * Client addresses (IPv4 addresses, IPv6 /64 prefixes) tracked per budget: ~100 bytes each, ~10 MB per budget at
 * the bound. When full, the least recently seen address is forgotten (it starts again with a full burst): an idle
 * address loses nothing, and only a flood from more addresses than this within a refill time gets any extra.
 */
export const RATE_LIMIT_MAX_ADDRESSES = 100_000
/**
 * Longest `/announce` or `/scrape` request URL (path and query). A scrape of TRACKER_SCRAPE_MAX_HASHES hashes, each
 * percent-encoded in full (`&info_hash=` + 60 characters), is ~4.5 KiB; an announce is ~300-600 bytes. 8 KiB leaves
 * room for a passkey and parameters we ignore; longer is refused before it is parsed.
 */
export const TRACKER_MAX_ANNOUNCE_URL_BYTES = 8 * 1024
/**
 * Largest HTTP head (request line and headers), Node's own default (16 KiB) pinned so that `--max-http-header-size`
 * in NODE_OPTIONS cannot raise it: no tracker route needs more. Past it the request is answered 431 and closed.
 */
export const TRACKER_MAX_HEADER_BYTES = 16 * 1024
/**
 * Open HTTP connections at once; more are refused at accept. A BitTorrent client opens one per announce and most
 * close it after the reply, so even 10,000 announces per second hold a few hundred; each costs a few KiB of socket
 * buffers, so the bound is also one on memory (~100 MB).
 */
export const TRACKER_MAX_CONNECTIONS = 20_000
/** An idle keep-alive connection of the front door (announce, scrape) is closed after this long, ms. */
export const TRACKER_IDLE_TIMEOUT_MS = 30_000

/**
 * Longest `min interval` a reply states, seconds. A downloader that still needs peers re-announces sooner than the
 * regular interval (ours every 30 s while downloading; libtorrent when it is short of peers, never sooner than `min
 * interval`): 30 s lets it, and still turns a client that hammers the tracker into one announce per 30 s that counts.
 */
export const MAX_MIN_ANNOUNCE_INTERVAL_S = 30
/**
 * A regular announce is `early` only when it comes this much sooner than `min interval`: a client that waits exactly
 * `min interval` by its own clock (timers fire a little early or late, requests take time) is not punished for it.
 */
export const MIN_INTERVAL_TOLERANCE_MS = 2_000

/**
 * `min interval` of announce replies: half the interval, at most MAX_MIN_ANNOUNCE_INTERVAL_S. A peer that announces
 * again sooner (less MIN_INTERVAL_TOLERANCE_MS) without an event (a regular announce) is answered with the swarm's
 * counts and no peers, and the tracker's record of it is left as it was; `started`, `completed` and `stopped` are
 * always applied.
 */
export function minAnnounceIntervalS (intervalS: number): number {
  return Math.max(1, Math.min(MAX_MIN_ANNOUNCE_INTERVAL_S, Math.floor(intervalS / 2)))
}
