/**
 * Whoever sends a transfer blocks: a BitTorrent connection (PeerSession) or a legacy peer fetched with GET_CHUNK
 * (LegacySource). The transfer counts, blames and bans both the same way through this one face, never by asking
 * which class a peer is.
 */
export interface Peer {
  /** `host:port` (`[v6]:port`), as shown in logs and ban lists. */
  readonly id: string
  readonly host: string
  readonly port: number
  readonly protocol: 'bittorrent' | 'get-chunk'
  /** Pieces that failed their check because of this peer's blocks (BAN_STRIKES of them ban it). */
  strikes: number
  /** The peer id its handshake gave, refused after a ban; undefined where the protocol has none (GET_CHUNK). */
  readonly peerId: Buffer | undefined
  /** End the connection or the source; its outstanding work goes back to the others. */
  disconnect: (reason: string) => void
}
