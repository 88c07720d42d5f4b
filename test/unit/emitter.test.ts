import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TypedEmitter } from '../../src/swarm/index.js'

test('a typed emitter delivers each event to every listener in order, and each off() removes only its own', () => {
  const e = new TypedEmitter<{ piece: [index: number], done: [] }>()
  const seen: string[] = []
  const offA = e.on('piece', (i) => { seen.push(`a${i}`) })
  e.on('piece', (i) => { seen.push(`b${i}`) })
  e.on('done', () => { seen.push('done') })
  e.emit('piece', 1)
  offA()
  e.emit('piece', 2)
  e.emit('done')
  assert.deepEqual(seen, ['a1', 'b1', 'b2', 'done'])
})

test('a listener that removes itself while the event is delivered does not stop the others from getting it', () => {
  const e = new TypedEmitter<{ tick: [] }>()
  const seen: string[] = []
  const off = e.on('tick', () => { seen.push('first'); off() })
  e.on('tick', () => { seen.push('second') })
  e.emit('tick')
  e.emit('tick')
  assert.deepEqual(seen, ['first', 'second', 'second'])
})
