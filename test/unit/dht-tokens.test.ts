import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TokenIssuer } from '../../src/dht/tokens.js'
import { DHT_TOKEN_BYTES, DHT_TOKEN_ROTATE_MS } from '../../src/dht/constants.js'

test('a token is good for the address it was given to, for 5 to 10 minutes', () => {
  const clock = { t: 0 }
  const tokens = new TokenIssuer({ now: () => clock.t })
  const token = tokens.issue('203.0.113.9')
  assert.equal(token.length, DHT_TOKEN_BYTES)
  assert.equal(tokens.check('203.0.113.9', token), true)
  assert.equal(tokens.check('203.0.113.10', token), false, 'another address cannot use it')
  assert.equal(tokens.check('2001:db8::1', token), false)
  clock.t += DHT_TOKEN_ROTATE_MS - 1
  assert.equal(tokens.check('203.0.113.9', token), true)
  clock.t += 1 // the secret rotates: still accepted under the previous one
  assert.equal(tokens.check('203.0.113.9', token), true)
  assert.notDeepEqual(tokens.issue('203.0.113.9'), token)
  clock.t += DHT_TOKEN_ROTATE_MS // ten minutes: gone
  assert.equal(tokens.check('203.0.113.9', token), false)
})

test('a long silence invalidates both secrets', () => {
  const clock = { t: 0 }
  const tokens = new TokenIssuer({ now: () => clock.t })
  const token = tokens.issue('10.0.0.1')
  clock.t += 3 * DHT_TOKEN_ROTATE_MS
  assert.equal(tokens.check('10.0.0.1', token), false)
})

test('tokens of the wrong length or content are refused without throwing', () => {
  const tokens = new TokenIssuer()
  const token = tokens.issue('10.0.0.1')
  assert.equal(tokens.check('10.0.0.1', token.subarray(0, 4)), false)
  assert.equal(tokens.check('10.0.0.1', Buffer.alloc(64)), false)
  assert.equal(tokens.check('10.0.0.1', Buffer.alloc(DHT_TOKEN_BYTES)), false)
  assert.equal(tokens.check('not an ip', Buffer.alloc(DHT_TOKEN_BYTES)), false)
})
