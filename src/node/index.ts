export { SharingPeer, type ShareOptions, type ShareInfo } from './share.js'
export { downloadFile, resolveTarget, type DownloadOptions, type DownloadOutcome } from './download.js'
export { PeerListener, type PeerListenerOptions, type ListenerStats, type InboundTorrent } from './peer-listener.js'
export { defaultAdvertiseIp, isLoopbackHost } from './address.js'
