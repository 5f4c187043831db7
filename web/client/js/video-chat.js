// Two-way video chat: one large remote video, your own small video in a corner.
(function () {
  'use strict';
  window.Huddle.startApp({ maxPeople: 2, duo: true });
})();
