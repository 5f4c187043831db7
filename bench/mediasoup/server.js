// Minimal signaling adapter that lets the Huddle load generator (bench/src/mediasoup.rs) drive
// mediasoup 3.8.4. mediasoup is a Node library without a protocol of its own; this file is the
// smallest WebSocket JSON front for it. The load generator writes the SDP itself.
//
//   node server.js <mediasoup package dir>
//   prints: "mediasoup ready ws=127.0.0.1:<port> worker_pid=<pid>"
//
// One worker (a C++ child process; bench.sh pins this process with taskset and the worker
// inherits the pinning), one router per room (created on first use), one WebRtcTransport per
// PeerConnection on 127.0.0.1 (ICE-lite, UDP only). Requests are {id, method, data}, replies
// {id, ok: true, data} or {id, ok: false, error}:
//   createTransport {room}                         -> {transportId, iceParameters, iceCandidates, dtlsParameters}
//   connect         {transportId, dtlsParameters}  -> {}
//   produce         {transportId, kind, rtpParameters} -> {producerId}
//   consume         {transportId, producerId}      -> {consumerId, kind, rtpParameters} (paused)
//   resume          {consumerId}                   -> {}
//   closeRoom       {room}                         -> {}
// Everything a WebSocket created is closed when that WebSocket closes.
'use strict';

const path = require('path');
const mediasoup = require(path.resolve(process.argv[2] || '.'));
const { WebSocketServer } = require('ws');

const ROUTER_CODECS = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
// Bandwidth estimation: Huddle runs send-side estimation (transport-cc) and paces to it for
// every player, and mediasoup-client in a browser keeps the router's transport-cc, so by
// default consumers keep it too (mediasoup then estimates each transport's bandwidth from the
// load generator's feedback and may send probation padding). MEDIASOUP_BWE=0 gives the older
// runs' setup: no transport-cc, no probation, no BWE; NACK, PLI and FIR stay. REMB never.
// bench/src/ms_sdp.rs reads the same variable for the load generator's side.
const BWE = process.env.MEDIASOUP_BWE !== '0';
const KEEP_FEEDBACK = (fb) => fb.type !== 'goog-remb' && (BWE || fb.type !== 'transport-cc');

async function main() {
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  worker.on('died', () => {
    console.error('mediasoup worker died');
    process.exit(1);
  });
  const routers = new Map(); // room -> Router
  const producers = new Map(); // producerId -> Producer (any room; ids are UUIDs)

  async function router(room) {
    if (!routers.has(room)) routers.set(room, worker.createRouter({ mediaCodecs: ROUTER_CODECS }));
    return routers.get(room);
  }

  function consumerCaps(r) {
    const caps = r.rtpCapabilities;
    return {
      codecs: caps.codecs.map((c) => ({ ...c, rtcpFeedback: (c.rtcpFeedback || []).filter(KEEP_FEEDBACK) })),
      headerExtensions: caps.headerExtensions.filter((h) => BWE || !h.uri.includes('transport-wide-cc')),
    };
  }

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => {
    const transports = new Map(); // transportId -> {transport, room}
    const consumers = new Map();

    const handlers = {
      async createTransport({ room }) {
        const r = await router(String(room));
        const t = await r.createWebRtcTransport({
          listenIps: [{ ip: '127.0.0.1' }],
          enableUdp: true,
          enableTcp: false,
        });
        transports.set(t.id, { transport: t, room: String(room) });
        return {
          transportId: t.id,
          iceParameters: t.iceParameters,
          iceCandidates: t.iceCandidates,
          dtlsParameters: t.dtlsParameters,
        };
      },
      async connect({ transportId, dtlsParameters }) {
        await transport(transportId).connect({ dtlsParameters });
        return {};
      },
      async produce({ transportId, kind, rtpParameters }) {
        const p = await transport(transportId).produce({ kind, rtpParameters });
        producers.set(p.id, p);
        p.observer.on('close', () => producers.delete(p.id));
        return { producerId: p.id };
      },
      async consume({ transportId, producerId }) {
        const entry = transports.get(transportId);
        if (!entry) throw new Error(`no transport ${transportId}`);
        const r = await router(entry.room);
        const c = await entry.transport.consume({ producerId, rtpCapabilities: consumerCaps(r), paused: true });
        consumers.set(c.id, c);
        return { consumerId: c.id, kind: c.kind, rtpParameters: c.rtpParameters };
      },
      async resume({ consumerId }) {
        const c = consumers.get(consumerId);
        if (!c) throw new Error(`no consumer ${consumerId}`);
        await c.resume();
        return {};
      },
      async closeRoom({ room }) {
        const r = routers.get(String(room));
        routers.delete(String(room));
        if (r) (await r).close();
        return {};
      },
    };
    function transport(id) {
      const e = transports.get(id);
      if (!e) throw new Error(`no transport ${id}`);
      return e.transport;
    }

    ws.on('message', async (raw) => {
      let req;
      try {
        req = JSON.parse(raw);
      } catch (e) {
        ws.send(JSON.stringify({ id: null, ok: false, error: 'bad JSON' }));
        return;
      }
      const h = handlers[req.method];
      try {
        if (!h) throw new Error(`unknown method ${req.method}`);
        ws.send(JSON.stringify({ id: req.id, ok: true, data: await h(req.data || {}) }));
      } catch (e) {
        ws.send(JSON.stringify({ id: req.id, ok: false, error: String(e.message || e) }));
      }
    });
    ws.on('close', () => {
      for (const { transport: t } of transports.values()) t.close();
      transports.clear();
    });
  });
  wss.on('listening', () => {
    const a = wss.address();
    console.log(`mediasoup ready ws=${a.address}:${a.port} worker_pid=${worker.pid} version=${mediasoup.version}`);
  });
  const stop = () => {
    worker.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
