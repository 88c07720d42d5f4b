export {
  downloadLegacy,
  type LegacyDownloadOptions, type LegacyDownloadResult, type LegacyProgress, type LegacyDownloadEvent
} from './legacy-download.js'
