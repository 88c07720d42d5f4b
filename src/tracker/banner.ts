/** The tracker's startup banner: server.py's lines (SEED-README.md, "Step 1"), with our URL. */
export function trackerBanner (url: string): string {
  return [
    `Tracker server running on ${url}`,
    'Endpoints:',
    '   POST   /register - Register a peer',
    '   GET    /lookup?file_name=<n> - Find peers for a file',
    '   GET    /files - List all tracked files'
  ].join('\n')
}
