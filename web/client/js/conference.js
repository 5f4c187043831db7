// Conference: any number of people (the server sets the limit), a tile per participant, Record option.
(function () {
  'use strict';
  window.Huddle.startApp({ maxPeople: null, duo: false });
})();
