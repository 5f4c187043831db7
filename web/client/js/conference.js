// Conference: any number of people (the server sets the limit), a tile per participant, Record option.
import { startApp } from './app.js';

startApp({ maxPeople: null, duo: false });
