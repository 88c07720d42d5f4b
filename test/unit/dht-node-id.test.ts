import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bep42NodeId, crc32c, isBep42Compliant, isLocalAddress } from '../../src/dht/node-id.js'

test('crc32c is Castagnoli (RFC 3720 check value)', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
})

// BEP 42 test vectors: IP, rand, the important bits of the example id (first 21 bits and the last byte).
const VECTORS: Array<[string, number, string]> = [
  ['124.31.75.21', 1, '5fbfbf'],
  ['21.75.31.124', 86, '5a3ce9'],
  ['65.23.51.170', 22, 'a5d432'],
  ['84.124.73.14', 65, '1b0321'],
  ['43.213.53.83', 90, 'e56f6c']
]

test('BEP 42 ids match the test vectors and check as compliant', () => {
  for (const [ip, rand, prefix] of VECTORS) {
    const id = bep42NodeId(ip, rand)
    assert.ok(id !== undefined)
    const want = Buffer.from(prefix, 'hex')
    assert.equal(id[0], want[0], ip)
    assert.equal(id[1], want[1], ip)
    assert.equal((id[2] as number) & 0xf8, (want[2] as number) & 0xf8, ip)
    assert.equal(id[19], rand, ip)
    assert.equal(isBep42Compliant(id, ip), true, ip)
    assert.equal(isBep42Compliant(id, '8.8.8.8'), false, `${ip} id on another address`)
  }
  const id = Buffer.from('5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401', 'hex')
  assert.equal(isBep42Compliant(id, '124.31.75.21'), true, 'the example id itself')
  const v6 = bep42NodeId('2001:db8:85a3::8a2e:370:7334')
  assert.ok(v6 !== undefined && isBep42Compliant(v6, '2001:db8:85a3::8a2e:370:7334'))
  assert.equal(bep42NodeId('not an ip'), undefined)
})

test('BEP 42 exempt addresses are the local ones', () => {
  for (const ip of ['127.0.0.1', '127.44.3.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.0.9', '::1', 'fe80::1', 'fd00::5']) {
    assert.equal(isLocalAddress(ip), true, ip)
  }
  for (const ip of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '2001:db8::1', 'nonsense']) assert.equal(isLocalAddress(ip), false, ip)
})
