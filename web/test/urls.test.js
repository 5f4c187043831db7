// core/urls.js: the WebSocket address and the https address from the page location; screen streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isScreenStream, secureUrl, wsUrl } from '../client/js/core/urls.js';

const loc = (href) => new URL(href);

test('the WebSocket goes to the page\'s own host and port, wss on https pages', () => {
  assert.equal(wsUrl(loc('http://127.0.0.1:8080/client/conference.html')), 'ws://127.0.0.1:8080');
  assert.equal(wsUrl(loc('https://meet.example/client/conference.html?room=x')), 'wss://meet.example');
  assert.equal(wsUrl(loc('https://[::1]:9443/x')), 'wss://[::1]:9443');
});

test('the https address: 8080 pairs with 8443, other ports go to the default https port; path and query kept', () => {
  assert.equal(secureUrl(loc('http://10.0.0.5:8080/client/video-chat.html?room=a%20b#x')), 'https://10.0.0.5:8443/client/video-chat.html?room=a%20b');
  assert.equal(secureUrl(loc('http://meet.example/client/conference.html')), 'https://meet.example/client/conference.html');
  assert.equal(secureUrl(loc('http://meet.example:3000/a')), 'https://meet.example/a');
});

test('screen streams end in -screenShare', () => {
  assert.equal(isScreenStream('room-alice-0a1b-screenShare'), true);
  assert.equal(isScreenStream('room-alice-0a1b'), false);
  assert.equal(isScreenStream('screenShare-room-alice'), false);
  assert.equal(isScreenStream('room-alice-0a1b-screenshare'), false);
});
