export { PartialFile, PARTIAL_SUFFIX } from './partial-file.js'
export { libraryPath, ensureDir, hasVerifiedCopy, saveCopy } from './library.js'
export { SharedFiles, type SharedFile } from './shared-files.js'
export { PieceStore, type StoreFile, type UploadBlock } from './piece-store.js'
