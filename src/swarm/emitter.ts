/**
 * A typed event emitter: one stream of events that any number of listeners follow (the CLI's progress, a node's API,
 * a web UI), each `on()` returning its own `off`. Listeners run synchronously in the order they were added, as
 * Node's EventEmitter does; one that throws is a bug in that listener and propagates to the emitter's caller.
 */
export type EventMap = Record<string, unknown[]>

/** Stored untyped; `on()` and `emit()` keep each event's arguments typed. */
type Listener = (...args: unknown[]) => void

export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener>>()

  /** Follow `event`; the function returned stops following it. */
  on<K extends keyof E> (event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as unknown as Listener)
    return () => { this.off(event, listener) }
  }

  off<K extends keyof E> (event: K, listener: (...args: E[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as unknown as Listener)
  }

  /** Is anyone following `event`? (So that an event costly to build is not built for nobody.) */
  has<K extends keyof E> (event: K): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0
  }

  emit<K extends keyof E> (event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of [...set]) listener(...args)
  }
}
