export * from './legacy/index.js'
export { sniffProtocol, type WireProtocol } from './sniff.js'
export * from './bt/index.js'
export { moveToUserBuffer, type MovedSocket } from './user-buffer.js'
