// The tracker's web page: lists and searches the catalogue (GET /files) with live swarm counts.
// Plain browser JavaScript, no build step, no framework, nothing from another origin.
// Every string from the server is hostile input (file names come from anyone who registers): it is only ever put
// in the page as text (textContent) or, for links, after its scheme is checked. Never innerHTML.
/* global window, document, fetch, URLSearchParams */
'use strict'

/** Counts refresh this often while the tab is visible. */
const REFRESH_MS = 5000
/** A search is sent this long after the last key press. */
const SEARCH_DEBOUNCE_MS = 250

const params = new URLSearchParams(window.location.search)
/** A private tracker's passkey (`/?passkey=K`), sent along with every API call and .torrent link. */
const passkey = params.get('passkey')

const state = {
  q: '',
  /** name | size | seeders | added, or null for the tracker's own order. */
  sort: null,
  order: 'asc',
  offset: 0,
  limit: 25
}

const el = {
  search: document.getElementById('search'),
  pageSize: document.getElementById('page-size'),
  status: document.getElementById('status'),
  body: document.querySelector('#files tbody'),
  headers: document.querySelectorAll('#files th[data-sort]'),
  prev: document.getElementById('prev'),
  next: document.getElementById('next'),
  range: document.getElementById('range')
}

let refreshTimer
let searchTimer
let inFlight
let sequence = 0

