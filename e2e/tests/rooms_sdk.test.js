'use strict';
// Issue 2 acceptance: two participants using the UNMODIFIED official Flashphoner Web SDK
// (RoomApi from @flashphoner/websdk 2.0.276) against the real huddle binary.
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const GREETING = 'Привет, 世界 👋 مرحبا';

describe('rooms with the official SDK', { timeout: 180000 }, () => {
  const suite = browserSuite('rooms');
  const { client } = suite;

  test('two participants: ESTABLISHED, STATE/JOINED, unicode chat both ways, LEFT', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('chat');
    const alice = await client('alice');
    const bob = await client('bob');

    assert.equal(await alice.connect(suite.server.wsUrl), 'ESTABLISHED');
    assert.equal(await bob.connect(suite.server.wsUrl), 'ESTABLISHED');

    // alice creates the room: nobody else is in it
    assert.deepEqual(await alice.join(room), []);
    // bob joins: his STATE lists alice; alice gets JOINED(bob)
    assert.deepEqual(await bob.join(room), ['alice']);
    await alice.waitEvent('JOINED', { login: 'bob' });
    assert.deepEqual(await alice.participants(), ['bob']);
    assert.deepEqual(await bob.participants(), ['alice']);

    // chat both ways, byte-exact
    await alice.sendMessage('bob', GREETING);
    const atBob = await bob.waitEvent('MESSAGE', { from: 'alice' });
    assert.equal(atBob.text, GREETING);
    await bob.sendMessage('alice', GREETING);
    const atAlice = await alice.waitEvent('MESSAGE', { from: 'bob' });
    assert.equal(atAlice.text, GREETING);
    // nobody got a message about themselves, and no send failed
    assert.equal((await alice.events('MESSAGE')).length, 1);
    assert.equal((await bob.events('MESSAGE')).length, 1);
    assert.deepEqual(await alice.events('SEND_FAILED'), []);
    assert.deepEqual(await bob.events('SEND_FAILED'), []);

    // bob leaves: the server accepts, alice sees LEFT(bob)
    assert.equal(await bob.leave(), 'ok');
    await alice.waitEvent('LEFT', { login: 'bob' });
    assert.deepEqual(await alice.participants(), []);
    // leaving does not close bob's session
    assert.equal(await bob.eval(() => window.H.status()), 'ESTABLISHED');

    for (const c of [alice, bob]) {
      assert.deepEqual(await c.events('PAGE_ERROR'), [], `${c.name} page errors`);
      assert.deepEqual(await c.events('JOIN_FAILED'), [], `${c.name} join failures`);
    }
  });

  test('a third participant gets a STATE listing both others', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('three');
    const [a, b, c] = [await client('ann'), await client('ben'), await client('cat')];
    for (const x of [a, b, c]) assert.equal(await x.connect(suite.server.wsUrl), 'ESTABLISHED');
    assert.deepEqual(await a.join(room), []);
    assert.deepEqual(await b.join(room), ['ann']);
    assert.deepEqual((await c.join(room)).sort(), ['ann', 'ben']);
    await a.waitEvent('JOINED', { login: 'cat' });
    await b.waitEvent('JOINED', { login: 'cat' });
    assert.deepEqual((await a.participants()).sort(), ['ben', 'cat']);
    // a message is point-to-point: only its recipient gets it
    await c.sendMessage('ann', 'just for ann');
    await a.waitEvent('MESSAGE', { from: 'cat', text: 'just for ann' });
    await h.sleep(500);
    assert.deepEqual(await b.events('MESSAGE'), []);
  });

  test('closing a page: the others see LEFT after the grace period', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('gone');
    const stay = await suite.joined('stay', room);
    const gone = await suite.joined('gone', room);
    await stay.waitEvent('JOINED', { login: 'gone' });
    const closedAt = Date.now();
    await suite.closeClient(gone);
    const left = await stay.waitEvent('LEFT', { login: 'gone' }, 15000);
    // grace is 2 s: LEFT must not come long before it ends (allow 0.5 s of clock slack)
    assert.ok(left.t - closedAt >= 1500, `LEFT came ${left.t - closedAt} ms after close`);
    assert.deepEqual(await stay.participants(), []);
  });
});
