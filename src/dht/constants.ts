/**
 * Every default timeout and bound of the DHT node, in one place, each with the reason for its value.
 * docs/dht.md lists them for operators; each can be overridden through DhtOptions.
 */

/** BEP 5: a bucket holds K nodes, "currently eight"; a lookup ends with the K closest nodes that answered. */
export const DHT_K = 8
/** Kademlia's α: queries a lookup keeps in flight (slow ones excepted, see DHT_SLOW_QUERY_MS). */
export const DHT_ALPHA = 3
/** Node ids are 160 bits (BEP 5), so there are at most 160 buckets: the table holds at most 160 × K nodes. */
export const DHT_ID_BYTES = 20
export const DHT_MAX_BUCKETS = 160
/** Replacement candidates kept per bucket (nodes that did not fit, used when a member goes bad). */
export const DHT_REPLACEMENTS_PER_BUCKET = 8
/** BEP 5: a node that answered within 15 minutes is good; after that it is questionable. */
export const DHT_NODE_GOOD_MS = 15 * 60_000
/** BEP 5: a node is bad after it "fails to respond to multiple queries in a row" (try once more before discarding). */
export const DHT_NODE_BAD_FAILURES = 2
/** A bad node that fails this many times in a row is removed even without a replacement. */
export const DHT_NODE_REMOVE_FAILURES = 4
/** BEP 5: buckets unchanged for 15 minutes are refreshed with a find_node for a random id in their range. */
export const DHT_BUCKET_REFRESH_MS = 15 * 60_000
/** How often the table is looked after (questionable nodes pinged, stale buckets refreshed, peers expired). */
export const DHT_MAINTENANCE_INTERVAL_MS = 60_000
/** Questionable nodes pinged per maintenance round (the rest wait for the next round). */
export const DHT_MAINTENANCE_PINGS = 16
/** Stale buckets refreshed per maintenance round. */
export const DHT_MAINTENANCE_REFRESHES = 2

/** BEP 5: "a secret that changes every five minutes and tokens up to ten minutes old are accepted". */
export const DHT_TOKEN_ROTATE_MS = 5 * 60_000
/** Token bytes: 8 bytes of SHA-1(secret, ip) (BEP 5: "a short binary string"). */
export const DHT_TOKEN_BYTES = 8
/** Longest token we accept from a remote node or echo back in announce_peer (libtorrent's are 4 bytes, ours 8). */
export const DHT_MAX_TOKEN_BYTES = 64

/** One query: no answer within this is a timeout (a failure counted against the node). */
export const DHT_QUERY_TIMEOUT_MS = 2_000
/** A query unanswered this long stops counting against α, so a lookup is not stalled by dead nodes. */
export const DHT_SLOW_QUERY_MS = 750
/** Transactions (queries awaiting an answer) at once, all lookups together; more wait in line. */
export const DHT_MAX_IN_FLIGHT = 64
/** Queries waiting for a free transaction slot; past it a query fails at once with ERR_DHT_BUSY. */
export const DHT_MAX_QUEUED = 1_024
/** Lookups running at once; more wait for one to end (each has at most α plus slow queries in flight). */
export const DHT_MAX_LOOKUPS = 16
/** Queries one lookup may send, whatever it hears. */
export const DHT_LOOKUP_MAX_QUERIES = 256
/** Candidates one lookup keeps (the closest to the target; farther ones are dropped). */
export const DHT_LOOKUP_MAX_CANDIDATES = 128
/** A lookup ends after this long, with what it found. */
export const DHT_LOOKUP_TIMEOUT_MS = 20_000
/** Peers one lookup collects and reports (get_peers values from all nodes, deduplicated). */
export const DHT_LOOKUP_MAX_PEERS = 1_000
/** How long start()'s bootstrap may take before ready() resolves anyway. */
export const DHT_BOOTSTRAP_TIMEOUT_MS = 10_000
/** Find_node lookups for random ids in sparse buckets right after the first bootstrap lookup. */
export const DHT_BOOTSTRAP_REFRESHES = 4
/** Bootstrap addresses taken from options (more are ignored). */
export const DHT_MAX_BOOTSTRAP = 64
/** Nodes imported from a saved table (a table holds at most 160 × K anyway). */
export const DHT_MAX_IMPORT = DHT_MAX_BUCKETS * DHT_K
/** Pings to addresses handed to addNode() (BEP 5 PORT messages) waiting or in flight; more are dropped. */
export const DHT_MAX_ADD_NODE_PINGS = 64

/** Info hashes whose peers we store for others (least recently announced dropped first). */
export const DHT_MAX_INFO_HASHES = 10_000
/** Peers stored per info hash (oldest announce dropped first). */
export const DHT_MAX_PEERS_PER_INFO_HASH = 200
/** Peers stored over all info hashes. */
export const DHT_MAX_PEERS_TOTAL = 100_000
/** A stored peer that has not announced again within this is forgotten (clients re-announce every 15-30 min). */
export const DHT_PEER_TTL_MS = 30 * 60_000
/** get_peers `values` in one reply: 50 × 8 bytes keeps the reply well under BEP 32's 1,024-byte datagram. */
export const DHT_MAX_VALUES_PER_REPLY = 50

/** Incoming queries per source address: a token bucket of this burst, refilled at this rate. */
export const DHT_RATE_BURST = 40
export const DHT_RATE_PER_SECOND = 20
/** Addresses whose buckets are kept (least recently seen reused first). */
export const DHT_RATE_MAX_ADDRESSES = 4_096

/** Largest datagram decoded: BEP 32 says send at most 1,024 bytes; anything far larger is hostile. */
export const DHT_MAX_PACKET_BYTES = 8_192
/** Longest transaction id accepted in a query (ours are 2 bytes, libtorrent's 2, others up to 4). */
export const DHT_MAX_TID_BYTES = 16
/** Nodes read from one reply's `nodes`/`nodes6` (K are expected; a few more tolerated, the rest ignored). */
export const DHT_MAX_NODES_PER_REPLY = 32
/** Values read from one get_peers reply. */
export const DHT_MAX_VALUES_READ = 200

/** Our `v` (BEP 5: two client letters and two version bytes): "PS" for p2pshare, version 0.1. */
export const DHT_CLIENT_VERSION = Buffer.from([0x50, 0x53, 0x00, 0x01])
