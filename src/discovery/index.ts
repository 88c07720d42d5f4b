export {
  SeedTrackerClient, trackerBaseUrl,
  type LegacyPeer, type LookupResult, type CatalogueEntry, type Registration, type RegisterResult
} from './seed-tracker.js'
