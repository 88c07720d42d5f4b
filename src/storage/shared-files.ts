/**
 * Files this peer serves, by file hash, with positional reads. Opened once, read many times by chunk requests.
 */
import { open, type FileHandle } from 'node:fs/promises'

export interface SharedFile {
  fileHash: string
  path: string
  size: number
}

export class SharedFiles {
  readonly #files = new Map<string, SharedFile & { handle: Promise<FileHandle> | undefined }>()

  add (file: SharedFile): void {
    this.#files.set(file.fileHash, { ...file, handle: undefined })
  }

  get (fileHash: string): SharedFile | undefined {
    return this.#files.get(fileHash)
  }

  /** Read exactly `length` bytes at `offset` of the file into `target` at `targetOffset`. */
  async readInto (fileHash: string, offset: number, length: number, target: Uint8Array, targetOffset: number): Promise<void> {
    const entry = this.#files.get(fileHash)
    if (entry === undefined) throw new Error(`not shared: ${fileHash}`)
    entry.handle ??= open(entry.path, 'r')
    const handle = await entry.handle
    let done = 0
    while (done < length) {
      const { bytesRead } = await handle.read(target, targetOffset + done, length - done, offset + done)
      if (bytesRead === 0) throw new Error(`unexpected end of ${entry.path}`)
      done += bytesRead
    }
  }

  async close (): Promise<void> {
    const handles = [...this.#files.values()].map(f => f.handle).filter(h => h !== undefined)
    this.#files.clear()
    await Promise.allSettled(handles.map(async h => { await (await h).close() }))
  }
}