function humanSize (bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return ''
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`
}

/** A count, or an empty cell when the tracker does not report it. */
function count (value) {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : ''
}

/** `added_at` as a Date: ms or seconds since the epoch, or an ISO string. */
function addedDate (value) {
  let ms
  if (typeof value === 'number' && Number.isFinite(value)) ms = value < 1e11 ? value * 1000 : value
  else if (typeof value === 'string') ms = Date.parse(value)
  if (ms === undefined || Number.isNaN(ms)) return undefined
  return new Date(ms)
}

function formatDate (date) {
  if (date === undefined) return ''
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** A URL on this tracker, with the passkey when the page has one. */
function trackerUrl (path, query) {
  const url = new URL(path, window.location.href)
  if (query !== undefined) {
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value))
    }
  }
  if (passkey !== null && !url.searchParams.has('passkey')) url.searchParams.set('passkey', passkey)
  return url
}

function cell (text, className) {
  const td = document.createElement('td')
  if (className !== undefined) td.className = className
  td.textContent = text
  return td
}

function link (href, text, title) {
  const a = document.createElement('a')
  a.href = href
  a.textContent = text
  a.title = title
  a.rel = 'noreferrer'
  return a
}

/** The links of a file: its magnet (only a `magnet:` URL) and its .torrent (only http(s), on any path the tracker gives). */
function linksCell (file) {
  const td = cell('', 'links')
  if (typeof file.magnet === 'string' && file.magnet.startsWith('magnet:?')) {
    td.append(link(file.magnet, 'magnet', 'Magnet link'))
  }
  if (typeof file.torrent_url === 'string' && file.torrent_url !== '') {
    let url
    try {
      url = trackerUrl(file.torrent_url)
    } catch {
      url = undefined
    }
    if (url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:')) {
      const a = link(url.href, '.torrent', 'Download the .torrent file')
      a.setAttribute('download', '')
      td.append(a)
    }
  }
  return td
}

/**
 * Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C). As text they still reorder
 * how a name shows (`photo\u202Egpj.exe` reads `photoexe.jpg`); the tracker refuses them in names registered now, but
 * a catalogue may hold older ones (or come from another tracker), so they are shown as U+FFFD instead.
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu

function shownName (text) {
  return text.replace(BIDI_CONTROLS, '\ufffd')
}

function row (file) {
  const tr = document.createElement('tr')
  if (typeof file.file_hash === 'string') tr.dataset.fileHash = file.file_hash
  const name = cell(typeof file.file_name === 'string' ? shownName(file.file_name) : '', 'name')
  const hash = document.createElement('span')
  hash.className = 'hash'
  hash.textContent = typeof file.info_hash === 'string' ? `info hash ${file.info_hash}` : (typeof file.file_hash === 'string' ? `file hash ${file.file_hash}` : '')
  name.append(hash)
  const added = addedDate(file.added_at)
  const addedCell = cell(formatDate(added), 'added')
  if (added !== undefined) addedCell.title = added.toISOString()
  const size = cell(humanSize(file.file_size), 'size num')
  if (typeof file.file_size === 'number') size.title = `${file.file_size} bytes`
  tr.append(
    name,
    size,
    cell(count(file.seeders), 'seeders num'),
    cell(count(file.leechers), 'leechers num'),
    cell(count(file.completed), 'completed num'),
    cell(count(file.peers_count), 'peers num'),
    addedCell,
    linksCell(file)
  )
  return tr
}

const SORT_KEYS = {
  name: (f) => (typeof f.file_name === 'string' ? f.file_name.toLowerCase() : ''),
  size: (f) => (typeof f.file_size === 'number' ? f.file_size : 0),
  seeders: (f) => (typeof f.seeders === 'number' ? f.seeders : 0),
  added: (f) => addedDate(f.added_at)?.getTime() ?? 0
}

/**
 * An older tracker answers `{files}` with every match and no `total`: then this page sorts and pages by itself.
 */
function pageLocally (files) {
  let list = files
  if (state.sort !== null) {
    const key = SORT_KEYS[state.sort]
    const sign = state.order === 'desc' ? -1 : 1
    list = [...files].sort((a, b) => {
      const x = key(a)
      const y = key(b)
      return (x < y ? -1 : x > y ? 1 : 0) * sign
    })
  }
  return { files: list.slice(state.offset, state.offset + state.limit), total: list.length }
}

function showStatus (text, isError) {
  el.status.textContent = text
  el.status.classList.toggle('error', isError === true)
}

function render (files, total) {
  const rows = files.map(row)
  if (rows.length === 0) {
    const tr = document.createElement('tr')
    const td = cell(state.q === '' ? 'No files registered yet.' : 'No file name contains this text.', 'empty')
    td.colSpan = 8
    tr.append(td)
    rows.push(tr)
  }
  el.body.replaceChildren(...rows)
  const first = files.length === 0 ? 0 : state.offset + 1
  const last = state.offset + files.length
  el.range.textContent = `${first}–${last} of ${total}`
  el.prev.disabled = state.offset === 0
  el.next.disabled = last >= total
  showStatus(`${total} ${total === 1 ? 'file' : 'files'}${state.q === '' ? '' : ' match'}`)
  for (const th of el.headers) {
    const sorted = th.dataset.sort === state.sort
    th.setAttribute('aria-sort', sorted ? (state.order === 'desc' ? 'descending' : 'ascending') : 'none')
  }
}

function scheduleRefresh () {
  clearTimeout(refreshTimer)
  if (!document.hidden) refreshTimer = setTimeout(load, REFRESH_MS)
}

async function load () {
  clearTimeout(refreshTimer)
  inFlight?.abort()
  const controller = new AbortController()
  inFlight = controller
  const mine = ++sequence
  const query = { q: state.q, limit: state.limit, offset: state.offset }
  if (state.sort !== null) {
    query.sort = state.sort
    query.order = state.order
  }
  try {
    const response = await fetch(trackerUrl('/files', query), { signal: controller.signal, headers: { accept: 'application/json' } })
    const data = await response.json().catch(() => ({}))
    if (mine !== sequence) return
    if (!response.ok) {
      showStatus(`The tracker refused the request: ${typeof data.error === 'string' ? data.error : `HTTP ${response.status}`}`, true)
    } else {
      const files = Array.isArray(data.files) ? data.files.filter((f) => f !== null && typeof f === 'object') : []
      const page = typeof data.total === 'number' ? { files, total: data.total } : pageLocally(files)
      // Past the end (files went away, or a smaller page size): back to the last page.
      if (page.files.length === 0 && state.offset > 0 && page.total > 0) {
        state.offset = Math.max(0, Math.floor((page.total - 1) / state.limit) * state.limit)
        void load()
        return
      }
      render(page.files, page.total)
    }
  } catch (err) {
    if (controller.signal.aborted) return
    showStatus(`Cannot reach the tracker (${err instanceof Error ? err.message : String(err)}); retrying.`, true)
  }
  if (mine === sequence) scheduleRefresh()
}

el.search.addEventListener('input', () => {
  clearTimeout(searchTimer)
  searchTimer = setTimeout(() => {
    state.q = el.search.value.trim()
    state.offset = 0
    void load()
  }, SEARCH_DEBOUNCE_MS)
})

el.pageSize.addEventListener('change', () => {
  state.limit = Number(el.pageSize.value)
  state.offset = 0
  void load()
})

for (const th of el.headers) {
  th.querySelector('button').addEventListener('click', () => {
    const key = th.dataset.sort
    if (state.sort === key) {
      state.order = state.order === 'asc' ? 'desc' : 'asc'
    } else {
      state.sort = key
      // Numbers and dates read best largest/newest first; names A to Z.
      state.order = key === 'name' ? 'asc' : 'desc'
    }
    state.offset = 0
    void load()
  })
}

el.prev.addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - state.limit)
  void load()
})

el.next.addEventListener('click', () => {
  state.offset += state.limit
  void load()
})

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(refreshTimer)
  } else {
    void load()
  }
})

state.limit = Number(el.pageSize.value)
const initialQuery = params.get('q')
if (initialQuery !== null) {
  el.search.value = initialQuery
  state.q = initialQuery.trim()
}
void load()
