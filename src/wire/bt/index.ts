export { PROTOCOL, HANDSHAKE_LENGTH, encodeHandshake, decodeHandshake, type Handshake, type Extensions } from './handshake.js'
export { MSG, BLOCK_SIZE, MAX_BLOCK_BYTES, MAX_EXTENDED_BYTES, encode, encodeMessage, type Message, type MessageType } from './messages.js'
export { MessageDecoder, type WireHandler, type DecoderLimits } from './decoder.js'
export {
  EXTENDED_HANDSHAKE_ID, METADATA_PIECE_SIZE, MAX_METADATA_BYTES, OUR_EXTENSIONS,
  encodeExtendedHandshake, decodeExtendedHandshake, encodeMetadataMessage, decodeMetadataMessage,
  type ExtendedHandshake, type MetadataMessage
} from './extension.js'
export { PeerWire, HANDSHAKE_TIMEOUT_MS, IDLE_TIMEOUT_MS, KEEPALIVE_INTERVAL_MS, type PeerWireHandler, type PeerWireOptions } from './connection.js'
