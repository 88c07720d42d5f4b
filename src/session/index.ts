export { Session, SESSION_VERSION, DEFAULT_MAX_ACTIVE_DOWNLOADS, DEFAULT_MAX_ACTIVE_SEEDS, MAX_TORRENTS, type SessionOptions } from './session.js'
export { Torrent } from './torrent.js'
export { ResumeStore, type TorrentRecord, type FileStamp } from './resume-store.js'
export * from './types.js'
