// Video chat + screen sharing: the two-way chat plus a Share button (second stream "screenShare").
(function () {
  'use strict';
  const Huddle = window.Huddle;
  const app = Huddle.startApp({ maxPeople: 2, duo: true });
  if (app) Huddle.ScreenShare(app, document.getElementById('shareBtn'), document.getElementById('sharePreview'));
})();
